"""Loro through its Python binding (PyPI `loro`): a native Fugue-family text CRDT.

Loro's text is a Rust implementation of the same family as our `fugue`
(Weidner, Gentle and Kleppmann's Fugue, with Eg-walker style history), so it
is both a strategy of its own and the reference our pure-Python fugue is
measured against (speed, snapshot size, and where tie-breaks differ:
docs/strategies.md).

Each replica owns a `LoroDoc` with one text root and a peer id derived from
its replica id (`peer_ids.ordered_peer_id`), never Loro's random one, so
runs are reproducible. Local edits are buffered in Loro's open transaction;
`take_outgoing` commits it, and the commit's update (reported by
`subscribe_local_update`: only our own new ops, never ops we imported) is
the op sent. So keystrokes typed between two sends travel as one update.
Anything else that commits (an import) also reports our pending edits, so
none is lost.

The server keeps its own `LoroDoc`, imports every update (for snapshots) and
relays it unchanged. Before importing it reads the update's header
(`decode_import_blob_meta`): an update that needs ops the server has not
seen is refused with `conflict` and leaves the document unchanged (Loro
would otherwise park it as pending).

Wire:
    change / broadcast  {"update": base64 of a Loro update blob}
    ack                 {}
    snapshot state      {"snapshot": base64 of a Loro snapshot}
    cursor              {"cursor": base64 of an encoded Loro `Cursor`}

Positions: `LoroText.insert`/`delete` take Unicode code points in this
binding, the unit of our interface, so there is no conversion layer (the
yjs strategy needs one for pycrdt's UTF-8 bytes).

Errors: the binding raises a bare `BaseException` ("Decode error: ...") for
undecodable input; `_native` turns exactly that into `CollabError` and lets
every other BaseException (KeyboardInterrupt, ...) through.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from loro import Cursor, ExportMode, LoroDoc, Side, VersionVector

from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.peer_ids import ordered_peer_id
from server.collab.registry import Strategy, register

JSON = Any
TEXT_NAME = "text"
T = TypeVar("T")


class LoroDocument(DocumentServer):
    strategy = "loro"

    def __init__(self) -> None:
        self._doc = _new_doc()
        self._text = self._doc.get_text(TEXT_NAME)
        self._revision = 0

    def apply(self, change: JSON, sender: str) -> Applied:
        update = _decode(change, "update")
        meta = _native(lambda: LoroDoc.decode_import_blob_meta(update, True), "update")
        if not self._doc.oplog_vv.includes_vv(meta.partial_start_vv):
            raise CollabError("conflict", "update depends on ops the server has not seen")
        status = _native(lambda: self._doc.import_(update), "update")
        if status.pending is not None:  # pragma: no cover - excluded by the check above
            raise CollabError("conflict", "update depends on ops the server has not seen")
        self._revision += 1
        return Applied(ack={}, broadcast={"update": change["update"]})

    def snapshot(self) -> dict[str, JSON]:
        return {
            "content": self._text.to_string(),
            "revision": self._revision,
            "state": {"snapshot": _b64(self.encode())},
        }

    def text(self) -> str:
        return self._text.to_string()

    def encode(self) -> bytes:
        """The document as one Loro snapshot (what a late joiner or a reload needs)."""
        return self._doc.export(ExportMode.Snapshot())

    def encoded_size(self) -> int:
        return len(self.encode())


class LoroReplica(Replica):
    strategy = "loro"

    def __init__(self, replica_id: str, snapshot: bytes | None = None) -> None:
        super().__init__(replica_id)
        self._doc = _new_doc()
        self._doc.peer_id = ordered_peer_id(replica_id)
        if snapshot:
            _native(lambda: self._doc.import_(snapshot), "snapshot")
        self._text = self._doc.get_text(TEXT_NAME)
        self._outgoing: list[dict[str, JSON]] = []
        self._dirty = False
        self._cursors: dict[str, Cursor] = {}
        self._subscription = self._doc.subscribe_local_update(self._on_local_update)

    # -- local edits ---------------------------------------------------------
    def insert(self, pos: int, text: str) -> None:
        self._check_range(pos, 0)
        if text:
            self._text.insert(pos, text)
            self._dirty = True

    def delete(self, pos: int, length: int) -> None:
        self._check_range(pos, length)
        if length:
            self._text.delete(pos, length)
            self._dirty = True

    def take_outgoing(self) -> list[dict[str, JSON]]:
        if self._dirty:
            self._dirty = False
            self._doc.commit()  # reports the update through _on_local_update
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def is_idle(self) -> bool:
        return not self._dirty and not self._outgoing

    # -- from the server -----------------------------------------------------
    def receive(self, change: dict[str, JSON]) -> None:
        update = _decode(change, "update")
        _native(lambda: self._doc.import_(update), "update")

    def receive_all(self, changes: list[dict[str, JSON]]) -> None:
        updates = [_decode(change, "update") for change in changes]
        _native(lambda: self._doc.import_batch(updates), "update")

    def text(self) -> str:
        return self._text.to_string()

    # -- sync without a server (peer to peer, long-diverged branches) -------
    def version(self) -> bytes:
        """Our version vector, encoded: what a peer needs to send us what we lack."""
        return self._doc.oplog_vv.encode()

    def updates_since(self, version: bytes) -> bytes:
        """Every op we have that a peer at `version` lacks, as one update."""
        self.take_outgoing()
        since = _native(lambda: VersionVector.decode(version), "version")
        return self._doc.export(ExportMode.Updates(since))

    def encode(self) -> bytes:
        return self._doc.export(ExportMode.Snapshot())

    # -- cursors ---------------------------------------------------------------
    def encode_cursor(self, pos: int) -> JSON:
        """Loro's cursor on the character right of the caret (its own id-based anchor)."""
        self._check_range(pos, 0)
        cursor = self._text.get_cursor(pos, Side.Left)
        if cursor is None:  # pragma: no cover - the binding returns one for every index
            raise CollabError("bad_request", f"no cursor at {pos}")
        return {"cursor": _b64(cursor.encode())}

    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        raw = _decode(wire, "cursor")
        self._cursors[user_id] = _native(lambda: Cursor.decode(raw), "cursor")

    def remote_cursors(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for user, cursor in self._cursors.items():
            try:
                found = self._doc.get_cursor_pos(cursor)
            except BaseException as exc:  # its character has not reached us yet
                if type(exc) is not BaseException:
                    raise
                continue
            result[user] = min(found.current.pos, self._text.len_unicode)
        return result

    # -- internals -----------------------------------------------------------
    def _on_local_update(self, update: bytes) -> bool:
        self._outgoing.append({"update": _b64(update)})
        return True  # keep the subscription

    def _check_range(self, pos: int, length: int) -> None:
        size = self._text.len_unicode
        if pos < 0 or length < 0 or pos + length > size:
            raise CollabError("bad_request", f"range {pos}+{length} outside {size} characters")


def _new_doc() -> LoroDoc:
    return LoroDoc()  # type: ignore[no-untyped-call]  # the stub's __new__ is unannotated


def _native(call: Callable[[], T], what: str) -> T:
    """Run a binding call; its decode errors (bare BaseException) become CollabError."""
    try:
        return call()
    except BaseException as exc:
        if type(exc) is not BaseException:
            raise
        raise CollabError("bad_request", f"not a Loro {what}: {exc}") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode(message: JSON, key: str) -> bytes:
    if not isinstance(message, dict) or not isinstance(message.get(key), str):
        raise CollabError("bad_request", f'a loro {key} is {{"{key}": "<base64>"}}')
    try:
        data = base64.b64decode(message[key], validate=True)
    except (binascii.Error, ValueError):
        raise CollabError("bad_request", f"{key} is not valid base64") from None
    if not data:
        raise CollabError("bad_request", f"empty {key}")
    return data


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> LoroReplica:
    state = snapshot.get("state") or {}
    data = _decode(state, "snapshot") if state.get("snapshot") else None
    return LoroReplica(replica_id, data)


STRATEGY = register(
    Strategy(
        "loro",
        create_document=LoroDocument,
        create_replica=_create_replica,
        causal=True,
        native_heap=True,
        decode_replica=LoroReplica,
    )
)
