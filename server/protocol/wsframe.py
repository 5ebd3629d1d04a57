"""Server-to-client WebSocket frames, encoded by hand for the broadcast hot path.

wsproto parses what clients send (masked, fragmented, control frames) and
builds control replies; but building a data frame through wsproto costs a
Python-level event object, a state check and a copy per recipient. A server
frame is never masked, so its bytes depend only on the payload: a broadcast
is framed once and the same `bytes` object is queued to every recipient.
We never negotiate extensions (no permessage-deflate), so RSV bits stay 0.
"""

from __future__ import annotations

from server.protocol.errors import PayloadTooLarge, RemoteProtocolError

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2


def frame_header(opcode: int, length: int) -> bytes:
    """FIN + opcode, then the 7/16/64-bit payload length (unmasked)."""
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


def encode_frame(payload: str | bytes) -> bytes:
    """One final data frame: text for str, binary for bytes."""
    if isinstance(payload, str):
        data = payload.encode("utf-8")
        return frame_header(OPCODE_TEXT, len(data)) + data
    return frame_header(OPCODE_BINARY, len(payload)) + payload


OPCODE_CONTINUATION = 0x0
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA
_CONTROL = (OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR with a 4-byte mask, as one big-integer operation instead of a Python loop."""
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_client_frame(payload: str | bytes, mask: bytes, opcode: int | None = None) -> bytes:
    """A masked frame, as clients must send (RFC 6455 §5.3)."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    if opcode is None:
        opcode = OPCODE_TEXT if isinstance(payload, str) else OPCODE_BINARY
    header = bytearray(frame_header(opcode, len(data)))
    header[1] |= 0x80
    return bytes(header) + mask + apply_mask(data, mask)


class FrameReader:
    """Incremental WebSocket frame parser for one direction of a connection.

    Why not wsproto here: for a load generator, every broadcast arrives as a
    frame, and wsproto's per-frame event objects and state checks cost more
    than the rest of the client's receive path. This reader only splits
    frames, reassembles fragmented messages, unmasks if the peer masks, and
    validates what RFC 6455 requires; the caller answers pings and closes.

    `feed(data)` returns a list of `(opcode, payload)`: TEXT with `str`,
    BINARY/PING/PONG with `bytes`, CLOSE with `(code, reason)`. When bad
    input follows good frames in the same data, the good frames are returned
    and the error is kept in `error`: callers handle the frames, then check
    `error` (the peer's messages before the violation still count).
    """

    def __init__(self, *, masked: bool, max_message: int = 1 << 26) -> None:
        self.masked = masked
        self.max_message = max_message
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_size = 0
        self.error: RemoteProtocolError | None = None

    def feed(self, data: bytes) -> list[tuple[int, object]]:
        if self.error is not None:
            raise self.error
        out: list[tuple[int, object]] = []
        try:
            self._parse(data, out)
        except RemoteProtocolError as exc:
            self.error = exc
            if not out:
                raise
        return out

    def _parse(self, data: bytes, out: list[tuple[int, object]]) -> None:
        buf = self._buffer
        buf += data
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 & 0x70:
                raise RemoteProtocolError("reserved bits set (no extension was negotiated)")
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            if bool(b1 & 0x80) != self.masked:
                raise RemoteProtocolError("frame masking does not match the direction")
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if length > self.max_message:
                raise PayloadTooLarge(f"frame of {length} bytes")
            if self.masked:
                head += 4
            if end - pos < head + length:
                break
            start = pos + head
            payload = bytes(buf[start : start + length])
            if self.masked:
                payload = apply_mask(payload, bytes(buf[start - 4 : start]))
            pos = start + length
            out.extend(self._frame(fin, opcode, payload))
            del buf[:pos]
            end -= pos
            pos = 0

    def _frame(self, fin: int, opcode: int, payload: bytes) -> list[tuple[int, object]]:
        if opcode in _CONTROL:
            if not fin or len(payload) > 125:
                raise RemoteProtocolError("control frames are short and never fragmented")
            if opcode == OPCODE_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                return [(opcode, (code, _utf8(payload[2:])))]
            return [(opcode, payload)]
        if opcode == OPCODE_CONTINUATION:
            if self._fragment_opcode is None:
                raise RemoteProtocolError("continuation frame without a message to continue")
        elif opcode in (OPCODE_TEXT, OPCODE_BINARY):
            if self._fragment_opcode is not None:
                raise RemoteProtocolError("new message before the previous one finished")
            if fin:
                return [(opcode, _utf8(payload) if opcode == OPCODE_TEXT else payload)]
            self._fragment_opcode = opcode
        else:
            raise RemoteProtocolError(f"unknown opcode {opcode:#x}")
        self._fragments.append(payload)
        self._fragment_size += len(payload)
        if self._fragment_size > self.max_message:
            raise PayloadTooLarge(f"message exceeds {self.max_message} bytes")
        if not fin:
            return []
        whole = b"".join(self._fragments)
        kind = self._fragment_opcode
        self._fragments, self._fragment_opcode, self._fragment_size = [], None, 0
        return [(kind, _utf8(whole) if kind == OPCODE_TEXT else whole)]


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"text frame is not UTF-8: {exc}") from None
