"""Engine.IO v4 packets and polling payloads, without I/O.

Engine.IO is the framing under Socket.IO: every WebSocket frame or polling
record is one packet whose first character is its type. Binary message
packets travel as raw WebSocket binary frames, or as ``b`` + base64 inside a
polling payload, whose records are separated by U+001E (record separator).

Everything here is pure: strings and bytes in, `Packet` objects out.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass
from typing import Any

from server.protocol.errors import LocalProtocolError, PayloadTooLarge, RemoteProtocolError

RECORD_SEPARATOR = "\x1e"


class PacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR = {str(int(t)): t for t in PacketType}


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet. `data` is str for text, bytes for binary (MESSAGE only)."""

    type: PacketType
    data: str | bytes = ""

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


def encode_packet(packet: Packet) -> str | bytes:
    """The WebSocket form: a text frame ``<type><data>`` or a raw binary frame."""
    if isinstance(packet.data, bytes):
        if packet.type is not PacketType.MESSAGE:
            raise LocalProtocolError("only MESSAGE packets can carry binary data")
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def encode_text(packet: Packet) -> str:
    """The WebSocket/polling text of a packet that carries no binary data."""
    if isinstance(packet.data, bytes):
        raise LocalProtocolError(f"a {packet.type.name} packet with binary data has no text form")
    return f"{int(packet.type)}{packet.data}"


def encode_message(data: str | bytes) -> str | bytes:
    """A MESSAGE packet in its WebSocket form, straight from its payload.

    The hot path's shortcut (a broadcast is encoded once): the same result as
    `encode_packet(Packet(PacketType.MESSAGE, data))` without the object.
    """
    if isinstance(data, str):
        return "4" + data
    return data


def decode_packet(frame: str | bytes) -> Packet:
    """Parse one WebSocket frame (text or binary) into a packet."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(frame))
    if not isinstance(frame, str):
        raise RemoteProtocolError(f"expected str or bytes, got {type(frame).__name__}")
    if not frame:
        raise RemoteProtocolError("empty Engine.IO packet")
    ptype = _TYPE_BY_CHAR.get(frame[0])
    if ptype is None:
        raise RemoteProtocolError(f"unknown Engine.IO packet type {frame[0]!r}")
    return Packet(ptype, frame[1:])


def encode_payload(packets: list[Packet]) -> str:
    """The long-polling form: records joined by U+001E, binary as ``b<base64>``."""
    records = []
    for packet in packets:
        if isinstance(packet.data, bytes):
            records.append("b" + base64.b64encode(packet.data).decode("ascii"))
        else:
            records.append(f"{int(packet.type)}{packet.data}")
    return RECORD_SEPARATOR.join(records)


def join_payload(encoded: list[str | bytes]) -> str:
    """The long-polling form of packets already in their WebSocket form (`encode_packet`):
    the server queues encoded packets once and a poll joins whatever is queued."""
    return RECORD_SEPARATOR.join(
        "b" + base64.b64encode(item).decode("ascii") if isinstance(item, bytes) else item
        for item in encoded
    )


def decode_payload(payload: str | bytes, max_payload: int | None = None) -> list[Packet]:
    """Parse a polling request body into packets (POST bodies are UTF-8 text)."""
    if isinstance(payload, bytes | bytearray):
        if max_payload is not None and len(payload) > max_payload:
            raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds {max_payload}")
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"polling payload is not UTF-8: {exc}") from None
    if not isinstance(payload, str):
        raise RemoteProtocolError(f"expected str or bytes, got {type(payload).__name__}")
    if max_payload is not None and len(payload) > max_payload:
        raise PayloadTooLarge(f"payload of {len(payload)} characters exceeds {max_payload}")
    if not payload:
        raise RemoteProtocolError("empty polling payload")
    packets = []
    for record in payload.split(RECORD_SEPARATOR):
        if record.startswith("b"):
            try:
                data = base64.b64decode(record[1:], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise RemoteProtocolError(f"bad base64 in binary record: {exc}") from None
            packets.append(Packet(PacketType.MESSAGE, data))
        else:
            packets.append(decode_packet(record))
    return packets


PROTOCOL_VERSION = "4"


def request_target(path: str, transport: str, sid: str | None = None) -> str:
    """The path and query of a client's Engine.IO request (`/socket.io/?EIO=4&transport=...`)."""
    base = path if path.endswith("/") else path + "/"
    target = f"{base}?EIO={PROTOCOL_VERSION}&transport={transport}"
    return target if sid is None else f"{target}&sid={sid}"


class HttpError(enum.IntEnum):
    """The `code` of engine.io's JSON error answers (`{"code": n, "message": ...}`)."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        return _HTTP_ERROR_MESSAGES[self]

    @property
    def status(self) -> int:
        return 403 if self is HttpError.FORBIDDEN else 400


_HTTP_ERROR_MESSAGES = {
    HttpError.UNKNOWN_TRANSPORT: "Transport unknown",
    HttpError.UNKNOWN_SID: "Session ID unknown",
    HttpError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    HttpError.BAD_REQUEST: "Bad request",
    HttpError.FORBIDDEN: "Forbidden",
    HttpError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


@dataclass(frozen=True, slots=True)
class Handshake:
    """The body of the server's OPEN packet: the session's id and its heartbeat contract."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int

    def packet(self) -> Packet:
        body = {
            "sid": self.sid,
            "upgrades": list(self.upgrades),
            "pingInterval": self.ping_interval_ms,
            "pingTimeout": self.ping_timeout_ms,
            "maxPayload": self.max_payload,
        }
        return Packet(PacketType.OPEN, json.dumps(body, separators=(",", ":")))

    @classmethod
    def parse(cls, data: str | bytes) -> Handshake:
        """Read an OPEN packet's data; a server that sends something else is refused."""
        if not isinstance(data, str):
            raise RemoteProtocolError("the OPEN packet must be text")
        try:
            body: Any = json.loads(data)
        except ValueError as exc:
            raise RemoteProtocolError(f"bad JSON in the OPEN packet: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("sid"), str) or not body["sid"]:
            raise RemoteProtocolError("the OPEN packet has no sid")
        upgrades = body.get("upgrades", [])
        if not isinstance(upgrades, list) or not all(isinstance(u, str) for u in upgrades):
            raise RemoteProtocolError("the OPEN packet's upgrades must be a list of names")
        numbers = {}
        for key, default in (
            ("pingInterval", 25000),
            ("pingTimeout", 20000),
            ("maxPayload", 1_000_000),
        ):
            value = body.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise RemoteProtocolError(f"the OPEN packet's {key} must be a non-negative integer")
            numbers[key] = value
        return cls(
            body["sid"],
            tuple(upgrades),
            numbers["pingInterval"],
            numbers["pingTimeout"],
            numbers["maxPayload"],
        )
