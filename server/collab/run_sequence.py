"""Run-length encoded, chunked element list shared by the Fugue and RGA CRDTs.

Why this shape: a sequence CRDT keeps one element per character ever typed
(tombstones included), and a naive Python list of elements costs O(document)
per edit. Here the elements are stored as *runs* (`Span`): consecutive ids of
one replica where each element's left origin is the element before it, so a
typed word is one object, not one per character. Runs live in a list of small
chunks (sqrt decomposition) with a parallel list of visible lengths, so

* visible position -> element: walk chunk lengths from a cached cursor (edits
  cluster), falling back to a C-speed prefix sum + bisect, then scan one chunk;
* element id -> run: `owner[replica][counter]`, one list slot per element,
  appended in counter order and patched by slice assignment on splits;
* element -> order/position: the run knows its chunk; `list.index` on the
  chunk list and on the chunk are C-speed identity scans.

Each algorithm plugs in only its integration rule (`find_destination`): where
a remote run goes between its origins. Everything else - splitting, joining,
tombstones, snapshots - is shared.

Element keys are ints `replica_index << 40 | counter` (replica indexes are
local to one structure; the wire uses replica id strings), because int keys
make dict-free lookups and comparisons cheap.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import Any

from server.collab.base import CollabError

SHIFT = 40
MASK = (1 << SHIFT) - 1
MAX_CHUNK = 64  # runs per chunk before it splits in two
_NEAR_CHUNKS = 12  # walk this many chunks from the cached cursor before bisecting

# Order tuples (chunk, run, offset); a missing left origin sorts first, a missing right last.
BEFORE_ALL: tuple[int, ...] = (-1,)
AFTER_ALL: tuple[int, ...] = (1 << 62,)


class Span:
    """A run of elements with consecutive ids from one replica.

    Element k > 0 has the element k-1 as left origin; all share `right` (the
    right origin, Fugue only) and have Lamport sequence `seq + k` (RGA; for
    Fugue `seq` mirrors `start` so one join rule serves both). `text` is None
    once the run is deleted: tombstones keep only their length.
    """

    __slots__ = ("chunk", "left", "length", "rid", "right", "seq", "start", "text")

    def __init__(
        self,
        rid: int,
        start: int,
        length: int,
        text: str | None,
        left: int | None,
        right: int | None,
        seq: int,
    ) -> None:
        self.rid = rid
        self.start = start
        self.length = length
        self.text = text
        self.left = left
        self.right = right
        self.seq = seq
        self.chunk: Chunk = None  # type: ignore[assignment]


class Chunk:
    __slots__ = ("spans",)

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        for span in spans:
            span.chunk = self


def _joinable(a: Span, b: Span) -> bool:
    """True when `b` directly continues `a` (same replica, ids, origins, state)."""
    return (
        a.rid == b.rid
        and a.start + a.length == b.start
        and (a.text is None) == (b.text is None)
        and b.left == ((a.rid << SHIFT) | (b.start - 1))
        and b.right == a.right
        and b.seq == a.seq + a.length
    )


class RunSequence:
    """The element list of one replica or server document (no wire format here)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.rindex: dict[str, int] = {}
        self.owner: list[list[Span]] = []
        self.chunks: list[Chunk] = [Chunk([])]
        self.vis: list[int] = [0]
        self.length = 0
        self.max_seq = -1
        self._cache_ci = 0
        self._cache_start = 0
        # The run found last: (structure version, chunk, run index, visible offset of
        # the run's start in its chunk). Valid while `_version` is unchanged; every
        # structural change bumps it, extending the hinted run itself does not.
        self._version = 0
        self._hint: tuple[int, Chunk, int, int] | None = None
        # The run extend_run grew last: (run, structure version, chunk index, run index).
        self._extended: tuple[Span, int, int, int] | None = None
        self._text: str | None = ""

    # ----------------------------------------------------------------- ids
    def replica_index(self, name: str) -> int:
        rid = self.rindex.get(name)
        if rid is None:
            rid = len(self.names)
            self.names.append(name)
            self.rindex[name] = rid
            self.owner.append([])
        return rid

    def known_count(self, name: str) -> int:
        """How many element ids of replica `name` exist here (ids are dense per replica)."""
        rid = self.rindex.get(name)
        return 0 if rid is None else len(self.owner[rid])

    def key_of(self, name: str, counter: int) -> int | None:
        """Key of an existing element, or None if we have never seen it."""
        rid = self.rindex.get(name)
        if rid is None or not 0 <= counter < len(self.owner[rid]):
            return None
        return (rid << SHIFT) | counter

    def wire_id(self, key: int | None) -> list[Any] | None:
        if key is None:
            return None
        return [self.names[key >> SHIFT], key & MASK]

    def span_of(self, key: int) -> tuple[Span, int]:
        span = self.owner[key >> SHIFT][key & MASK]
        return span, (key & MASK) - span.start

    def order(self, key: int | None, missing: tuple[int, ...]) -> tuple[int, ...]:
        """Document-order tuple of an element (`missing` for None)."""
        if key is None:
            return missing
        span = self.owner[key >> SHIFT][key & MASK]
        chunk = span.chunk
        return (self.chunks.index(chunk), chunk.spans.index(span), (key & MASK) - span.start)

    def seq_of(self, key: int) -> int:
        span, off = self.span_of(key)
        return span.seq + off

    def visible_before(self, key: int) -> tuple[int, bool]:
        """(visible elements before this one, whether it is itself visible)."""
        span, off = self.span_of(key)
        chunk = span.chunk
        ci = self.chunks.index(chunk)
        pos = sum(self.vis[:ci])
        for other in chunk.spans:
            if other is span:
                break
            if other.text is not None:
                pos += other.length
        if span.text is None:
            return pos, False
        return pos + off, True

    # ------------------------------------------------------------ text
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(
                [s.text for c in self.chunks for s in c.spans if s.text is not None]
            )
        return self._text

    # ------------------------------------------------------- positions
    def _add_vis(self, ci: int, delta: int) -> None:
        self.vis[ci] += delta
        self.length += delta
        if ci < self._cache_ci:
            self._cache_start += delta

    def _chunk_for(self, pos: int) -> tuple[int, int]:
        """(chunk index, visible start of that chunk) for the chunk holding visible `pos`."""
        vis = self.vis
        ci = self._cache_ci
        start = self._cache_start
        steps = 0
        while pos >= start + vis[ci]:
            start += vis[ci]
            ci += 1
            steps += 1
            if steps > _NEAR_CHUNKS:
                break
        else:
            while pos < start:
                ci -= 1
                start -= vis[ci]
                steps += 1
                if steps > _NEAR_CHUNKS:
                    break
            else:
                self._cache_ci = ci
                self._cache_start = start
                return ci, start
        prefix = list(accumulate(vis))
        ci = bisect_right(prefix, pos)
        start = prefix[ci] - vis[ci]
        self._cache_ci = ci
        self._cache_start = start
        return ci, start

    def find_visible(self, pos: int) -> tuple[int, int, int]:
        """(chunk, run, offset) of the visible element at index `pos` (0 <= pos < length).

        Edits cluster, so the scan of the chunk starts at the run found last
        when that is still valid and not past `pos`.
        """
        ci, start = self._chunk_for(pos)
        p = pos - start
        chunk = self.chunks[ci]
        spans = chunk.spans
        si = base = 0
        hint = self._hint
        if hint is not None and hint[0] == self._version and hint[1] is chunk and hint[3] <= p:
            si, base = hint[2], hint[3]
        p -= base
        count = len(spans)
        while si < count:
            span = spans[si]
            if span.text is not None:
                n = span.length
                if p < n:
                    self._hint = (self._version, chunk, si, pos - start - p)
                    return ci, si, p
                p -= n
            si += 1
        raise AssertionError("visible length index out of sync")

    def _next_key(self, ci: int, si: int) -> int | None:
        """Key of the first element after run `si` of chunk `ci`, in document order."""
        spans = self.chunks[ci].spans
        if si + 1 < len(spans):
            nxt = spans[si + 1]
        elif ci + 1 < len(self.chunks):
            nxt = self.chunks[ci + 1].spans[0]
        else:
            return None
        return (nxt.rid << SHIFT) | nxt.start

    def next_position(self, ci: int, si: int) -> tuple[int, ...]:
        """Order tuple of the first element of the run after (ci, si), AFTER_ALL at the end."""
        if si + 1 < len(self.chunks[ci].spans):
            return (ci, si + 1, 0)
        if ci + 1 < len(self.chunks):
            return (ci + 1, 0, 0)
        return AFTER_ALL

    def first_position(self) -> tuple[int, ...]:
        return (0, 0, 0) if self.chunks[0].spans else AFTER_ALL

    def after(self, where: tuple[int, ...]) -> tuple[int, ...]:
        """Order tuple of the element right after order tuple `where` (BEFORE_ALL: the start)."""
        if where is BEFORE_ALL:
            return self.first_position()
        ci, si, off = where
        if off + 1 < self.chunks[ci].spans[si].length:
            return (ci, si, off + 1)
        return self.next_position(ci, si)

    # ---------------------------------------------------- structure ops
    def _split(self, ci: int, si: int, off: int) -> None:
        """Cut run `si` before its element `off` (0 < off < length)."""
        self._version += 1
        spans = self.chunks[ci].spans
        s = spans[si]
        text = s.text
        tail = Span(
            s.rid,
            s.start + off,
            s.length - off,
            None if text is None else text[off:],
            (s.rid << SHIFT) | (s.start + off - 1),
            s.right,
            s.seq + off,
        )
        tail.chunk = s.chunk
        s.length = off
        if text is not None:
            s.text = text[:off]
        spans.insert(si + 1, tail)
        self.owner[s.rid][tail.start : tail.start + tail.length] = [tail] * tail.length

    def _join_next(self, ci: int, si: int) -> bool:
        """Merge run si+1 into run si when it continues it (keeps the run count low)."""
        spans = self.chunks[ci].spans
        if si < 0 or si + 1 >= len(spans):
            return False
        a = spans[si]
        b = spans[si + 1]
        if not _joinable(a, b):
            return False
        self._version += 1
        if a.text is not None:
            a.text += b.text  # type: ignore[operator]
        a.length += b.length
        del spans[si + 1]
        self.owner[b.rid][b.start : b.start + b.length] = [a] * b.length
        return True

    def _maybe_split_chunk(self, ci: int) -> None:
        spans = self.chunks[ci].spans
        if len(spans) <= MAX_CHUNK:
            return
        self._version += 1
        half = len(spans) >> 1
        new = Chunk(spans[half:])
        del spans[half:]
        moved = 0
        for s in new.spans:
            if s.text is not None:
                moved += s.length
        self.chunks.insert(ci + 1, new)
        self.vis[ci] -= moved
        self.vis.insert(ci + 1, moved)
        if ci < self._cache_ci:
            self._cache_ci += 1

    def place(self, dest: tuple[int, ...], span: Span) -> None:
        """Insert a new run before the element at order tuple `dest` (AFTER_ALL: at the end)."""
        self._version += 1
        if dest is AFTER_ALL or dest[0] >= len(self.chunks):
            ci = len(self.chunks) - 1
            si = len(self.chunks[ci].spans)
        else:
            ci, si, off = dest
            if off:
                self._split(ci, si, off)
                si += 1
        chunk = self.chunks[ci]
        span.chunk = chunk
        chunk.spans.insert(si, span)
        self.owner[span.rid].extend([span] * span.length)
        if span.text is not None:
            self._add_vis(ci, span.length)
            self._text = None
        self._join_next(ci, si - 1)
        self._maybe_split_chunk(ci)

    def local_insert(
        self, rid: int, counter: int, pos: int, text: str, seq: int, track_right: bool
    ) -> tuple[int | None, int | None]:
        """Insert `text` at visible `pos` as ids (rid, counter...); return (left, right) origins.

        The run goes right after the visible element at pos-1 (before any
        tombstones that follow it); typing on at the end of our own run just
        extends that run, which is the common case in real editing.
        """
        n = len(text)
        self._text = None
        right: int | None
        if pos == 0:
            right = self._next_key(0, -1) if track_right and self.chunks[0].spans else None
            span = Span(rid, counter, n, text, None, right, seq)
            self.place(self.first_position(), span)
            return None, right
        ci, si, off = self.find_visible(pos - 1)
        spans = self.chunks[ci].spans
        s = spans[si]
        left = (s.rid << SHIFT) | (s.start + off)
        if off + 1 < s.length:
            right = left + 1 if track_right else None
            self.place((ci, si, off + 1), Span(rid, counter, n, text, left, right, seq))
            return left, right
        right = self._next_key(ci, si) if track_right else None
        if (
            s.rid == rid
            and s.start + s.length == counter
            and s.right == right
            and s.seq + s.length == seq
        ):
            # s was found just now (find_visible above): the hint is s itself, and
            # growing it moves no run start before it, so the hint stays valid
            s.text += text  # type: ignore[operator]
            s.length += n
            owner = self.owner[rid]
            if n == 1:
                owner.append(s)
            else:
                owner.extend([s] * n)
            self._add_vis(ci, n)
            return left, right
        span = Span(rid, counter, n, text, left, right, seq)
        self.place((ci, si + 1, 0), span)
        return left, right

    def extend_run(self, rid: int, counter: int, text: str, right: int | None, seq: int) -> bool:
        """Append a remote insert to the run it continues, when nothing can sit between them.

        The common case of a remote op (someone typing on): its id is the next
        counter of replica `rid`, its left origin that replica's previous
        character, which ends a run with the same right origin, and that right
        origin is the very next element in document order. Then no concurrent
        element lies between the origins, so Fugue's integration would place
        it right there anyway; extending the run in place skips the scan, the
        split and the join. Returns False (nothing changed) whenever any
        condition fails: the caller integrates normally. Only valid for rules
        that track right origins (Fugue).
        """
        owner = self.owner[rid]
        if counter <= 0 or len(owner) != counter:
            return False
        span = owner[counter - 1]
        if (
            span.start + span.length != counter
            or span.right != right
            or span.seq + span.length != seq
            or span.text is None
        ):
            return False
        chunk = span.chunk
        spans = chunk.spans
        extended = self._extended
        if extended is not None and extended[0] is span and extended[1] == self._version:
            ci, si = extended[2], extended[3]  # typing on: the same run as last time
        else:
            si = spans.index(span)
            ci = self.chunks.index(chunk)
        if si + 1 < len(spans):
            following = spans[si + 1]
            if right != (following.rid << SHIFT) | following.start:
                return False
        elif right != self._next_key(ci, si):
            return False
        hint = self._hint
        if hint is not None and (hint[1] is not chunk or hint[2] != si):
            self._version += 1  # a run before the hinted one grows: its offset moves
        n = len(text)
        self._extended = (span, self._version, ci, si)
        span.text += text
        span.length += n
        if n == 1:
            owner.append(span)
        else:
            owner.extend([span] * n)
        self.vis[ci] += n
        self.length += n
        if ci < self._cache_ci:
            self._cache_start += n
        self._text = None
        return True

    def _tombstone(self, ci: int, si: int, off: int, count: int) -> None:
        """Delete `count` elements of run si starting at `off` (all inside that run, visible)."""
        self._version += 1
        spans = self.chunks[ci].spans
        if off:
            self._split(ci, si, off)
            si += 1
        s = spans[si]
        if count < s.length:
            self._split(ci, si, count)
        s.text = None
        self._add_vis(ci, -count)
        self._text = None
        self._join_next(ci, si)
        self._join_next(ci, si - 1)
        self._maybe_split_chunk(ci)

    def local_delete(self, pos: int, count: int) -> list[tuple[int, int, int]]:
        """Tombstone `count` visible elements from `pos`; return the (rid, counter, n) ranges."""
        ranges: list[tuple[int, int, int]] = []
        while count > 0:
            ci, si, off = self.find_visible(pos)
            s = self.chunks[ci].spans[si]
            k = min(count, s.length - off)
            rid, start = s.rid, s.start + off
            self._tombstone(ci, si, off, k)
            if ranges and ranges[-1][0] == rid and ranges[-1][1] + ranges[-1][2] == start:
                ranges[-1] = (rid, ranges[-1][1], ranges[-1][2] + k)
            else:
                ranges.append((rid, start, k))
            count -= k
        return ranges

    def delete_ids(self, rid: int, counter: int, count: int) -> bool:
        """Tombstone ids (rid, counter..counter+count-1); already deleted ones are skipped."""
        changed = False
        end = counter + count
        while counter < end:
            span, off = self.span_of((rid << SHIFT) | counter)
            k = min(end - counter, span.length - off)
            if span.text is not None:
                extended = self._extended
                if extended is not None and extended[0] is span and extended[1] == self._version:
                    ci, si = extended[2], extended[3]  # a backspace after typing: known place
                else:
                    chunk = span.chunk
                    ci, si = self.chunks.index(chunk), chunk.spans.index(span)
                self._tombstone(ci, si, off, k)
                changed = True
            counter += k
        return changed

    def new_span(
        self, rid: int, counter: int, text: str, left: int | None, right: int | None, seq: int
    ) -> Span:
        self._text = None
        return Span(rid, counter, len(text), text, left, right, seq)

    # ----------------------------------------------------------- state
    def encode_state(self) -> dict[str, Any]:
        """Every run in document order; tombstones keep only their length."""
        runs: list[list[Any]] = []
        for chunk in self.chunks:
            for s in chunk.spans:
                left = None if s.left is None else [s.left >> SHIFT, s.left & MASK]
                right = None if s.right is None else [s.right >> SHIFT, s.right & MASK]
                runs.append(
                    [s.rid, s.start, s.length if s.text is None else s.text, left, right, s.seq]
                )
        return {"replicas": list(self.names), "runs": runs}

    @classmethod
    def decode_state(cls, state: Any) -> RunSequence:
        """Rebuild from `encode_state` output; CollabError on anything inconsistent."""
        seq = cls()
        try:
            names = state["replicas"]
            runs = state["runs"]
            for name in names:
                if not isinstance(name, str) or name in seq.rindex:
                    raise CollabError("bad_request", "bad replica table in state")
                seq.replica_index(name)
            sizes = [0] * len(names)
            parsed: list[Span] = []
            for rid, start, body, left, right, sq in runs:
                if isinstance(body, str):
                    text: str | None = body
                    length = len(body)
                else:
                    text, length = None, int(body)
                lk = None if left is None else (int(left[0]) << SHIFT) | int(left[1])
                rk = None if right is None else (int(right[0]) << SHIFT) | int(right[1])
                span = Span(int(rid), int(start), length, text, lk, rk, int(sq))
                if length <= 0 or span.start < 0:
                    raise CollabError("bad_request", "bad run in state")
                sizes[span.rid] = max(sizes[span.rid], span.start + length)
                parsed.append(span)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CollabError("bad_request", f"malformed CRDT state: {exc}") from None
        seq.owner = [[None] * n for n in sizes]  # type: ignore[list-item]
        chunks: list[Chunk] = []
        current: list[Span] = []
        for span in parsed:
            if current and _joinable(current[-1], span):
                prev = current[-1]
                if prev.text is not None:
                    prev.text += span.text  # type: ignore[operator]
                prev.length += span.length
                span = prev
            else:
                if len(current) >= MAX_CHUNK // 2:
                    chunks.append(Chunk(current))
                    current = []
                current.append(span)
            seq.owner[span.rid][span.start : span.start + span.length] = [span] * span.length
            seq.max_seq = max(seq.max_seq, span.seq + span.length - 1)
        chunks.append(Chunk(current))
        for slots in seq.owner:
            if any(x is None for x in slots):
                raise CollabError("bad_request", "CRDT state has holes in its ids")
        seq.chunks = chunks
        seq.vis = [sum(s.length for s in c.spans if s.text is not None) for c in chunks]
        seq.length = sum(seq.vis)
        seq._text = None
        for ch in chunks:  # re-point: joined spans were created before their chunk
            for s in ch.spans:
                s.chunk = ch
        return seq
