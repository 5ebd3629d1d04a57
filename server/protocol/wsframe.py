"""Server-to-client WebSocket frames, encoded by hand for the broadcast hot path.

wsproto parses what clients send (masked, fragmented, control frames) and
builds control replies; but building a data frame through wsproto costs a
Python-level event object, a state check and a copy per recipient. A server
frame is never masked, so its bytes depend only on the payload: a broadcast
is framed once and the same `bytes` object is queued to every recipient.
We never negotiate extensions (no permessage-deflate), so RSV bits stay 0.
"""

from __future__ import annotations

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
