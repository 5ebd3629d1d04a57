"""Yjs (YATA) through pycrdt, the Python binding of the Rust port Yrs.

Each replica owns a `pycrdt.Doc` with one `Text` root; every local edit is
one transaction, and the op sent for it is the binary update of exactly that
transaction (what the doc's update observer reports at commit). The server
keeps its own Doc, merges every update into it (that is what makes snapshots
possible) and relays the update unchanged: CRDT updates commute, so the
server adds no ordering, only storage.

Why not `get_update(state_before)` per edit: Yrs writes the delete set of the
*whole document* into every such diff, so each op would carry every deletion
ever made (kilobytes after a few thousand deletions), every receiver and the
server would re-apply all of them, and per-op cost would grow with history.

Wire:
    change / broadcast  {"update": base64 of a Yjs v1 update}
    ack                 {}
    snapshot state      {"update": base64 of the full document as one update}
    cursor              {"client", "clock", "len", "index"}: the Yjs id of the
                        character right of the caret (its clock length: 2 for
                        an emoji), plus the sender's index as a fallback;
                        {"end": true, "index"} at the end of the text

Client ids (YATA's tie-break) come from the replica id, not at random, so
experiments are reproducible, and they keep the replica ids' order (see
`_client_id`): concurrent inserts that YATA sees at one place are ordered by
replica id, as fugue and rga order them and as the reference text of the
editing traces expects. That matters more often than one would think:
inserting right after a deletion, Yjs and Yrs skip the tombstones to the
right of the caret, so "retype the character I just deleted" and "type after
that character" (a remote user's edit) get the same origin and tie.

Unit traps, all verified against pycrdt 0.14 (see the tests):
- `Text` indexes by UTF-8 *bytes*: inserting at byte 2 of "aé" silently
  appends at the end; deleting half of "é" panics or cuts the text. Our
  interface counts code points. While the text is all ASCII both are the
  same (the fast path); otherwise `_Units` keeps a chunked copy of the text
  with each chunk's UTF-8 size and converts in O(chunk) near the last edit.
- Item clocks count UTF-16 units, as JavaScript Yjs does (an emoji is 2).
- `StickyIndex` mixes the two: it uses a byte offset as a clock offset inside
  an item, so on non-ASCII text it anchors to the wrong character, and it
  panics (a Rust panic surfacing as a BaseException) at the end of the text
  or when its item is unknown. It is not used here: a cursor is the id of
  the character after the caret, found and resolved by deleting in a scratch
  copy (the deleting transaction's update names the id, its change event
  the place), then carried through every later change. That costs a copy of
  the document per cursor sent or placed; fine for a lab, not for a hot path.

Costs per local edit: the Yrs transaction, an O(1) unit conversion (ASCII) or
O(chunk) (otherwise), base64 of the small update; no copy of the text. A
received update is applied, and its change delta (reported by a native
observer) updates the length, the unit map and the placed cursors.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pycrdt import Decoder, Doc, Encoder, Text

from server.collab import text_ops
from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.peer_ids import ordered_peer_id
from server.collab.registry import Strategy, register

JSON = Any
TEXT_NAME = "text"
_b64encode = base64.b64encode


class YjsDocument(DocumentServer):
    strategy = "yjs"

    def __init__(self) -> None:
        self._doc: Doc[Any] = Doc()
        self._text = self._doc.get(TEXT_NAME, type=Text)
        self._revision = 0  # updates merged, for snapshots and experiments

    def apply(self, change: JSON, sender: str) -> Applied:
        update = _decode_update(change)
        try:
            self._doc.apply_update(update)
        except ValueError as exc:  # pycrdt reports undecodable updates as ValueError
            raise CollabError("bad_request", f"not a Yjs update: {exc}") from None
        self._revision += 1
        return Applied(ack={}, broadcast={"update": change["update"]})

    def snapshot(self) -> dict[str, JSON]:
        return {
            "content": str(self._text),
            "revision": self._revision,
            "state": {"update": _b64(self._doc.get_update())},
        }

    def encode(self) -> bytes:
        return bytes(self._doc.get_update())

    def text(self) -> str:
        return str(self._text)


class YjsReplica(Replica):
    strategy = "yjs"

    def __init__(self, replica_id: str, state_update: bytes | None = None) -> None:
        super().__init__(replica_id)
        self._doc: Doc[Any] = Doc(client_id=_client_id(replica_id))
        self._text = self._doc.get(TEXT_NAME, type=Text)
        if state_update:
            self._doc.apply_update(state_update)
        current = str(self._text)
        # ASCII fast path: while `_units` is None the text is all ASCII, so a
        # code point index is the byte offset and `_length` the length.
        self._length = len(current)
        self._units: _Units | None = None if current.isascii() else _Units(current)
        self._outgoing: list[dict[str, JSON]] = []
        self._capturing = False  # inside one of our local edits
        self._receiving = False  # inside apply_update of a received op
        self._deltas: list[list[dict[str, Any]]] = []
        self._cursors: dict[str, int] = {}  # placed: index in our current text
        self._unplaced_cursors: dict[str, dict[str, Any]] = {}  # anchors not received yet
        self._update_subscription = self._doc.observe(self._on_update)
        # The native observer: pycrdt's `Text.observe` builds a Python event
        # (delta included) for every transaction, local ones too; this one
        # costs next to nothing unless we read the delta.
        self._text_subscription = self._text.integrated.observe(self._on_text_event)

    def insert(self, pos: int, text: str) -> None:
        units = self._units
        length = self._length if units is None else units.chars
        if pos < 0 or pos > length:
            _out_of_range(pos, 0, length)
        if not text:
            return
        if units is None and not text.isascii():
            units = self._units = _Units(str(self._text))
        offset = pos if units is None else units.byte_offset(pos)
        self._capturing = True
        try:
            self._text.insert(offset, text)
        finally:
            self._capturing = False
        if units is None:
            self._length += len(text)
        else:
            units.insert(pos, text)
        if self._cursors:
            self._move_cursors([pos, text])

    def delete(self, pos: int, length: int) -> None:
        units = self._units
        size = self._length if units is None else units.chars
        if pos < 0 or length < 0 or pos + length > size:
            _out_of_range(pos, length, size)
        if not length:
            return
        if units is None:
            start, stop = pos, pos + length
        else:
            start, stop = units.byte_offset(pos), units.byte_offset(pos + length)
        self._capturing = True
        try:
            del self._text[start:stop]
        finally:
            self._capturing = False
        if units is None:
            self._length -= length
        else:
            units.delete(pos, length)
            if units.chars == units.size:  # all ASCII again
                self._units, self._length = None, units.chars
        if self._cursors:
            self._move_cursors([pos, {"d": length}])

    def take_outgoing(self) -> list[dict[str, JSON]]:
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def receive(self, change: dict[str, JSON]) -> None:
        update = _decode_update(change)
        self._receiving = True
        try:
            self._doc.apply_update(update)
        except ValueError as exc:
            raise CollabError("bad_request", f"not a Yjs update: {exc}") from None
        finally:
            self._receiving = False
            deltas, self._deltas = self._deltas, []
        for delta in deltas:
            self._follow_remote_change(delta)
        if self._unplaced_cursors:
            self._place_cursors()

    def text(self) -> str:
        return str(self._text)

    def encode(self) -> bytes:
        """The whole document as one Yjs v1 update."""
        return bytes(self._doc.get_update())

    def encode_cursor(self, pos: int) -> JSON:
        current = str(self._text)
        _check_range(current, pos, 0)
        if pos == len(current):
            return {"end": True, "index": pos}
        client, clock, length = self._id_of_character(current, pos)
        return {"client": client, "clock": clock, "len": length, "index": pos}

    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        anchor = _parse_cursor(wire)
        self._cursors.pop(user_id, None)
        self._unplaced_cursors[user_id] = anchor
        self._place_cursors()

    def remote_cursors(self) -> dict[str, int]:
        return dict(self._cursors)

    # -- internals ---------------------------------------------------------
    def _on_update(self, event: Any) -> None:
        """The doc's update observer: the binary update of each committed transaction."""
        if self._capturing:
            self._outgoing.append({"update": _b64encode(event.update).decode("ascii")})

    def _on_text_event(self, event: Any) -> None:
        """Native text observer: keep the deltas of received updates (byte counts)."""
        if self._receiving:
            self._deltas.append(event.delta)

    def _follow_remote_change(self, delta: list[dict[str, Any]]) -> None:
        """Bring the length, the unit map and the placed cursors past a remote change."""
        units = self._units
        if units is not None:
            op = units.apply_delta(delta)
            if units.chars == units.size:
                self._units, self._length = None, units.chars
        elif all(
            isinstance(c.get("insert", ""), str) and c.get("insert", "").isascii() for c in delta
        ):
            # ASCII before and after: byte counts are code point counts.
            for component in delta:
                if "insert" in component:
                    self._length += len(component["insert"])
                elif "delete" in component:
                    self._length -= component["delete"]
            if not self._cursors:
                return
            op = _ascii_delta_to_op(delta)
        else:
            # The text was ASCII, so the delta's byte counts are code points;
            # what it inserted is not: from now on, keep a unit map. (One
            # received update is one transaction, hence one delta.)
            op = _ascii_delta_to_op(delta)
            self._units = _Units(str(self._text))
        if self._cursors:
            self._move_cursors(op)

    def _move_cursors(self, op: text_ops.TextOp) -> None:
        # Placed cursors ride along every change, local or remote, as OT
        # cursors do, sticking to the character on their right as the anchor does.
        op = text_ops.normalize(op)
        self._cursors = {
            user: text_ops.transform_index(index, op, stick_right=True)
            for user, index in self._cursors.items()
        }

    def _place_cursors(self) -> None:
        """Resolve received anchors whose character has reached us."""
        if not self._unplaced_cursors:
            return
        current = str(self._text)
        seen = _state_vector(self._doc.get_state())
        for user, anchor in list(self._unplaced_cursors.items()):
            if "end" in anchor:
                index: int | None = len(current)
            elif seen.get(anchor["client"], 0) < anchor["clock"] + anchor["len"]:
                continue  # anchored on text we have not received yet
            else:
                index = self._index_of_character(current, anchor)
            del self._unplaced_cursors[user]
            # A character deleted before we could place it: trust the sender's index.
            self._cursors[user] = min(anchor["index"] if index is None else index, len(current))

    def _scratch_copy(self) -> tuple[Doc[Any], Text]:
        scratch: Doc[Any] = Doc(client_id=0)
        text = scratch.get(TEXT_NAME, type=Text)
        scratch.apply_update(self._doc.get_update())
        return scratch, text

    def _id_of_character(self, current: str, pos: int) -> tuple[int, int, int]:
        """(client, clock, clock length) of the character at `pos`.

        pycrdt exposes no item ids, but deleting the character in a scratch
        copy yields a transaction update whose delete set names exactly that
        id. (Not `get_update(state)`: its delete set is the whole document's.)
        """
        scratch, text = self._scratch_copy()
        updates: list[bytes] = []
        subscription = scratch.observe(lambda event: updates.append(event.update))
        del text[_byte_offset(current, pos) : _byte_offset(current, pos + 1)]
        scratch.unobserve(subscription)
        decoder = Decoder(updates[0])
        decoder.read_var_uint()  # no new structs
        decoder.read_var_uint()  # one client in the delete set
        client = decoder.read_var_uint()
        decoder.read_var_uint()  # one range
        return client, decoder.read_var_uint(), decoder.read_var_uint()

    def _index_of_character(self, current: str, anchor: dict[str, int]) -> int | None:
        """Where the anchored character is now, or None if it is deleted.

        The inverse trick: delete exactly that id in a scratch copy and read
        the position from the change event.
        """
        scratch, text = self._scratch_copy()
        deltas: list[list[dict[str, Any]]] = []
        subscription = text.observe(lambda event: deltas.append(event.delta))  # type: ignore[attr-defined]
        scratch.apply_update(_delete_update(anchor["client"], anchor["clock"], anchor["len"]))
        text.unobserve(subscription)
        if not deltas:
            return None
        first = deltas[0][0]
        return _char_index(current, first.get("retain", 0))


