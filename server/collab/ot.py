"""Server-sequenced operational transformation (Jupiter, as ShareDB does it).

The server is the single point of order: it numbers every accepted op with
a revision, and an op made on revision r is transformed against the ops
accepted after r before it is applied. A client therefore only has to agree
with one peer, the server, which is why it may have at most one op in
flight: while it waits for the ack, its new edits are composed into a
buffer, and every broadcast it receives is transformed against the inflight
op and the buffer (and they against it), so its view stays "server revision
+ inflight + buffer".

Wire:
    client -> server   {"rev": r, "ops": [5, "abc", {"d": 2}]}   (ops made on revision r)
    ack                {"rev": r'}                                 (the revision our op became)
    broadcast          {"rev": r', "ops": [...], "userId": sender} (ops as the server applied them)
    cursor             {"rev": r, "index": i}                      (index in revision r's text)

A cursor is expressed against a server revision rather than the sender's
screen because the sender's screen includes ops nobody else has yet: the
sender maps its caret back through its own pending ops, and a receiver maps
it forward through the ops it has seen since r plus its own pending ops. A
cursor from a revision the receiver has not reached waits until it does.

Ties between concurrent inserts at one place go to the op the server
accepted first (it is transformed as "left"); this is deterministic because
the server's order is.

The server keeps its whole history (one op per revision) so that an op made
on any old revision can still be transformed; bounding it would mean
refusing ops older than the window with `conflict` and making that client
reload.
"""

from __future__ import annotations

import json
from typing import Any

from server.collab import text_ops
from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.registry import Strategy, register
from server.collab.text_ops import TextOp

JSON = Any

# Server ops a replica remembers only to place remote cursors sent from older
# revisions; a cursor older than this is clamped instead.
CURSOR_HISTORY = 1000


class OTDocument(DocumentServer):
    strategy = "ot"

    def __init__(self, content: str = "") -> None:
        self._text = content
        self._history: list[TextOp] = []  # op i took revision i to i + 1
        self._lengths: list[int] = [len(content)]  # document length at each revision

    @property
    def revision(self) -> int:
        return len(self._history)

    def apply(self, change: JSON, sender: str) -> Applied:
        if not isinstance(change, dict) or "ops" not in change or "rev" not in change:
            raise CollabError("bad_request", 'an ot change is {"rev": int, "ops": [...]}')
        rev = change["rev"]
        if isinstance(rev, bool) or not isinstance(rev, int) or rev < 0:
            raise CollabError("bad_request", "rev must be a non-negative integer")
        if rev > self.revision:
            raise CollabError(
                "conflict", f"op made on revision {rev}, the server is at {self.revision}"
            )
        op = text_ops.parse_op(change["ops"])
        if text_ops.base_length(op) > self._lengths[rev]:
            raise CollabError(
                "bad_request",
                f"op spans {text_ops.base_length(op)} characters, revision {rev} "
                f"had {self._lengths[rev]}",
            )
        for accepted in self._history[rev:]:
            op = text_ops.transform(op, accepted, "right")
        self._text = text_ops.apply(self._text, op)
        self._history.append(op)
        self._lengths.append(len(self._text))
        return Applied(
            ack={"rev": self.revision},
            broadcast={"rev": self.revision, "ops": op, "userId": sender},
        )

    def snapshot(self) -> dict[str, JSON]:
        return {"content": self._text, "revision": self.revision, "state": None}

    def text(self) -> str:
        return self._text


