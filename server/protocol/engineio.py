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
from dataclasses import dataclass

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
