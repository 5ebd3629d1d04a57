"""Yjs (YATA) through pycrdt, the Python binding of the Rust port Yrs.

Each replica owns a `pycrdt.Doc` with one `Text` root; every local edit is
captured as the binary update it produced (`get_update(state_before)`), so
one edit is one op. The server keeps its own Doc, merges every update into
it (that is what makes snapshots possible) and relays the update unchanged:
CRDT updates commute, so the server adds no ordering, only storage.

Wire:
    change / broadcast  {"update": base64 of a Yjs v1 update}
    ack                 {}
    snapshot state      {"update": base64 of the full document as one update}
    cursor              {"client", "clock", "len", "index"}: the Yjs id of the
                        character right of the caret (its clock length: 2 for
                        an emoji), plus the sender's index as a fallback;
                        {"end": true, "index"} at the end of the text

Unit traps, all verified against pycrdt 0.14 (see the tests):
- `Text` indexes by UTF-8 *bytes*: inserting at byte 2 of "aé" silently
  appends at the end; deleting half of "é" panics or cuts the text. Our
  interface counts code points, so every index into pycrdt goes through
  `_byte_offset` and every index out of it through `_char_index`.
- Item clocks count UTF-16 units, as JavaScript Yjs does (an emoji is 2).
- `StickyIndex` mixes the two: it uses a byte offset as a clock offset inside
  an item, so on non-ASCII text it anchors to the wrong character, and it
  panics (a Rust panic surfacing as a BaseException) at the end of the text
  or when its item is unknown. It is not used here: a cursor is the id of
  the character after the caret, found and resolved by deleting in a scratch
  copy (the delete set and the change event name the id and the place),
  then carried through every later change by the text's change events.
  That costs a copy of the document per cursor sent or placed; fine for a
  lab, not for a hot path.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable
from typing import Any

from pycrdt import Decoder, Doc, Encoder, Text, TextEvent

from server.collab import text_ops
from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.registry import Strategy, register

JSON = Any
TEXT_NAME = "text"


class YjsDocument(DocumentServer):
    strategy = "yjs"

    def __init__(self) -> None:
        self._doc: Doc = Doc()
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

    def text(self) -> str:
        return str(self._text)


class YjsReplica(Replica):
    strategy = "yjs"

    def __init__(self, replica_id: str, state_update: bytes | None = None) -> None:
        super().__init__(replica_id)
        # A client id derived from the replica id (instead of Yjs's random one)
        # makes YATA's tie-breaks, hence whole experiments, reproducible. Two
        # live replicas must not share an id; crc32 collisions among the few
        # ids of one document are as unlikely as Yjs's own random clashes.
        self._doc: Doc = Doc(client_id=zlib.crc32(replica_id.encode()))
        self._text = self._doc.get(TEXT_NAME, type=Text)
        if state_update:
            self._doc.apply_update(state_update)
        self._outgoing: list[dict[str, JSON]] = []
        self._cursors: dict[str, int] = {}  # placed: index in our current text
        self._unplaced_cursors: dict[str, dict[str, Any]] = {}  # anchors not received yet
        self._shadow = str(self._text)
        self._subscription = self._text.observe(self._on_text_change)

    def insert(self, pos: int, text: str) -> None:
        current = str(self._text)
        _check_range(current, pos, 0)
        if text:
            offset = _byte_offset(current, pos)

            def edit() -> None:
                self._text.insert(offset, text)

            self._record(edit)

    def delete(self, pos: int, length: int) -> None:
        current = str(self._text)
        _check_range(current, pos, length)
        if length:
            start, stop = _byte_offset(current, pos), _byte_offset(current, pos + length)

            def edit() -> None:
                del self._text[start:stop]

            self._record(edit)

    def take_outgoing(self) -> list[dict[str, JSON]]:
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def receive(self, change: dict[str, JSON]) -> None:
        update = _decode_update(change)
        try:
            self._doc.apply_update(update)
        except ValueError as exc:
            raise CollabError("bad_request", f"not a Yjs update: {exc}") from None
        self._place_cursors()

    def text(self) -> str:
        return str(self._text)

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
    def _record(self, edit: Callable[[], None]) -> None:
        before = self._doc.get_state()
        edit()
        self._outgoing.append({"update": _b64(self._doc.get_update(before))})

    def _on_text_change(self, event: TextEvent) -> None:
        # Placed cursors ride along every change, local or remote, as OT
        # cursors do, sticking to the character on their right as the anchor
        # does; the delta counts bytes, so it is replayed on a shadow copy of
        # the text to learn the character counts.
        op = _delta_to_op(self._shadow, event.delta)
        self._shadow = text_ops.apply(self._shadow, op)
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

    def _scratch_copy(self) -> tuple[Doc, Text]:
        scratch: Doc = Doc(client_id=0)
        text = scratch.get(TEXT_NAME, type=Text)
        scratch.apply_update(self._doc.get_update())
        return scratch, text

    def _id_of_character(self, current: str, pos: int) -> tuple[int, int, int]:
        """(client, clock, clock length) of the character at `pos`.

        pycrdt exposes no item ids, but deleting the character in a scratch
        copy yields an update whose delete set names exactly that id.
        """
        scratch, text = self._scratch_copy()
        before = scratch.get_state()
        del text[_byte_offset(current, pos) : _byte_offset(current, pos + 1)]
        decoder = Decoder(scratch.get_update(before))
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
        subscription = text.observe(lambda event: deltas.append(event.delta))
        scratch.apply_update(_delete_update(anchor["client"], anchor["clock"], anchor["len"]))
        text.unobserve(subscription)
        if not deltas:
            return None
        first = deltas[0][0]
        return _char_index(current, first.get("retain", 0))


# -- units -------------------------------------------------------------------


def _byte_offset(text: str, index: int) -> int:
    """Code point index -> the UTF-8 byte offset pycrdt expects."""
    return len(text[:index].encode("utf-8"))


def _char_index(text: str, offset: int) -> int:
    """UTF-8 byte offset from pycrdt -> code point index."""
    return len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))


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


def _delta_to_op(before: str, delta: list[dict[str, Any]]) -> text_ops.TextOp:
    """A pycrdt text delta (byte counts) as a code point op on `before`."""
    encoded = before.encode("utf-8")
    op: text_ops.TextOp = []
    offset = 0
    for component in delta:
        if "insert" in component:
            inserted = component["insert"]
            op.append(inserted if isinstance(inserted, str) else "\ufffc")
            continue
        size = component.get("retain", component.get("delete", 0))
        characters = len(encoded[offset : offset + size].decode("utf-8"))
        offset += size
        if characters:
            op.append(characters if "retain" in component else {"d": characters})
    return text_ops.normalize(op)


def _state_vector(encoded: bytes) -> dict[int, int]:
    """client id -> number of clock ticks of that client integrated (lib0 varuints)."""
    decoder = Decoder(encoded)
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }


def _check_range(text: str, pos: int, length: int) -> None:
    if pos < 0 or length < 0 or pos + length > len(text):
        raise CollabError("bad_request", f"range {pos}+{length} outside {len(text)} characters")


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> YjsReplica:
    state = snapshot.get("state") or {}
    update = _decode_update(state) if state.get("update") else None
    return YjsReplica(replica_id, update)


STRATEGY = register(Strategy("yjs", create_document=YjsDocument, create_replica=_create_replica))