# -- units -------------------------------------------------------------------


class Utf8Units:
    """A chunked copy of a non-ASCII text: code point <-> UTF-8 byte offsets.

    The text is a list of chunks (each at most 2 * CHUNK code points) with
    the UTF-8 size of each. A lookup walks the chunk list from the chunk it
    found last, so typing and remote edits near the last one cost O(CHUNK),
    a far jump O(n / CHUNK), and an ASCII chunk converts in O(1).
    """

    CHUNK = 512

    def __init__(self, text: str) -> None:
        step = self.CHUNK
        self.chunks = [text[i : i + step] for i in range(0, len(text), step)] or [""]
        self.sizes = [len(chunk.encode()) for chunk in self.chunks]
        self.chars = len(text)
        self.size = sum(self.sizes)
        # the chunk found last and the code points / bytes before it
        self._at, self._chars_before, self._bytes_before = 0, 0, 0

    def _find(self, position: int, in_bytes: bool) -> tuple[int, int, int]:
        """The chunk holding `position` (the last chunk at the very end).

        Returns (chunk index, code points before it, bytes before it).
        """
        chunks, sizes = self.chunks, self.sizes
        at, chars, size = self._at, self._chars_before, self._bytes_before
        last = len(chunks) - 1
        if in_bytes:
            while position < size and at > 0:
                at -= 1
                chars -= len(chunks[at])
                size -= sizes[at]
            while at < last and position >= size + sizes[at]:
                chars += len(chunks[at])
                size += sizes[at]
                at += 1
        else:
            while position < chars and at > 0:
                at -= 1
                chars -= len(chunks[at])
                size -= sizes[at]
            while at < last and position >= chars + len(chunks[at]):
                chars += len(chunks[at])
                size += sizes[at]
                at += 1
        self._at, self._chars_before, self._bytes_before = at, chars, size
        return at, chars, size

    def byte_offset(self, index: int) -> int:
        at, chars, size = self._find(index, False)
        chunk = self.chunks[at]
        inside = index - chars
        if self.sizes[at] == len(chunk):
            return size + inside
        return size + len(chunk[:inside].encode())

    def char_index(self, offset: int) -> int:
        at, chars, size = self._find(offset, True)
        chunk = self.chunks[at]
        inside = offset - size
        if self.sizes[at] == len(chunk):
            return chars + inside
        return chars + len(chunk.encode()[:inside].decode("utf-8", errors="ignore"))

    def insert(self, index: int, text: str) -> None:
        at, chars, _ = self._find(index, False)
        chunk = self.chunks[at]
        inside = index - chars
        grown = chunk[:inside] + text + chunk[inside:]
        added = len(text.encode())
        self.chars += len(text)
        self.size += added
        if len(grown) <= 2 * self.CHUNK:
            self.chunks[at] = grown
            self.sizes[at] += added
            return
        step = self.CHUNK
        pieces = [grown[i : i + step] for i in range(0, len(grown), step)]
        self.chunks[at : at + 1] = pieces
        self.sizes[at : at + 1] = [len(piece.encode()) for piece in pieces]

    def delete(self, index: int, length: int) -> None:
        while length > 0:
            at, chars, size = self._find(index, False)
            chunk = self.chunks[at]
            inside = index - chars
            cut = chunk[inside : inside + length]
            if not cut:  # cannot happen for an in-range delete
                raise ValueError("delete past the end of the unit map")
            removed = len(cut) if self.sizes[at] == len(chunk) else len(cut.encode())
            length -= len(cut)
            self.chars -= len(cut)
            self.size -= removed
            rest = chunk[:inside] + chunk[inside + len(cut) :]
            if rest or len(self.chunks) == 1:
                self.chunks[at] = rest
                self.sizes[at] -= removed
                continue
            del self.chunks[at], self.sizes[at]
            if at == len(self.chunks):  # removed the last chunk: step back to the new last
                at -= 1
                chars -= len(self.chunks[at])
                size -= self.sizes[at]
            self._at, self._chars_before, self._bytes_before = at, chars, size

    def apply_delta(self, delta: list[dict[str, Any]]) -> text_ops.TextOp:
        """Apply a pycrdt text delta (byte counts); return it in code points."""
        op: text_ops.TextOp = []
        index = 0  # code points, in the text as changed so far
        offset = 0  # bytes, likewise
        for component in delta:
            if "insert" in component:
                inserted = component["insert"]
                if not isinstance(inserted, str):
                    inserted = "\ufffc"  # an embed (no client of ours sends one)
                self.insert(index, inserted)
                op.append(inserted)
                index += len(inserted)
                offset += len(inserted.encode())
            elif "delete" in component:
                count = self.char_index(offset + component["delete"]) - index
                self.delete(index, count)
                op.append({"d": count})
            elif "retain" in component:
                offset += component["retain"]
                end = self.char_index(offset)
                op.append(end - index)
                index = end
        return op


