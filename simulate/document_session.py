"""One editor on one document over a Socket.IO client: a replica kept in sync with the server.

Glue between `simulate.client.SocketIOClient` and a `server.collab` replica,
used by tests, bots and experiments. Ordering is the whole difficulty: the
replica must see its own acks and others' broadcasts in the order the
server sent them, so both are applied synchronously in the client's reading
task (`emit(..., ack=...)` and `on(...)`), never from a task that resumes
later. Outgoing ops are sent by one pump task, in order.

Against a server that acks nothing (the tutorial's, which only relays
`document-change` to the document's room), `join_without_ack` starts from
an empty document, as the tutorial's editor does, and ops go out without
an ack request; such a session is idle when its replica has nothing left
to send.
"""

from __future__ import annotations

from typing import Any

import trio

from server.catalogue import CursorUpdate, DocumentChange, EventName, JoinDocument
from server.collab.base import Replica
from server.collab.registry import get_strategy
from simulate.client import SocketIOClient
from simulate.measurement import StampedCursorUpdate


class DocumentSession:
    def __init__(self, client: SocketIOClient, document_id: str, user_id: str) -> None:
        self.client = client
        self.document_id = document_id
        self.user_id = user_id
        self.replica: Replica | None = None
        self.strategy: str | None = None
        self.errors: list[Any] = []
        self.acked = 0
        self.sent = 0
        self.acks = True  # False after join_without_ack: nothing is acked
        self._wake = trio.Event()
        client.on(EventName.DOCUMENT_CHANGE, self._on_change)
        client.on(EventName.CURSOR_UPDATE, self._on_cursor)

    async def join(self, strategy: str | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
        request = JoinDocument(self.document_id, self.user_id, strategy or None)
        reply = await self.client.call_event(request, timeout=timeout)
        if not reply.get("ok"):
            raise RuntimeError(f"join-document refused: {reply.get('error')}")
        self.strategy = reply["strategy"]
        self.replica = get_strategy(self.strategy).create_replica(self.user_id, reply)
        for user_id, wire in (reply.get("cursors") or {}).items():
            if user_id != self.user_id:
                self.replica.set_remote_cursor(user_id, wire)
        return dict(reply)

    async def join_without_ack(self, strategy: str = "naive") -> None:
        """Join a relay-only server: no state comes back, the document starts empty."""
        await self.client.emit_event(JoinDocument(self.document_id, self.user_id))
        self.acks = False
        self.strategy = strategy
        self.replica = get_strategy(strategy).create_replica(self.user_id, {"content": ""})

    # ---------------------------------------------------------------- editing
    def insert(self, pos: int, text: str) -> None:
        self._require().insert(pos, text)
        self._wake.set()

    def delete(self, pos: int, length: int) -> None:
        self._require().delete(pos, length)
        self._wake.set()

    async def move_cursor(self, pos: int, sent_at: int | None = None) -> None:
        """`sent_at` (ns) rides in the cursor object, for servers that relay it as sent."""
        cursor = CursorUpdate(self.document_id, self._require().encode_cursor(pos), self.user_id)
        await self.client.emit_event(
            cursor if sent_at is None else StampedCursorUpdate(cursor, sent_at)
        )

    async def run_pump(self) -> None:
        """Send whatever the replica has ready, whenever it has something (run in a nursery)."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self.flush()

    async def flush(self) -> None:
        replica = self._require()
        for op in replica.take_outgoing():
            self.sent += 1
            ack = self._on_ack if self.acks else None
            await self.client.emit_event(DocumentChange(self.document_id, op), ack=ack)

    # --------------------------------------------------------------- incoming
    def _on_ack(self, reply: Any) -> None:
        replica = self._require()
        if not isinstance(reply, dict) or not reply.get("ok"):
            self.errors.append(reply)
            return
        self.acked += 1
        replica.acknowledge({k: v for k, v in reply.items() if k not in ("ok", "documentId")})
        self._wake.set()  # OT may have a buffered op ready now

    def _on_change(self, change: Any) -> None:
        if self.replica is None or not isinstance(change, dict):
            return
        if change.get("documentId", self.document_id) != self.document_id:
            return
        self.replica.receive(change)

    def _on_cursor(self, update: Any) -> None:
        if self.replica is None or not isinstance(update, dict):
            return
        if update.get("documentId", self.document_id) != self.document_id:
            return
        user_id = update.get("userId")
        if user_id and user_id != self.user_id and not update.get("left"):
            self.replica.set_remote_cursor(user_id, update.get("position"))

    # ------------------------------------------------------------------ state
    @property
    def text(self) -> str:
        return self._require().text()

    @property
    def idle(self) -> bool:
        if not self.acks:
            return self._require().is_idle()
        return self._require().is_idle() and self.acked + len(self.errors) >= self.sent

    def _require(self) -> Replica:
        if self.replica is None:
            raise RuntimeError("join the document first")
        return self.replica
