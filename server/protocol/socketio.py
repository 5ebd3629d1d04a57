"""Socket.IO v5 packets, without I/O.

A Socket.IO packet rides inside one Engine.IO MESSAGE packet as text::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]

Binary payloads (BINARY_EVENT / BINARY_ACK) replace every `bytes` value in
the data by ``{"_placeholder": true, "num": n}`` and send the bytes as the
next n Engine.IO binary messages, which is why decoding is a small state
machine (`SioDecoder`) rather than a function.

The server's hot path only needs `encode_event_text` (one broadcast encoded
once, whatever the number of recipients); everything else is for receiving
and for the client.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server.protocol.errors import LocalProtocolError, RemoteProtocolError

DEFAULT_NAMESPACE = "/"
MAX_ACK_ID_DIGITS = 15
MAX_ATTACHMENTS = 64

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


class SioType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_BINARY_TYPES = (SioType.BINARY_EVENT, SioType.BINARY_ACK)
_TYPE_BY_CHAR = {str(int(t)): t for t in SioType}
# bound once: reading an Enum member off its class is slow on Python 3.11 (per packet here)
_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR, _BINARY_EVENT, _BINARY_ACK = SioType


@dataclass(frozen=True, slots=True)
class SioPacket:
    """One Socket.IO packet; `data` may contain `bytes` anywhere (then it is sent as binary).

    `data is None` means "no data" (a CONNECT without auth, a DISCONNECT).
    """

    type: SioType
    namespace: str = DEFAULT_NAMESPACE
    data: Any = None
    id: int | None = None

    @property
    def event(self) -> str:
        """The event name of an EVENT packet."""
        name: str = self.data[0]
        return name

    @property
    def args(self) -> list[Any]:
        rest: list[Any] = self.data[1:]
        return rest


# --------------------------------------------------------------------- encode


def dumps(value: Any) -> str:
    """Compact JSON as Socket.IO sends it (no spaces, UTF-8 kept, no NaN)."""
    try:
        return _compact(value)
    except (TypeError, ValueError) as exc:
        raise LocalProtocolError(f"data is not JSON-serializable: {exc}") from None


def _namespace_prefix(namespace: str) -> str:
    if namespace == DEFAULT_NAMESPACE:
        return ""
    if not namespace.startswith("/") or "," in namespace:
        raise LocalProtocolError(f"bad namespace {namespace!r}")
    return namespace + ","


def encode_event_text(
    namespace: str, event: str, args: tuple[Any, ...] | list[Any], ack_id: int | None = None
) -> str:
    """The text of a (non-binary) EVENT packet: the server's per-broadcast encoding."""
    ack = "" if ack_id is None else str(ack_id)
    return f"2{_namespace_prefix(namespace)}{ack}{dumps([event, *args])}"


def encode_event_text_json(
    namespace: str, event: str, args_json: str, ack_id: int | None = None
) -> str:
    """Like `encode_event_text`, with the arguments already JSON (comma-separated, no
    brackets): for a sender that encoded its payload anyway (to store it)."""
    ack = "" if ack_id is None else str(ack_id)
    return f"2{_namespace_prefix(namespace)}{ack}[{dumps(event)},{args_json}]"


def encode(packet: SioPacket) -> list[str | bytes]:
    """Text part first, then the binary attachments in order."""
    attachments: list[bytes] = []
    data = packet.data
    ptype = packet.type
    if data is not None and ptype in (SioType.EVENT, SioType.ACK, *_BINARY_TYPES):
        data = _deconstruct(data, attachments)
        if attachments:
            is_event = ptype in (SioType.EVENT, SioType.BINARY_EVENT)
            ptype = SioType.BINARY_EVENT if is_event else SioType.BINARY_ACK
        elif ptype in _BINARY_TYPES:
            ptype = SioType.EVENT if ptype is SioType.BINARY_EVENT else SioType.ACK
    if ptype in (SioType.EVENT, SioType.BINARY_EVENT) and not (
        isinstance(data, list) and data and isinstance(data[0], str)
    ):
        raise LocalProtocolError("an EVENT needs a list whose first item is the event name")
    if ptype in (SioType.ACK, SioType.BINARY_ACK) and (
        packet.id is None or not isinstance(data, list)
    ):
        raise LocalProtocolError("an ACK needs an id and a list of arguments")
    head = str(int(ptype))
    if attachments:
        head += f"{len(attachments)}-"
    head += _namespace_prefix(packet.namespace)
    if packet.id is not None:
        if packet.id < 0:
            raise LocalProtocolError("ack ids are non-negative")
        head += str(packet.id)
    if data is not None:
        head += dumps(data)
    return [head, *attachments]