class OTReplica(Replica):
    strategy = "ot"

    def __init__(self, replica_id: str, content: str = "", revision: int = 0) -> None:
        super().__init__(replica_id)
        self._text = content
        self._rev = revision  # the server revision our text is built on
        self._inflight: TextOp | None = None  # sent, not yet acknowledged
        self._buffer: TextOp | None = None  # local edits not sent yet
        # Server ops since revision _log_start with their author, for placing cursors.
        self._log: list[tuple[TextOp, str | None]] = []
        self._log_start = revision
        self._cursors: dict[str, int] = {}  # index in our current text
        self._waiting_cursors: dict[str, tuple[int, int]] = {}  # user -> (rev, index)

    # -- local edits -------------------------------------------------------
    def insert(self, pos: int, text: str) -> None:
        self._check_range(pos, 0)
        if text:
            self._apply_local(text_ops.insert_op(pos, text))

    def delete(self, pos: int, length: int) -> None:
        self._check_range(pos, length)
        if length:
            self._apply_local(text_ops.delete_op(pos, length))

    def take_outgoing(self) -> list[dict[str, JSON]]:
        if self._inflight is not None or self._buffer is None:
            return []
        self._inflight, self._buffer = self._buffer, None
        return [{"rev": self._rev, "ops": self._inflight}]

    def is_idle(self) -> bool:
        return self._inflight is None and self._buffer is None

    # -- from the server ---------------------------------------------------
    def acknowledge(self, ack: dict[str, JSON]) -> None:
        if self._inflight is None:
            raise CollabError("conflict", "acknowledgement without an op in flight")
        self._expect_revision(ack.get("rev"))
        # The server applied exactly our inflight op: every broadcast it had
        # accepted before ours reached us first (one link keeps order), and
        # each one already transformed our inflight op the way the server did.
        self._remember(self._inflight, self.replica_id)
        self._inflight = None

    def receive(self, change: dict[str, JSON]) -> None:
        self._expect_revision(change.get("rev"))
        server_op = text_ops.parse_op(change.get("ops"))
        author = change.get("userId")
        op = server_op
        if self._inflight is not None:
            op, self._inflight = (
                text_ops.transform(op, self._inflight, "left"),
                text_ops.transform(self._inflight, op, "right"),
            )
        if self._buffer is not None:
            op, self._buffer = (
                text_ops.transform(op, self._buffer, "left"),
                text_ops.transform(self._buffer, op, "right"),
            )
        self._text = text_ops.apply(self._text, op)
        self._cursors = {
            user: text_ops.transform_index(index, op, stick_right=user == author)
            for user, index in self._cursors.items()
        }
        self._remember(server_op, author if isinstance(author, str) else None)

    def text(self) -> str:
        return self._text

    # -- cursors -----------------------------------------------------------
    def encode_cursor(self, pos: int) -> JSON:
        index = pos
        for pending in (self._buffer, self._inflight):
            if pending is not None:
                index = text_ops.untransform_index(index, pending)
        return {"rev": self._rev, "index": index}

    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        if not isinstance(wire, dict):
            raise CollabError("bad_request", 'an ot cursor is {"rev": int, "index": int}')
        rev, index = wire.get("rev"), wire.get("index")
        for value in (rev, index):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CollabError("bad_request", "cursor rev and index must be non-negative")
        assert isinstance(rev, int) and isinstance(index, int)  # checked just above
        self._cursors.pop(user_id, None)
        self._waiting_cursors[user_id] = (rev, index)
        self._place_waiting_cursors()

    def remote_cursors(self) -> dict[str, int]:
        return dict(self._cursors)

    def encode(self) -> bytes:
        """Text and revision (pending local ops are not part of the document yet)."""
        snapshot = {"content": self._text, "revision": self._rev}
        return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()

    # -- internals ---------------------------------------------------------
    def _apply_local(self, op: TextOp) -> None:
        self._text = text_ops.apply(self._text, op)
        buffered = op if self._buffer is None else text_ops.compose(self._buffer, op)
        self._buffer = buffered or None  # an insert then its deletion cancel out
        self._cursors = {
            user: text_ops.transform_index(index, op) for user, index in self._cursors.items()
        }

    def _expect_revision(self, rev: JSON) -> None:
        if rev != self._rev + 1:
            raise CollabError("conflict", f"expected revision {self._rev + 1}, got {rev!r}")

    def _remember(self, server_op: TextOp, author: str | None) -> None:
        self._rev += 1
        self._log.append((server_op, author))
        if len(self._log) > CURSOR_HISTORY:
            drop = len(self._log) - CURSOR_HISTORY
            del self._log[:drop]
            self._log_start += drop
        self._place_waiting_cursors()

    def _place_waiting_cursors(self) -> None:
        for user, (rev, index) in list(self._waiting_cursors.items()):
            if rev > self._rev:
                continue  # made on text we have not received yet
            del self._waiting_cursors[user]
            if rev < self._log_start:
                self._cursors[user] = min(index, len(self._text))
                continue
            for op, author in self._log[rev - self._log_start :]:
                index = text_ops.transform_index(index, op, stick_right=user == author)
            for pending in (self._inflight, self._buffer):
                if pending is not None:
                    index = text_ops.transform_index(index, pending)
            self._cursors[user] = min(index, len(self._text))

    def _check_range(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > len(self._text):
            raise CollabError(
                "bad_request", f"range {pos}+{length} outside {len(self._text)} characters"
            )


def _create_replica(replica_id: str, snapshot: dict[str, JSON]) -> OTReplica:
    return OTReplica(replica_id, snapshot.get("content", ""), snapshot.get("revision", 0))


STRATEGY = register(Strategy("ot", create_document=OTDocument, create_replica=_create_replica))
