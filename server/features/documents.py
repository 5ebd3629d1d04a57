"""Collaborative documents: one conflict strategy per document, relayed through the hub.

The feature is strategy-agnostic: it validates the envelope (document id,
membership), hands the change to the document's `DocumentServer`
(server/collab), broadcasts what the strategy says to broadcast, and acks
once the change is in the store. Durability is an append-only log of the
accepted changes as received: strategies are deterministic, so replaying the
log into a fresh document rebuilds exactly the same state after a restart.

Strategy choice: the first joiner's `{strategy}` option, else the server's
`default_strategy` (naive, so that the tutorial's editor works unchanged).
Joining with another strategy is a `conflict`; a change in another
strategy's format is a `bad_request` from the strategy itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from server.collab.base import CollabError, DocumentServer
from server.collab.registry import get_strategy
from server.features.arguments import arg, bind_user, identifier, mapping
from server.hub import DeferredAck, EventError, Socket
from server.store import PendingWrite, Store, StoreBusy

if TYPE_CHECKING:
    from server.app import ReferenceServer


def install(server: ReferenceServer) -> Documents:
    documents = Documents(server)
    hub = server.hub
    hub.on("join-document")(documents.on_join_document)
    hub.on("leave-document")(documents.on_leave_document)
    hub.on("document-change")(documents.on_document_change)
    hub.on("cursor-update")(documents.on_cursor_update)
    hub.on_disconnect(documents.on_disconnect)
    return documents


@dataclass(slots=True)
class Document:
    id: str
    strategy: str
    server: DocumentServer
    seq: int = 0  # changes accepted so far (the op log's sequence)
    cursors: dict[str, Any] = field(default_factory=dict)
    loaded: trio.Event = field(default_factory=trio.Event)
    load_error: str | None = None

    @property
    def room(self) -> str:
        return document_room(self.id)


class Documents:
    def __init__(self, server: ReferenceServer) -> None:
        self.hub = server.hub
        self.store: Store = server.store
        self.default_strategy = server.config.default_strategy
        self.documents: dict[str, Document] = {}

    # ---------------------------------------------------------------- events
    async def on_join_document(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        document_id = identifier(arg(args, 0, "documentId"), "documentId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        options = mapping(args[2], "options") if len(args) > 2 and args[2] is not None else {}
        wanted = options.get("strategy")
        if wanted is not None:
            wanted = identifier(wanted, "strategy")
            try:
                get_strategy(wanted)
            except CollabError as exc:
                raise EventError(exc.code, exc.message) from None
        bind_user(sock, user_id)
        doc = await self._document(document_id, wanted)
        if wanted is not None and wanted != doc.strategy:
            raise EventError(
                "conflict",
                f"document {document_id!r} uses strategy {doc.strategy!r}, not {wanted!r}",
            )
        sock.join(doc.room)
        sock.state.setdefault("documents", set()).add(document_id)
        snapshot = doc.server.snapshot()
        return {
            "documentId": document_id,
            "strategy": doc.strategy,
            "content": snapshot["content"],
            "revision": snapshot["revision"],
            "state": snapshot.get("state"),
            "cursors": dict(doc.cursors),
        }

    async def on_leave_document(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        document_id = identifier(arg(args, 0, "documentId"), "documentId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        bind_user(sock, user_id)
        doc = self._member_document(sock, document_id)
        self._leave(sock, doc)
        return {"documentId": document_id}

    async def on_document_change(self, sock: Socket, args: list[Any]) -> DeferredAck:
        document_id = identifier(arg(args, 0, "documentId"), "documentId")
        change = arg(args, 1, "change")
        doc = self._member_document(sock, document_id)
        sender = sock.user_id or sock.sid
        if isinstance(change, dict) and "userId" in change and change["userId"] != sender:
            raise EventError("forbidden", f"this connection edits as {sender!r}")
        try:
            encoded = json.dumps(change, separators=(",", ":"))
        except (TypeError, ValueError):
            raise EventError("bad_request", "change must be JSON") from None
        try:
            applied = doc.server.apply(change, sender)
        except CollabError as exc:
            raise EventError(exc.code, exc.message) from None
        doc.seq += 1
        write = self._log(doc, sender, encoded)
        reply = DeferredAck()
        payload = applied.broadcast
        if isinstance(payload, dict) and "documentId" not in payload:
            payload = {**payload, "documentId": document_id}
        namespace = sock.namespace

        def committed(error: BaseException | None) -> None:
            # Broadcast and ack together, in commit order: every client sees
            # changes in the server's order, and its own ack in its place.
            if payload is not None:
                self.hub.emit_to_room(namespace, doc.room, "document-change", payload, skip=sock)
            if error is None:
                reply.resolve({"documentId": document_id, **applied.ack})
            else:
                reply.reject(EventError("internal", f"change not stored: {error}"))

        write.on_commit(committed)
        return reply

    async def on_cursor_update(self, sock: Socket, args: list[Any]) -> None:
        document_id = identifier(arg(args, 0, "documentId"), "documentId")
        body = mapping(arg(args, 1, "cursor"), "cursor")
        doc = self._member_document(sock, document_id)
        user_id = identifier(body.get("userId", sock.user_id), "userId")
        bind_user(sock, user_id)
        if "position" not in body:
            raise EventError("bad_request", "cursor.position is required")
        # null is a position too: CRDT cursors at the very start name no character
        position = body["position"]
        if isinstance(position, bool):
            raise EventError("bad_request", "cursor.position must not be a boolean")
        if isinstance(position, int) and position < 0:
            raise EventError("bad_request", "cursor.position must not be negative")
        doc.cursors[user_id] = position
        update = {"documentId": document_id, "userId": user_id, "position": position}
        self.hub.emit_to_room(
            sock.namespace, doc.room, "cursor-update", update, skip=sock, volatile=True
        )
        return None

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for document_id in list(sock.state.get("documents", ())):
            doc = self.documents.get(document_id)
            if doc is not None:
                self._leave(sock, doc)

    # ------------------------------------------------------------------ state
    def _member_document(self, sock: Socket, document_id: str) -> Document:
        doc = self.documents.get(document_id)
        if doc is None:
            raise EventError("not_found", f"unknown document {document_id!r}: join it first")
        if document_id not in sock.state.get("documents", ()):
            raise EventError("forbidden", f"join document {document_id!r} before editing it")
        return doc

    def _leave(self, sock: Socket, doc: Document) -> None:
        sock.leave(doc.room)
        sock.state.get("documents", set()).discard(doc.id)
        user_id = sock.user_id
        if user_id is None:
            return
        still_there = any(m.user_id == user_id for m in sock.namespace.members(doc.room))
        if not still_there and doc.cursors.pop(user_id, _ABSENT) is not _ABSENT:
            # left: true tells every other editor to remove this cursor
            gone = {"documentId": doc.id, "userId": user_id, "position": None, "left": True}
            self.hub.emit_to_room(sock.namespace, doc.room, "cursor-update", gone)

    async def _document(self, document_id: str, wanted: str | None) -> Document:
        doc = self.documents.get(document_id)
        if doc is None:
            doc = await self._load_or_create(document_id, wanted)
        await doc.loaded.wait()
        if doc.load_error is not None:
            raise EventError("internal", doc.load_error)
        return doc

    async def _load_or_create(self, document_id: str, wanted: str | None) -> Document:
        # Registered before the first await, so concurrent joiners share one load.
        placeholder = Document(document_id, wanted or self.default_strategy, _Loading())
        self.documents[document_id] = placeholder
        try:
            rows = await self.store.query(
                "SELECT strategy FROM documents WHERE document = ?", (document_id,)
            )
            if rows:
                placeholder.strategy = rows[0][0]
                placeholder.server = get_strategy(placeholder.strategy).create_document()
                ops = await self.store.query(
                    "SELECT sender, change FROM document_ops WHERE document = ? ORDER BY seq",
                    (document_id,),
                )
                for sender, change in ops:
                    placeholder.server.apply(json.loads(change), sender)
                placeholder.seq = len(ops)
            else:
                placeholder.server = get_strategy(placeholder.strategy).create_document()
                # not awaited: the op log's rows queue behind it, and acks wait for those
                self.store.submit(
                    "INSERT OR IGNORE INTO documents (document, strategy) VALUES (?, ?)",
                    (document_id, placeholder.strategy),
                )
        except Exception as exc:
            self.documents.pop(document_id, None)
            placeholder.load_error = f"document {document_id!r} could not be loaded: {exc}"
        finally:
            placeholder.loaded.set()
        return placeholder

    def _log(self, doc: Document, sender: str, change: str) -> PendingWrite:
        try:
            return self.store.submit(
                "INSERT INTO document_ops (document, seq, sender, change) VALUES (?, ?, ?, ?)",
                (doc.id, doc.seq, sender, change),
            )
        except StoreBusy:
            raise EventError("rate_limited", "the server is saving too many changes") from None


class _Loading(DocumentServer):
    """Stands in while a document loads; never reachable by a change (joins wait for `loaded`)."""

    strategy = "loading"

    def apply(self, change: Any, sender: str) -> Any:
        raise CollabError("conflict", "document is still loading")

    def snapshot(self) -> dict[str, Any]:
        return {"content": "", "revision": 0, "state": None}

    def text(self) -> str:
        return ""


_ABSENT = object()


def document_room(document_id: str) -> str:
    return f"doc:{document_id}"
