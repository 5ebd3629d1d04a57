"""The tutorial's strategy: relay raw-index changes and hope nobody types at once.

Wire change (exactly the tutorial's): `{"userId", "position", "insert"?, "delete"?}`,
`insert` a string put at `position`, `delete` a number of characters removed
at `position` (both present: delete, then insert: a replace). The server
applies it at the raw index and relays it unchanged; replicas apply what
they receive at the raw index too. Nothing accounts for edits the sender had
not seen yet, so concurrent edits land in different places on different
replicas. That divergence is the point: it is the baseline the other
strategies are measured against, so do not make this module smarter.
"""

from __future__ import annotations

import json
from typing import Any

from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.registry import Strategy, register

JSON = Any


class NaiveDocument(DocumentServer):
    strategy = "naive"

    def __init__(self, content: str = "") -> None:
        self._text = content
        self._revision = 0

    def apply(self, change: JSON, sender: str) -> Applied:
        position, inserted, deleted = _parse_change(change)
        if position > len(self._text) or position + deleted > len(self._text):
            raise CollabError(
                "bad_request",
                f"change at {position} (+{deleted} deleted) is outside a "
                f"{len(self._text)}-character document",
            )
        self._text = _splice(self._text, position, deleted, inserted)
        self._revision += 1
        return Applied(ack={"revision": self._revision}, broadcast=change)

    def snapshot(self) -> dict[str, JSON]:
        return {"content": self._text, "revision": self._revision, "state": None}

    def text(self) -> str:
        return self._text


class NaiveReplica(Replica):
    strategy = "naive"

    def __init__(self, replica_id: str, content: str = "") -> None:
        super().__init__(replica_id)
        self._text = content
        self._outgoing: list[dict[str, JSON]] = []
        self._cursors: dict[str, int] = {}

    def insert(self, pos: int, text: str) -> None:
        _check_local_range(self._text, pos, 0)
        if not text:
            return
        self._text = _splice(self._text, pos, 0, text)
        self._outgoing.append({"userId": self.replica_id, "position": pos, "insert": text})

    def delete(self, pos: int, length: int) -> None:
        _check_local_range(self._text, pos, length)
        if length == 0:
            return
        self._text = _splice(self._text, pos, length, "")
        self._outgoing.append({"userId": self.replica_id, "position": pos, "delete": length})

    def take_outgoing(self) -> list[dict[str, JSON]]:
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def receive(self, change: dict[str, JSON]) -> None:
        # Clamped rather than refused: a replica that has drifted must not crash,
        # it just keeps drifting (which is what the experiments measure).
        position, inserted, deleted = _parse_change(change)
        position = min(position, len(self._text))
        deleted = min(deleted, len(self._text) - position)
        self._text = _splice(self._text, position, deleted, inserted)

    def text(self) -> str:
        return self._text

    def encode_cursor(self, pos: int) -> JSON:
        return pos

    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        if isinstance(wire, bool) or not isinstance(wire, int) or wire < 0:
            raise CollabError("bad_request", "a naive cursor is a non-negative integer")
        self._cursors[user_id] = wire

    def remote_cursors(self) -> dict[str, int]:
        # Raw indices, never adjusted: the tutorial's cursors drift with every edit.
        return dict(self._cursors)

    def encode(self) -> bytes:
        return _json_bytes({"content": self._text})


def _parse_change(change: JSON) -> tuple[int, str, int]:
    if not isinstance(change, dict):
        raise CollabError("bad_request", "a naive change is an object")
    position = change.get("position")
    inserted = change.get("insert", "")
    deleted = change.get("delete", 0)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise CollabError("bad_request", "position must be a non-negative integer")
    if not isinstance(inserted, str):
        raise CollabError("bad_request", "insert must be a string")
    if isinstance(deleted, bool) or not isinstance(deleted, int) or deleted < 0:
        raise CollabError("bad_request", "delete must be a non-negative integer")
    if not inserted and not deleted:
        raise CollabError("bad_request", "a change must insert or delete something")
    return position, inserted, deleted


def _check_local_range(text: str, pos: int, length: int) -> None:
    if pos < 0 or length < 0 or pos + length > len(text):
        raise CollabError("bad_request", f"range {pos}+{length} outside {len(text)} characters")


def _json_bytes(value: JSON) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _splice(text: str, position: int, deleted: int, inserted: str) -> str:
    return text[:position] + inserted + text[position + deleted :]


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> NaiveReplica:
    return NaiveReplica(replica_id, snapshot.get("content", ""))


STRATEGY = register(
    Strategy(
        "naive",
        create_document=NaiveDocument,
        create_replica=_create_replica,
        convergent=False,
        stamped=True,
    )
)
