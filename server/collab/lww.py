"""Last writer wins on the whole document.

Every edit sends the full text stamped with `(ts, replica)`, where `ts` is a
Lamport clock: one more than anything the replica has seen. The highest
stamp wins everywhere (server and replicas compare the same way), so all
copies converge; but two people typing at once each overwrite the other's
whole document, and one of them simply loses their text. A Lamport clock
rather than a wall clock keeps experiments reproducible and immune to skew.

Wire:
    change / broadcast  {"ts": int, "replica": str, "content": str}
    ack                 {"accepted": bool, "ts": int, "replica": str}  (the current winner)
    cursor              an integer index (a full-text overwrite has no stable
                        anchor to attach a cursor to)
"""

from __future__ import annotations

import json
from typing import Any

from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.registry import Strategy, register

JSON = Any
Stamp = tuple[int, str]

# The stamp of the empty initial document: any real write beats it.
ORIGIN: Stamp = (0, "")


class LWWDocument(DocumentServer):
    strategy = "lww"

    def __init__(self) -> None:
        self._content = ""
        self._stamp = ORIGIN
        self._revision = 0  # accepted writes, for snapshots and experiments

    def apply(self, change: JSON, sender: str) -> Applied:
        stamp, content = _parse_state(change)
        accepted = stamp > self._stamp
        if accepted:
            self._content, self._stamp = content, stamp
            self._revision += 1
        # A losing write is not an error: the writer will receive (or already
        # has) the winning state and adopt it, which is the whole protocol.
        ack = {"accepted": accepted, "ts": self._stamp[0], "replica": self._stamp[1]}
        broadcast = _wire(self._stamp, self._content) if accepted else None
        return Applied(ack=ack, broadcast=broadcast)

    def snapshot(self) -> dict[str, JSON]:
        return {
            "content": self._content,
            "revision": self._revision,
            "state": {"ts": self._stamp[0], "replica": self._stamp[1]},
        }

    def text(self) -> str:
        return self._content


class LWWReplica(Replica):
    strategy = "lww"

    def __init__(self, replica_id: str, content: str = "", stamp: Stamp = ORIGIN) -> None:
        super().__init__(replica_id)
        self._content = content
        self._stamp = stamp
        self._clock = stamp[0]
        self._outgoing: dict[str, JSON] | None = None
        self._unacknowledged = 0
        self._cursors: dict[str, int] = {}

    def insert(self, pos: int, text: str) -> None:
        self._check_range(pos, 0)
        if text:
            self._write(self._content[:pos] + text + self._content[pos:])

    def delete(self, pos: int, length: int) -> None:
        self._check_range(pos, length)
        if length:
            self._write(self._content[:pos] + self._content[pos + length :])

    def take_outgoing(self) -> list[dict[str, JSON]]:
        # Only the newest full state is worth sending: it supersedes the older
        # ones (its stamp is higher and it contains their edits).
        if self._outgoing is None:
            return []
        outgoing, self._outgoing = self._outgoing, None
        self._unacknowledged += 1
        return [outgoing]

    def acknowledge(self, ack: dict[str, JSON]) -> None:
        self._unacknowledged -= 1
        ts = ack.get("ts")
        if isinstance(ts, int):
            self._clock = max(self._clock, ts)

    def receive(self, change: dict[str, JSON]) -> None:
        stamp, content = _parse_state(change)
        self._clock = max(self._clock, stamp[0])
        if stamp > self._stamp:
            self._content, self._stamp = content, stamp

    def is_idle(self) -> bool:
        return self._outgoing is None and self._unacknowledged == 0

    def text(self) -> str:
        return self._content

    def encode_cursor(self, pos: int) -> JSON:
        return pos

    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        if isinstance(wire, bool) or not isinstance(wire, int) or wire < 0:
            raise CollabError("bad_request", "an lww cursor is a non-negative integer")
        self._cursors[user_id] = wire

    def remote_cursors(self) -> dict[str, int]:
        return {user: min(index, len(self._content)) for user, index in self._cursors.items()}

    def encode(self) -> bytes:
        snapshot = {
            "content": self._content,
            "state": {"ts": self._stamp[0], "replica": self._stamp[1]},
        }
        return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()

    def _write(self, content: str) -> None:
        self._clock += 1
        self._stamp = (self._clock, self.replica_id)
        self._content = content
        self._outgoing = _wire(self._stamp, content)

    def _check_range(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > len(self._content):
            raise CollabError(
                "bad_request", f"range {pos}+{length} outside {len(self._content)} characters"
            )


def _parse_state(change: JSON) -> tuple[Stamp, str]:
    if not isinstance(change, dict):
        raise CollabError("bad_request", 'an lww change is {"ts", "replica", "content"}')
    ts, replica, content = change.get("ts"), change.get("replica"), change.get("content")
    if isinstance(ts, bool) or not isinstance(ts, int) or ts <= 0:
        raise CollabError("bad_request", "ts must be a positive integer")
    if not isinstance(replica, str) or not replica:
        raise CollabError("bad_request", "replica must be a non-empty string")
    if not isinstance(content, str):
        raise CollabError("bad_request", "content must be a string")
    return (ts, replica), content


def _wire(stamp: Stamp, content: str) -> dict[str, JSON]:
    return {"ts": stamp[0], "replica": stamp[1], "content": content}


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> LWWReplica:
    state = snapshot.get("state") or {}
    stamp = (state.get("ts", ORIGIN[0]), state.get("replica", ORIGIN[1]))
    return LWWReplica(replica_id, snapshot.get("content", ""), stamp)


STRATEGY = register(
    Strategy(
        "lww", create_document=LWWDocument, create_replica=_create_replica, whole_document=True
    )
)
