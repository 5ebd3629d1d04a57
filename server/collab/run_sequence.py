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

Real editing is keystrokes at a caret, so the hot paths never look anything
up (measured on the automerge-paper trace, `benchmarks.trace_bench`):

* typing on: the run the last keystroke grew is remembered with its place and
  right origin (`_typing`, and `_remote_typing` for a remote author), so the
  next character appends to it; a run's text is capped (`MAX_RUN_TEXT`)
  because a str grows by copying;
* backspace / forward delete: the element next to the caret (`_caret`) is
  known, and deleting next to a tombstone that continues the run moves the
  boundary between the two runs instead of splitting one.

Each cache is valid only while the structure version (bumped by every split,
join and placement) and the visible length are what they were; the tests
check every cache against a recomputation (`check_invariants`).

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
from typing import Any, Final

from server.collab.base import CollabError

SHIFT: Final = 40
MASK: Final = (1 << SHIFT) - 1
MAX_CHUNK: Final = 64  # runs per chunk before it splits in two
# Visible text per run before typing on starts a new run. A str cannot grow in
# place, so every keystroke appended to a run copies its text: unbounded, typing
# a long passage without a correction is quadratic (4.7 us per keystroke at 200k
# characters, 2 us at 400). Tombstones hold no text and need no bound.
MAX_RUN_TEXT: Final = 512
_NEAR_CHUNKS: Final = 12  # walk this many chunks from the cached cursor before bisecting

# Order tuples (chunk, run, offset); a missing left origin sorts first, a missing right last.
BEFORE_ALL: Final[tuple[int, ...]] = (-1,)
AFTER_ALL: Final[tuple[int, ...]] = (1 << 62,)


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


def rga_goes_first(seq: int, name: str, other_seq: int, other_name: str) -> bool:
    """RGA's order of two siblings (inserts after one character): newest stamp first,
    ties by the smaller replica name. The scan (`integration.rga_destination`)
    and the in-place keystroke test (`RunSequence.extend_run`) both ask it."""
    return seq > other_seq or (seq == other_seq and name < other_name)


def _joinable(a: Span, b: Span) -> bool:
    """True when `b` directly continues `a` (same replica, ids, origins, state), in bounds."""
    return (
        a.rid == b.rid
        and a.start + a.length == b.start
        and (a.text is None) == (b.text is None)
        and (a.text is None or a.length + b.length <= MAX_RUN_TEXT)
        and b.left == ((a.rid << SHIFT) | (b.start - 1))
        and b.right == a.right
        and b.seq == a.seq + a.length
    )


def _integer(value: Any) -> int:
    """A state field that must be a plain int (not a float, bool or numeric string)."""
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    return value


# Fills a decoded state's id table until every run has claimed its ids (they all do:
# `decode_state` checks the claims first), so the table holds only runs throughout.
_NO_SPAN: Final = Span(-1, 0, 0, None, None, None, 0)


def _covered_sizes(runs: list[Span], replicas: int) -> list[int]:
    """Each replica's id count, checking that its runs cover ids 0..n-1 exactly once.

    Linear, not a sort: every run's end is filed under its start, then each
    replica's chain is followed from id 0. A hole breaks the chain; a run
    that overlaps another is either filed twice under one start or never
    reached by the chain (it starts inside another run).
    """
    sizes = [0] * replicas
    for span in runs:
        sizes[span.rid] += span.length
    ends = [[-1] * (size + 1) for size in sizes]
    for span in runs:
        slots = ends[span.rid]
        if span.start >= len(slots) - 1 or slots[span.start] != -1:
            raise CollabError("bad_request", "CRDT state has holes or overlaps in its ids")
        slots[span.start] = span.start + span.length
    counts = [0] * replicas
    for span in runs:
        counts[span.rid] += 1
    for rid, slots in enumerate(ends):
        position = reached = 0
        while position < sizes[rid]:
            following = slots[position]
            if following == -1:
                raise CollabError("bad_request", "CRDT state has holes or overlaps in its ids")
            position = following
            reached += 1
        if position != sizes[rid] or reached != counts[rid]:
            raise CollabError("bad_request", "CRDT state has holes or overlaps in its ids")
    return sizes