def _deconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [_deconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _deconstruct(v, attachments) for k, v in value.items()}
    return value


# --------------------------------------------------------------------- decode


def _reject_constant(name: str) -> Any:
    raise RemoteProtocolError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """1e999 parses as inf, which no JSON encoder will send on: refuse it at the door."""
    value = float(text)
    if value in (math.inf, -math.inf):
        raise RemoteProtocolError(f"number {text[:40]} is out of range")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub(value: Any) -> Any:
    """Replace lone surrogates (JSON allows "\\ud800") by U+FFFD: they cannot be UTF-8
    encoded, so relaying them as they are would break every recipient's frame."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


def loads(text: str, start: int = 0) -> Any:
    """JSON as a Socket.IO peer may send it: NaN refused, lone surrogates replaced, only
    `RemoteProtocolError` raised. `start`: the JSON begins there (no slice is copied:
    receivers on a fast path decode straight from the packet text)."""
    return _loads(text, start)


def _sane_int(text: str) -> int:
    """Integers of hundreds of digits cannot be encoded back (Python's int/str limit): refuse."""
    if len(text) > 300:
        raise RemoteProtocolError("integer too long")
    return int(text)


# Only a number with a 3-digit exponent can overflow to inf, and only a long digit run
# can be an over-long integer: ordinary traffic skips the per-number Python hooks.
_RISKY_NUMBER = re.compile(r"\d[eE][+-]?\d{3}|\d{301}")


# Built once: json.loads(text, **hooks) would construct a decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_CHECKING_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_sane_int
)


def _loads(text: str, start: int = 0) -> Any:
    try:
        decoder = _CHECKING_DECODER if _RISKY_NUMBER.search(text, start) else _DECODER
        if start:
            value, end = decoder.raw_decode(text, start)
            if end != len(text) and text[end:].strip():
                raise ValueError(f"extra data at {end}")
        else:
            value = decoder.decode(text)
        # only an escaped surrogate can produce one: skip the walk for ordinary traffic
        if "\\ud" in text or "\\uD" in text:
            value = _scrub(value)
        return value
    except RecursionError:
        raise RemoteProtocolError("JSON nested too deeply") from None
    except ValueError as exc:
        if isinstance(exc, RemoteProtocolError):
            raise
        raise RemoteProtocolError(f"bad JSON in Socket.IO packet: {exc}") from None


class _Header(NamedTuple):
    """A parsed packet head (internal, one per received packet: a tuple is the cheapest
    immutable record to build)."""

    type: SioType
    attachments: int
    namespace: str
    id: int | None
    data: Any