_Units = Utf8Units  # the name yjs.py uses internally


def _ascii_delta_to_op(delta: list[dict[str, Any]]) -> text_ops.TextOp:
    """A delta on an ASCII text (byte counts are code points) as a text op."""
    op: text_ops.TextOp = []
    for component in delta:
        if "insert" in component:
            inserted = component["insert"]
            op.append(inserted if isinstance(inserted, str) else "\ufffc")
        elif "delete" in component:
            op.append({"d": component["delete"]})
        elif "retain" in component:
            op.append(component["retain"])
    return op


def _byte_offset(text: str, index: int) -> int:
    """Code point index -> the UTF-8 byte offset pycrdt expects (O(n): cursors only)."""
    return len(text[:index].encode("utf-8"))


def _char_index(text: str, offset: int) -> int:
    """UTF-8 byte offset from pycrdt -> code point index (O(n): cursors only)."""
    return len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))


def _client_id(replica_id: str) -> int:
    """The Yjs client id of a replica (see `peer_ids.ordered_peer_id`)."""
    return ordered_peer_id(replica_id)


# -- wire --------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_update(change: JSON) -> bytes:
    if not isinstance(change, dict) or not isinstance(change.get("update"), str):
        raise CollabError("bad_request", 'a yjs change is {"update": "<base64>"}')
    try:
        update = base64.b64decode(change["update"], validate=True)
    except (binascii.Error, ValueError):
        raise CollabError("bad_request", "update is not valid base64") from None
    if not update:
        raise CollabError("bad_request", "empty update")
    return update