class RunSequence:
    """The element list of one replica or server document (no wire format here)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.rindex: dict[str, int] = {}
        self.owner: list[list[Span]] = []
        self.chunks: list[Chunk] = [Chunk([])]
        self.vis: list[int] = [0]
        self.length = 0
        self.max_seq = -1  # highest Lamport seq seen: RGA stamps from it, Fugue ignores it
        self._cache_ci = 0
        self._cache_start = 0
        # The run found last: (structure version, chunk, run index, visible offset of
        # the run's start in its chunk). Valid while `_version` is unchanged; every
        # structural change bumps it, extending the hinted run itself does not.
        self._version = 0
        self._hint: tuple[int, Chunk, int, int] | None = None
        # The run located last: (run, structure version, chunk index, run index). Typing
        # on and backspacing touch one run many times in a row; moving a run boundary
        # or growing a run keeps every run index, so the version still vouches for it.
        self._located: tuple[Span, int, int, int] | None = None
        # The local caret, the visible element this replica edited next to last:
        # (structure version, length, visible index, run, chunk index, run index, offset).
        # Valid while version and length are unchanged: every edit bumps the version or
        # changes the length (growing or trimming a run in place only changes the length).
        self._caret: tuple[int, int, int, Span, int, int, int] | None = None
        # Typing on, locally: (the visible position that continues the run, version,
        # length, run, chunk index, run index, right origin). The run ends just before
        # that position and its right origin follows it, so an insert there by the
        # run's replica with the next counter grows the run and needs nothing else.
        self._typing: tuple[int, int, int, Span, int, int, int | None] | None = None
        # Typing on, remotely: (replica, next counter, right origin, version, run, chunk
        # index, run index) of the run a remote insert grew last, for its next keystroke.
        self._remote_typing: tuple[int, int, int | None, int, Span, int, int] | None = None
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

    def span_of(self, key: int) -> tuple[Span, int]:
        span = self.owner[key >> SHIFT][key & MASK]
        return span, (key & MASK) - span.start

    def order(self, key: int | None, missing: tuple[int, ...]) -> tuple[int, ...]:
        """Document-order tuple of an element (`missing` for None)."""
        if key is None:
            return missing
        span = self.owner[key >> SHIFT][key & MASK]
        ci, si = self.locate(span)
        return (ci, si, (key & MASK) - span.start)

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

    def locate(self, span: Span) -> tuple[int, int]:
        """(chunk index, run index) of a run.

        Edits cluster, so the run located last and the chunk of the last
        position lookup are tried before the C-speed identity scans.
        """
        located = self._located
        if located is None:
            ci = self._cache_ci
        elif located[0] is span and located[1] == self._version:
            return located[2], located[3]
        else:
            ci = located[2]
        chunk = span.chunk
        chunks = self.chunks
        if ci >= len(chunks) or chunks[ci] is not chunk:
            ci = chunks.index(chunk)
        si = chunk.spans.index(span)
        self._located = (span, self._version, ci, si)
        return ci, si

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

    def _maybe_split_chunk(self, ci: int) -> bool:
        spans = self.chunks[ci].spans
        if len(spans) <= MAX_CHUNK:
            return False
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
        return True

    def place(self, dest: tuple[int, ...], span: Span) -> tuple[Span, int, int]:
        """Insert a new run before the element at order tuple `dest` (AFTER_ALL: at the end).

        Returns where the new run's last element ended up: (run, chunk index,
        run index); the run is the one before it when the two joined.
        """
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
        if self._join_next(ci, si - 1):
            si -= 1
            span = chunk.spans[si]
        if self._maybe_split_chunk(ci) and si >= len(chunk.spans):
            si -= len(chunk.spans)
            ci += 1
        return span, ci, si

    def _at(self, p: int) -> tuple[Span, int, int, int]:
        """(run, chunk index, run index, offset) of the visible element at index `p`.

        Local edits happen at a caret that moves a character at a time, so the
        element found last (`_caret`) answers directly whenever `p` falls in
        its run and nothing changed since; otherwise the chunk lookup runs and
        its answer becomes the caret.
        """
        caret = self._caret
        if caret is not None and caret[0] == self._version and caret[1] == self.length:
            span = caret[3]
            off = caret[6] + p - caret[2]
            if 0 <= off < span.length:
                return span, caret[4], caret[5], off
        typing = self._typing  # just typed: the typed run ends before typing[0]
        if typing is not None and typing[1] == self._version and typing[2] == self.length:
            span = typing[3]
            off = span.length - typing[0] + p
            if 0 <= off < span.length:
                return span, typing[4], typing[5], off
        ci, si, off = self.find_visible(p)
        span = self.chunks[ci].spans[si]
        self._caret = (self._version, self.length, p, span, ci, si, off)
        return span, ci, si, off

    def local_insert(
        self, rid: int, counter: int, pos: int, text: str, seq: int, track_right: bool
    ) -> tuple[int | None, int | None]:
        """Insert `text` at visible `pos` as ids (rid, counter...); return (left, right) origins.

        The run goes right after the visible element at pos-1 (before any
        tombstones that follow it). Typing on, the common case in real
        editing, grows the run the last keystroke grew (the typing memo). Any
        other insert places a new run, which joins the run before it when it
        continues it (typing on after moving the caret back to a run's end).
        """
        n = len(text)
        typing = self._typing
        right: int | None
        left: int | None
        if (
            typing is not None
            and typing[0] == pos
            and typing[1] == self._version
            and typing[2] == self.length
        ):
            s, ci, si, right = typing[3], typing[4], typing[5], typing[6]
            if (
                s.start + s.length == counter
                and s.rid == rid
                and s.seq + s.length == seq
                and s.length + n <= MAX_RUN_TEXT
            ):
                s.text += text  # type: ignore[operator]
                s.length += n
                if n == 1:
                    self.owner[rid].append(s)
                else:
                    self.owner[rid].extend([s] * n)
                self.vis[ci] += n
                length = self.length = self.length + n
                if ci < self._cache_ci:
                    self._cache_start += n
                hint = self._hint
                if hint is not None and hint[1] is s.chunk and hint[2] > si:
                    self._hint = None  # the runs after this one moved
                self._text = None
                self._typing = (pos + n, self._version, length, s, ci, si, right)
                return (rid << SHIFT) | (counter - 1), right
            left = (s.rid << SHIFT) | (s.start + s.length - 1)
            dest: tuple[int, ...] = (ci, si + 1, 0)
        elif pos == 0:
            right = self._next_key(0, -1) if track_right and self.chunks[0].spans else None
            left = None
            dest = self.first_position()
        else:
            caret = self._caret  # `_at(pos - 1)`, inlined for its common answer
            if (
                caret is not None
                and caret[0] == self._version
                and caret[1] == self.length
                and 0 <= (off := caret[6] + pos - 1 - caret[2]) < caret[3].length
            ):
                s, ci, si = caret[3], caret[4], caret[5]
            else:
                s, ci, si, off = self._at(pos - 1)
            left = (s.rid << SHIFT) | (s.start + off)
            if off + 1 < s.length:
                right = left + 1 if track_right else None
                dest = (ci, si, off + 1)
            else:
                right = self._next_key(ci, si) if track_right else None
                dest = (ci, si + 1, 0)
        self._text = None
        last, ci, si = self.place(dest, Span(rid, counter, n, text, left, right, seq))
        # The new text ends `last` (the new run, or the run it joined), and what
        # followed the insertion point, its right origin, follows it.
        self._typing = (pos + n, self._version, self.length, last, ci, si, right)
        return left, right

    def extend_run(
        self, rid: int, counter: int, text: str, right: int | None, seq: int, lamport: bool
    ) -> bool:
        """Append a remote insert to the run it continues, when nothing can sit between them.

        The common case of a remote op (someone typing on): its id is the next
        counter of replica `rid`, its left origin that replica's previous
        character, the last of a run whose stamps it continues. What may follow
        that run depends on the algorithm:

        - Fugue (`lamport` False): the run has the same right origin, and that
          right origin is the very next element in document order. Then no
          concurrent element lies between the origins, so Fugue's integration
          would place it right there anyway.
        - RGA (`lamport` True, `right` None): the next element in document
          order is not a child of the left origin, or is one that RGA orders
          after the new run (`rga_goes_first`). Children of an element come
          right after it, so then RGA's scan (`integration.rga_destination`)
          stops at once.

        Extending the run in place skips the scan, the split and the join.
        Returns False (nothing changed) whenever any condition fails: the
        caller integrates normally. The caller raises `max_seq` (RGA).
        """
        owner = self.owner[rid]
        if counter <= 0 or len(owner) != counter:
            return False
        n = len(text)
        memo = self._remote_typing
        if (
            memo is not None
            and memo[1] == counter
            and memo[0] == rid
            and memo[2] == right
            and memo[3] == self._version
            and memo[4].start + memo[4].length == counter
        ):
            # The same replica's next keystroke: its run still ends before `right`
            # (only a structural change, which bumps the version, or a delete of the
            # run's end, which moves the run's end, could change that).
            span, ci, si = memo[4], memo[5], memo[6]
        else:
            span = owner[counter - 1]
            if span.start + span.length != counter or span.right != right:
                return False
            located = self._located
            if located is not None and located[0] is span and located[1] == self._version:
                ci, si = located[2], located[3]
            else:
                ci, si = self.locate(span)
            spans = span.chunk.spans
            if lamport:
                if si + 1 < len(spans):
                    after: Span | None = spans[si + 1]
                else:
                    chunks = self.chunks
                    after = chunks[ci + 1].spans[0] if ci + 1 < len(chunks) else None
                names = self.names
                if (
                    after is not None
                    and after.left == (rid << SHIFT) | (counter - 1)
                    and not rga_goes_first(seq, names[rid], after.seq, names[after.rid])
                ):
                    return False  # a concurrent sibling RGA puts first
            elif si + 1 < len(spans):
                following = spans[si + 1]
                if right != (following.rid << SHIFT) | following.start:
                    return False
            elif right != self._next_key(ci, si):
                return False
        if span.seq + span.length != seq or span.text is None or span.length + n > MAX_RUN_TEXT:
            return False
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
        hint = self._hint
        if hint is not None and hint[1] is span.chunk and hint[2] > si:
            self._hint = None  # the runs after this one moved
        self._text = None
        self._remote_typing = (rid, counter + n, right, self._version, span, ci, si)
        return True

    def tombstone(self, ci: int, si: int, off: int, count: int) -> None:
        """Delete `count` elements of run si starting at `off` (all inside that run, visible).

        Deleting the end of a run whose continuation is already a tombstone
        (a backspace after a backspace), or the start of a run that continues
        a tombstone (forward delete after forward delete), moves the boundary
        between the two runs: no new run, no join, no index shifts.
        """
        chunks = self.chunks
        chunk = chunks[ci]
        spans = chunk.spans
        s = spans[si]
        rid = s.rid
        end = off + count
        if off and end == s.length:
            if si + 1 < len(spans):
                t: Span | None = spans[si + 1]
            else:
                t = chunks[ci + 1].spans[0] if ci + 1 < len(chunks) else None
            if (
                t is not None
                and t.text is None
                and t.rid == rid
                and t.start == s.start + end
                and t.right == s.right
                and t.seq == s.seq + end
                and t.left == (rid << SHIFT) | (t.start - 1)
            ):
                s.length = off
                s.text = s.text[:off]  # type: ignore[index]
                t.start -= count
                t.length += count
                t.seq -= count
                t.left = (rid << SHIFT) | (t.start - 1)
                if count == 1:
                    self.owner[rid][t.start] = t
                else:
                    self.owner[rid][t.start : t.start + count] = [t] * count
                self._shrunk(chunk, ci, si, count)
                return
        elif not off and end < s.length:
            if si:
                p: Span | None = spans[si - 1]
            else:
                p = chunks[ci - 1].spans[-1] if ci else None
            if (
                p is not None
                and p.text is None
                and p.rid == rid
                and s.start == p.start + p.length
                and s.right == p.right
                and s.seq == p.seq + p.length
                and s.left == (rid << SHIFT) | (s.start - 1)
            ):
                start = s.start
                p.length += count
                s.start += count
                s.length -= count
                s.seq += count
                s.text = s.text[count:]  # type: ignore[index]
                s.left = (rid << SHIFT) | (s.start - 1)
                if count == 1:
                    self.owner[rid][start] = p
                else:
                    self.owner[rid][start : start + count] = [p] * count
                self._shrunk(chunk, ci, si, count)
                return
        self._version += 1
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

    def _shrunk(self, chunk: Chunk, ci: int, si: int, count: int) -> None:
        """Run `si` of chunk `ci` lost `count` visible elements in place (a boundary moved)."""
        self.vis[ci] -= count
        self.length -= count
        if ci < self._cache_ci:
            self._cache_start -= count
        hint = self._hint
        if hint is not None and hint[1] is chunk and hint[2] > si:
            self._hint = None
        self._text = None

    def local_delete(self, pos: int, count: int) -> list[tuple[int, int, int]]:
        """Tombstone `count` visible elements from `pos`; return the (rid, counter, n) ranges.

        A keystroke's delete (backspace or forward delete) lies inside one
        run, found from the caret; the caret then stays next to the gap.
        """
        caret = self._caret  # `_at(pos + count - 1)`, inlined for its common answer
        if (
            caret is not None
            and caret[0] == self._version
            and caret[1] == self.length
            and 0 <= (off := caret[6] + pos + count - 1 - caret[2]) < caret[3].length
        ):
            s, ci, si = caret[3], caret[4], caret[5]
        else:
            s, ci, si, off = self._at(pos + count - 1)
        first = off - count + 1
        if first >= 0:
            start = s.start + first
            rid = s.rid
            version = self._version
            self.tombstone(ci, si, first, count)
            if s.text is None:  # the whole run went
                self._caret = None
                return [(rid, start, count)]
            if self._version != version:  # split and joined, not a boundary move
                ci, si = self.locate(s)
            if first:  # s kept its head: the caret is its last element
                self._caret = (self._version, self.length, pos - 1, s, ci, si, first - 1)
            else:  # s lost its head to the tombstone before it: the caret is its first
                self._caret = (self._version, self.length, pos, s, ci, si, 0)
            return [(rid, start, count)]
        self._caret = None
        ranges: list[tuple[int, int, int]] = []
        while count > 0:
            ci, si, off = self.find_visible(pos)
            s = self.chunks[ci].spans[si]
            k = min(count, s.length - off)
            rid, start = s.rid, s.start + off
            self.tombstone(ci, si, off, k)
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
        owner = self.owner[rid]
        while counter < end:
            span = owner[counter]
            off = counter - span.start
            k = min(end - counter, span.length - off)
            if span.text is not None:
                located = self._located
                if located is not None and located[0] is span and located[1] == self._version:
                    ci, si = located[2], located[3]  # a backspace after typing or backspacing
                else:
                    ci, si = self.locate(span)
                self.tombstone(ci, si, off, k)
                changed = True
            counter += k
        return changed

    def new_span(
        self, rid: int, counter: int, text: str, left: int | None, right: int | None, seq: int
    ) -> Span:
        self._text = None
        return Span(rid, counter, len(text), text, left, right, seq)

    # ----------------------------------------------------------- checks
    def check_invariants(self) -> None:
        """Raise AssertionError if any index or cache disagrees with the runs (for tests).

        The fast paths keep the visible counts, the id table and the cached
        positions (`_cache_*`, `_hint`, `_located`, `_caret`) up to date by hand
        instead of recomputing them; this recomputes everything and compares.
        """
        assert len(self.chunks) == len(self.vis) and self.chunks
        seen = [0] * len(self.names)
        position = 0
        for ci, chunk in enumerate(self.chunks):
            assert chunk.spans or len(self.chunks) == 1, "empty chunk"
            visible = 0
            for span in chunk.spans:
                assert span.chunk is chunk and span.length > 0
                assert span.text is None or len(span.text) == span.length
                owner = self.owner[span.rid]
                assert all(owner[k] is span for k in range(span.start, span.start + span.length))
                seen[span.rid] += span.length
                if span.text is not None:
                    visible += span.length
            assert self.vis[ci] == visible, f"chunk {ci} visible count"
            position += visible
        assert self.length == position and seen == [len(o) for o in self.owner]
        assert self._cache_start == sum(self.vis[: self._cache_ci])
        hint = self._hint
        if hint is not None and hint[0] == self._version:
            spans = hint[1].spans
            assert hint[3] == sum(x.length for x in spans[: hint[2]] if x.text is not None)
        located = self._located
        if located is not None and located[1] == self._version:
            assert self.chunks[located[2]].spans[located[3]] is located[0]
        caret = self._caret
        if caret is not None and caret[0] == self._version and caret[1] == self.length:
            _, _, pos, span, ci, si, off = caret
            assert self.chunks[ci].spans[si] is span and span.text is not None
            assert self.find_visible(pos) == (ci, si, off)
        typing = self._typing
        if typing is not None and typing[1] == self._version and typing[2] == self.length:
            pos, _, _, span, ci, si, right = typing
            assert self.chunks[ci].spans[si] is span and span.text is not None
            assert self.find_visible(pos - 1) == (ci, si, span.length - 1)
            if right is not None or span.right is not None:  # RGA tracks no right origin
                assert self._next_key(ci, si) == right
        remote = self._remote_typing
        if remote is not None and remote[3] == self._version:
            rid, counter, right, _, span, ci, si = remote
            assert self.chunks[ci].spans[si] is span and span.rid == rid
            if span.start + span.length == counter and span.text is not None:
                following = self._next_key(ci, si)
                if following != right:  # only RGA's test (extend_run) allows that
                    assert right is None and span.right is None and following is not None
                    assert self.owner[following >> SHIFT][following & MASK].left != (
                        (rid << SHIFT) | (counter - 1)
                    )
        if self._text is not None:
            assert self._text == "".join(
                x.text for c in self.chunks for x in c.spans if x.text is not None
            )

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
            parsed: list[Span] = []
            for rid, start, body, left, right, sq in runs:
                if isinstance(body, str):
                    text: str | None = body
                    length = len(body)
                else:
                    text, length = None, _integer(body)
                lk = None if left is None else (_integer(left[0]) << SHIFT) | _integer(left[1])
                rk = None if right is None else (_integer(right[0]) << SHIFT) | _integer(right[1])
                span = Span(_integer(rid), _integer(start), length, text, lk, rk, _integer(sq))
                if length <= 0 or span.start < 0 or not 0 <= span.rid < len(names):
                    raise CollabError("bad_request", "bad run in state")
                parsed.append(span)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CollabError("bad_request", f"malformed CRDT state: {exc}") from None
        sizes = _covered_sizes(parsed, len(names))
        for span in parsed:  # origins name elements of this state
            for key in (span.left, span.right):
                if key is not None and not (
                    0 <= key >> SHIFT < len(sizes) and (key & MASK) < sizes[key >> SHIFT]
                ):
                    raise CollabError("bad_request", "a run's origin is not in the state")
        seq.owner = [[_NO_SPAN] * size for size in sizes]
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
        seq.chunks = chunks
        seq.vis = [sum(s.length for s in c.spans if s.text is not None) for c in chunks]
        seq.length = sum(seq.vis)
        seq._text = None
        for ch in chunks:  # re-point: joined spans were created before their chunk
            for s in ch.spans:
                s.chunk = ch
        return seq