def _parse_text(text: str) -> _Header:
    if not isinstance(text, str):
        raise RemoteProtocolError(f"Socket.IO packet must be text, got {type(text).__name__}")
    ptype = _TYPE_BY_CHAR.get(text[:1])
    if ptype is None:
        raise RemoteProtocolError(f"bad Socket.IO packet type in {text[:16]!r}")
    i = 1
    n = len(text)
    attachments = 0
    if ptype in _BINARY_TYPES:
        dash = text.find("-", i)
        digits = text[i:dash] if dash != -1 else ""
        if not digits.isascii() or not digits.isdigit() or len(digits) > 4:
            raise RemoteProtocolError("binary packet without a valid attachment count")
        attachments = int(digits)
        if attachments > MAX_ATTACHMENTS:
            raise RemoteProtocolError(f"{attachments} attachments exceed {MAX_ATTACHMENTS}")
        i = dash + 1
    namespace = DEFAULT_NAMESPACE
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = comma if comma != -1 else n
        namespace = text[i:end]
        i = end + 1 if comma != -1 else n
    start = i
    while i < n and "0" <= text[i] <= "9":
        i += 1
    ack_id = None
    if i > start:
        if i - start > MAX_ACK_ID_DIGITS:
            raise RemoteProtocolError("ack id too long")
        ack_id = int(text[start:i])
    data = _loads(text[i:]) if i < n else None
    return _Header(ptype, attachments, namespace, ack_id, data)


def _validate(h: _Header) -> None:
    t, data = h.type, h.data
    if t is _CONNECT:
        if data is not None and not isinstance(data, dict):
            raise RemoteProtocolError("CONNECT data must be an object")
    elif t is _DISCONNECT:
        if data is not None:
            raise RemoteProtocolError("DISCONNECT carries no data")
    elif t in (_EVENT, _BINARY_EVENT):
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise RemoteProtocolError("EVENT data must be a list starting with the event name")
    elif t in (_ACK, _BINARY_ACK):
        if h.id is None:
            raise RemoteProtocolError("ACK without an ack id")
        if not isinstance(data, list):
            raise RemoteProtocolError("ACK data must be a list")
    elif t is _CONNECT_ERROR and not isinstance(data, dict | str):
        raise RemoteProtocolError("CONNECT_ERROR data must be an object or a string")


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, list):
        return [_reconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True and "num" in value:
            num = value["num"]
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(attachments):
                raise RemoteProtocolError(f"placeholder refers to missing attachment {num!r}")
            return attachments[num]
        return {k: _reconstruct(v, attachments) for k, v in value.items()}
    return value


def decode_text(text: str) -> SioPacket:
    """Decode a packet that has no binary attachments (the common case)."""
    h = _parse_text(text)
    if h.attachments:
        raise RemoteProtocolError("packet announces attachments; use SioDecoder")
    _validate(h)
    return SioPacket(h.type, h.namespace, h.data, h.id)


@dataclass(slots=True)
class SioDecoder:
    """Reassembles packets across Engine.IO messages (binary attachments follow their header).

    Feed every Engine.IO MESSAGE in order; a complete packet comes back, or
    None while attachments are still expected.
    """

    _pending: _Header | None = None
    _buffers: list[bytes] = field(default_factory=list)

    @property
    def expecting_binary(self) -> bool:
        return self._pending is not None

    def feed(self, message: str | bytes) -> SioPacket | None:
        if isinstance(message, bytes | bytearray | memoryview):
            return self._feed_binary(bytes(message))
        if self._pending is not None:
            raise RemoteProtocolError("text packet received while binary attachments were due")
        h = _parse_text(message)
        _validate(h)
        if h.type in _BINARY_TYPES and h.attachments:
            self._pending = h
            self._buffers = []
            return None
        return SioPacket(_plain(h.type), h.namespace, h.data, h.id)

    def _feed_binary(self, data: bytes) -> SioPacket | None:
        h = self._pending
        if h is None:
            raise RemoteProtocolError("binary message received with no binary packet pending")
        self._buffers.append(data)
        if len(self._buffers) < h.attachments:
            return None
        buffers, self._pending, self._buffers = self._buffers, None, []
        return SioPacket(_plain(h.type), h.namespace, _reconstruct(h.data, buffers), h.id)


def _plain(ptype: SioType) -> SioType:
    """BINARY_EVENT/ACK are delivered as EVENT/ACK: the bytes are back in place."""
    if ptype is _BINARY_EVENT:
        return _EVENT
    if ptype is _BINARY_ACK:
        return _ACK
    return ptype
