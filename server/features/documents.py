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
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from server.collab.base import CollabError, DocumentServer
from server.collab.registry import get_strategy
from server.features.arguments import arg, bind_user, identifier, mapping
from server.hub import DeferredAck, EventError, Socket
from server.protocol.errors import ProtocolError
from server.protocol.socketio import dumps
from server.storage.ports import DocumentLog, StoredOp
from server.storage.writes import PendingWrite, StoreBusy, WriteFence

log = logging.getLogger(__name__)

# documents one connection may have joined at once
MAX_DOCUMENTS_PER_SOCKET = 100
# a cursor position is a number, null, or a small JSON value (a CRDT item id)
MAX_CURSOR_BYTES = 1024
RELOADED = "document reloaded: rejoin"

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
    # a change of the op log failed to commit: memory is ahead of the log, so the
    # document is dropped (members are told to rejoin) and reloads from the log
    broken: bool = False

    @property
    def room(self) -> str:
        return document_room(self.id)


class Documents:
    def __init__(self, server: ReferenceServer) -> None:
        self.hub = server.hub
        self.document_log: DocumentLog = server.storage.document_log
        self.default_strategy = server.config.default_strategy
        self.documents: dict[str, Document] = {}
        # a document evicted with rows still queued reloads only after they are done
        self.fence = WriteFence()

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
        joined = sock.state.setdefault("documents", set())
        if document_id not in joined and len(joined) >= MAX_DOCUMENTS_PER_SOCKET:
            raise EventError(
                "rate_limited",
                f"a connection may join at most {MAX_DOCUMENTS_PER_SOCKET} documents:"
                " leave one first",
            )
        doc = await self._document(document_id, wanted)
        if wanted is not None and wanted != doc.strategy:
            self._evict_if_unused(doc)
            raise EventError(
                "conflict",
                f"document {document_id!r} uses strategy {doc.strategy!r}, not {wanted!r}",
            )
        sock.join(doc.room)
        joined.add(document_id)
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
        # Everything that can refuse the change comes before `apply`: once the
        # document has changed in memory, the log row must follow it.
        try:
            encoded = dumps(change)
        except ProtocolError:
            raise EventError("bad_request", "change must be JSON (finite numbers only)") from None
        if not self.document_log.has_room(1):
            raise EventError("rate_limited", "the server is saving too many changes")
        try:
            applied = doc.server.apply(change, sender)
        except CollabError as exc:
            raise EventError(exc.code, exc.message) from None
        doc.seq += 1
        try:
            write = self._log(doc, sender, encoded)
        except StoreBusy:  # has_room said yes, and nothing ran since: cannot happen
            self._break(doc, "the op log is full")
            raise EventError("internal", RELOADED) from None
        reply = DeferredAck()
        payload = applied.broadcast
        if isinstance(payload, dict) and "documentId" not in payload:
            payload = {**payload, "documentId": document_id}
        namespace = sock.namespace

        def committed(error: BaseException | None) -> None:
            # Broadcast and ack together, in commit order: every client sees
            # changes in the server's order, and its own ack in its place.
            try:
                if error is not None and not doc.broken:
                    self._break(doc, f"change not stored: {error}")
                if doc.broken:
                    # this change, or one before it, is not in the log: nobody may build on it
                    reply.reject(EventError("internal", RELOADED))
                    return
                if payload is not None:
                    try:
                        self.hub.emit_to_room(
                            namespace, doc.room, "document-change", payload, skip=sock
                        )
                    except Exception:
                        log.exception("document-change broadcast failed")
                reply.resolve({"documentId": document_id, **applied.ack})
            finally:
                # whatever happened above, the client hears about its change (no-op if settled)
                reply.reject(EventError("internal", "change outcome unknown: rejoin"))

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
        position = _cursor_position(body["position"])
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
        if user_id is not None:
            still_there = any(m.user_id == user_id for m in sock.namespace.members(doc.room))
            if not still_there and doc.cursors.pop(user_id, _ABSENT) is not _ABSENT:
                # left: true tells every other editor to remove this cursor
                gone = {"documentId": doc.id, "userId": user_id, "position": None, "left": True}
                self.hub.emit_to_room(sock.namespace, doc.room, "cursor-update", gone)
        self._evict_if_unused(doc)

    def _has_members(self, doc: Document) -> bool:
        return any(doc.room in ns.rooms for ns in self.hub.namespaces.values())

    def _evict_if_unused(self, doc: Document) -> None:
        """Nobody edits it: forget it (its queued rows are fenced; the next join reloads)."""
        if doc.loaded.is_set() and not self._has_members(doc):
            self._evict(doc)

    def _evict(self, doc: Document) -> None:
        if self.documents.get(doc.id) is doc:
            del self.documents[doc.id]

    def _break(self, doc: Document, reason: str) -> None:
        """A change did not reach the log: drop the document, its members must rejoin.

        Every change accepted after the lost one was built on it: their acks
        are refused too (see `committed`), and the reload keeps only the
        log's contiguous prefix, deleting the rows after the gap.
        """
        if doc.broken:
            return
        doc.broken = True
        log.warning("document %r dropped from memory: %s", doc.id, reason)
        self._evict(doc)
        notice = {
            "code": "internal",
            "message": f"{RELOADED} ({reason})",
            "documentId": doc.id,
            "event": "document-change",
        }
        for ns in self.hub.namespaces.values():
            for member in list(ns.members(doc.room)):
                member.leave(doc.room)
                member.state.get("documents", set()).discard(doc.id)
                member.emit("error", notice)

    async def _document(self, document_id: str, wanted: str | None) -> Document:
        while True:
            doc = self.documents.get(document_id)
            if doc is None:
                doc = await self._load_or_create(document_id, wanted)
            await doc.loaded.wait()
            if doc.load_error is not None:
                raise EventError("internal", doc.load_error)
            if not doc.broken and self.documents.get(document_id) is doc:
                return doc
            # dropped while we waited for it: load it again

    async def _load_or_create(self, document_id: str, wanted: str | None) -> Document:
        # Registered before the first await, so concurrent joiners share one load.
        placeholder = Document(document_id, wanted or self.default_strategy, _Loading())
        self.documents[document_id] = placeholder
        try:
            # rows of an evicted copy of this document may still be queued
            await self.fence.wait(document_id)
            record = await self.document_log.load(document_id)
            if record is not None:
                placeholder.strategy = record.strategy
                placeholder.server = get_strategy(placeholder.strategy).create_document()
                placeholder.seq = self._replay(placeholder, record.ops)
                if len(record.ops) > placeholder.seq:
                    # rows after a gap were built on a change that is not in the log
                    self.fence.track(
                        document_id, self.document_log.truncate(document_id, placeholder.seq)
                    )
            else:
                placeholder.server = get_strategy(placeholder.strategy).create_document()
                # not awaited: the op log's rows queue behind it, and acks wait for those.
                # Rows of a document whose own row never committed are orphans: dropped first.
                dropped, created = self.document_log.create(document_id, placeholder.strategy)
                self.fence.track(document_id, dropped)
                self.fence.track(document_id, created)

                def stored(error: BaseException | None) -> None:
                    if error is not None:
                        self._break(placeholder, f"document not stored: {error}")

                created.on_commit(stored)
        except Exception as exc:
            if self.documents.get(document_id) is placeholder:
                del self.documents[document_id]
            placeholder.load_error = f"document {document_id!r} could not be loaded: {exc}"
        finally:
            placeholder.loaded.set()
        return placeholder

    @staticmethod
    def _replay(doc: Document, ops: tuple[StoredOp, ...]) -> int:
        """Apply the log's contiguous prefix (seq 1, 2, ...); returns the last seq applied."""
        last = 0
        for op in ops:
            if op.seq != last + 1:
                log.warning("document %r: op log gap after seq %d", doc.id, last)
                break
            try:
                doc.server.apply(json.loads(op.change), op.sender)
            except (CollabError, ValueError) as exc:
                log.warning("document %r: op %d does not apply (%s)", doc.id, op.seq, exc)
                break
            last = op.seq
        return last

    def _log(self, doc: Document, sender: str, change: str) -> PendingWrite:
        return self.fence.track(
            doc.id, self.document_log.append(doc.id, StoredOp(doc.seq, sender, change))
        )


def _cursor_position(position: Any) -> Any:
    """A position is a number, null, a string or a small JSON value; anything else is refused.

    It is stored and sent back in every later join's ack: a value that cannot
    be encoded, or a huge one, would break those acks for everybody.
    """
    if isinstance(position, bool):
        raise EventError("bad_request", "cursor.position must not be a boolean")
    if isinstance(position, int) and position < 0:
        raise EventError("bad_request", "cursor.position must not be negative")
    try:
        encoded = dumps(position)
    except ProtocolError:
        raise EventError("bad_request", "cursor.position must be JSON (finite numbers)") from None
    if len(encoded.encode("utf-8", "surrogatepass")) > MAX_CURSOR_BYTES:
        raise EventError("too_large", f"cursor.position exceeds {MAX_CURSOR_BYTES} bytes")
    return position


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