def _parse_cursor(wire: JSON) -> dict[str, Any]:
    if not isinstance(wire, dict):
        raise CollabError("bad_request", "a yjs cursor is an object")

    def natural(key: str) -> int:
        value = wire.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CollabError("bad_request", f"cursor {key} must be a non-negative integer")
        return value

    if wire.get("end") is True:
        return {"end": True, "index": natural("index")}
    anchor = {key: natural(key) for key in ("client", "clock", "len", "index")}
    if anchor["len"] not in (1, 2):  # one character: 1 UTF-16 unit, or 2 for a surrogate pair
        raise CollabError("bad_request", "cursor len must be 1 or 2")
    return anchor


def _delete_update(client: int, clock: int, length: int) -> bytes:
    """A Yjs v1 update with no structs and a delete set of one range."""
    encoder = Encoder()
    for number in (0, 1, client, 1, clock, length):
        encoder.write_var_uint(number)
    return encoder.to_bytes()


def _state_vector(encoded: bytes) -> dict[int, int]:
    """client id -> number of clock ticks of that client integrated (lib0 varuints)."""
    decoder = Decoder(encoded)
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }


def _out_of_range(pos: int, length: int, size: int) -> None:
    raise CollabError("bad_request", f"range {pos}+{length} outside {size} characters")


def _check_range(text: str, pos: int, length: int) -> None:
    if pos < 0 or length < 0 or pos + length > len(text):
        _out_of_range(pos, length, len(text))


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> YjsReplica:
    state = snapshot.get("state") or {}
    update = _decode_update(state) if state.get("update") else None
    return YjsReplica(replica_id, update)


STRATEGY = register(
    Strategy(
        "yjs",
        create_document=YjsDocument,
        create_replica=_create_replica,
        causal=True,
        native_heap=True,
        decode_replica=YjsReplica,
    )
)
