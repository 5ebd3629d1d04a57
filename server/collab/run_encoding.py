"""A compact binary encoding of a `RunSequence` (fugue and rga documents).

Why not the JSON snapshot state: JSON spells every run as a list of ids
and the text as escaped strings; on the automerge-paper trace that was
712 KB where Loro's binary snapshot is 229 KB. Here a run costs a flags
byte and a few LEB128 varints, the two origins are usually implied by the
neighbouring runs (flags), deleted runs keep only their length, and all
visible text is stored once, as UTF-8, after the runs.

Layout (varint = unsigned LEB128)::

    b"RSQ\\x01"
    varint replicas, then per replica: varint byte length, UTF-8 name
    varint runs, then per run (document order):
        flags byte   DELETED | LEFT_NONE | LEFT_PREVIOUS | RIGHT_NONE | RIGHT_NEXT | SEQ_IS_START
        varint replica index, varint start counter, varint length (code points)
        [varint replica, varint counter]   left origin, unless implied by a flag
        [varint replica, varint counter]   right origin, unless implied by a flag
        [varint seq]                       unless SEQ_IS_START (always, for fugue)
    varint byte length, UTF-8 of the visible text (runs slice it by their lengths)

`LEFT_PREVIOUS`: the left origin is the last element of the run before this
one (typing on after something); `RIGHT_NEXT`: the right origin is the first
element of the run after this one.
"""

from __future__ import annotations

from typing import Any, Final

from server.collab.base import CollabError
from server.collab.run_sequence import MASK, SHIFT, RunSequence

MAGIC: Final = b"RSQ\x01"

DELETED: Final = 1
LEFT_NONE: Final = 2
LEFT_PREVIOUS: Final = 4
RIGHT_NONE: Final = 8
RIGHT_NEXT: Final = 16
SEQ_IS_START: Final = 32


def encode_runs(core: RunSequence) -> bytes:
    out = bytearray(MAGIC)
    put = _writer(out)
    put(len(core.names))
    for name in core.names:
        raw = name.encode()
        put(len(raw))
        out += raw
    runs = [span for chunk in core.chunks for span in chunk.spans]
    put(len(runs))
    texts: list[str] = []
    previous_last: int | None = None
    count = len(runs)
    for index, span in enumerate(runs):
        flags = 0
        left, right = span.left, span.right
        if span.text is None:
            flags |= DELETED
        else:
            texts.append(span.text)
        if left is None:
            flags |= LEFT_NONE
        elif left == previous_last:
            flags |= LEFT_PREVIOUS
        if right is None:
            flags |= RIGHT_NONE
        elif index + 1 < count:
            following = runs[index + 1]
            if right == (following.rid << SHIFT) | following.start:
                flags |= RIGHT_NEXT
        if span.seq == span.start:
            flags |= SEQ_IS_START
        out.append(flags)
        put(span.rid)
        put(span.start)
        put(span.length)
        if not flags & (LEFT_NONE | LEFT_PREVIOUS):
            put(left >> SHIFT)  # type: ignore[operator]
            put(left & MASK)  # type: ignore[operator]
        if not flags & (RIGHT_NONE | RIGHT_NEXT):
            put(right >> SHIFT)  # type: ignore[operator]
            put(right & MASK)  # type: ignore[operator]
        if not flags & SEQ_IS_START:
            put(span.seq)
        previous_last = (span.rid << SHIFT) | (span.start + span.length - 1)
    text = "".join(texts).encode()
    put(len(text))
    out += text
    return bytes(out)


def decode_runs(data: bytes) -> RunSequence:
    """Rebuild the sequence; CollabError on anything malformed or inconsistent."""
    if not data.startswith(MAGIC):
        raise CollabError("bad_request", "not an encoded run sequence")
    try:
        reader = _Reader(data, len(MAGIC))
        names = []
        for _ in range(reader.varint()):
            names.append(reader.bytes(reader.varint()).decode())
        headers: list[list[Any]] = []
        for _ in range(reader.varint()):
            flags = reader.byte()
            rid, start, length = reader.varint(), reader.varint(), reader.varint()
            left = (
                None if flags & (LEFT_NONE | LEFT_PREVIOUS) else [reader.varint(), reader.varint()]
            )
            right = (
                None if flags & (RIGHT_NONE | RIGHT_NEXT) else [reader.varint(), reader.varint()]
            )
            seq = start if flags & SEQ_IS_START else reader.varint()
            headers.append([flags, rid, start, length, left, right, seq])
        text = reader.bytes(reader.varint()).decode()
    except (IndexError, UnicodeDecodeError) as exc:
        raise CollabError("bad_request", f"truncated run sequence: {exc}") from None
    runs: list[list[Any]] = []
    cursor = 0
    for index, (flags, rid, start, length, left, right, seq) in enumerate(headers):
        if flags & LEFT_PREVIOUS:
            if not index:
                raise CollabError("bad_request", "first run cannot continue a previous one")
            _, p_rid, p_start, p_length, *_ = headers[index - 1]
            left = [p_rid, p_start + p_length - 1]
        if flags & RIGHT_NEXT:
            if index + 1 >= len(headers):
                raise CollabError("bad_request", "last run cannot point to a next one")
            right = [headers[index + 1][1], headers[index + 1][2]]
        if flags & DELETED:
            body: Any = length
        else:
            body = text[cursor : cursor + length]
            cursor += length
        runs.append([rid, start, body, left, right, seq])
    if cursor != len(text):
        raise CollabError("bad_request", "run lengths do not match the stored text")
    return RunSequence.decode_state({"replicas": names, "runs": runs})


def _writer(out: bytearray) -> Any:
    append = out.append

    def put(value: int) -> None:
        while value > 0x7F:
            append((value & 0x7F) | 0x80)
            value >>= 7
        append(value)

    return put


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def bytes(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise IndexError("past the end")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def varint(self) -> int:
        data, pos = self.data, self.pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos
                return value
            shift += 7
