"""Collaborative documents: one conflict strategy per document, relayed through the hub.

The feature is strategy-agnostic: it checks membership, hands the change to
the document's `DocumentServer` (server/collab), broadcasts what the strategy
says to broadcast, and acks once the change is in the store. Durability is an
append-only log of the accepted changes as received: strategies are
deterministic, so replaying the log into a fresh document rebuilds exactly
the same state after a restart. The op log's sequence is the document's
order: while a document lives in one process, that process owns it (see
docs/protocol.md for a cluster).

Strategy choice: the first joiner's `{strategy}` option, else the server's
`default_strategy` (naive, so that the tutorial's editor works unchanged).
Joining with another strategy is a `conflict`; a change in another
strategy's format is a `bad_request` from the strategy itself.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import trio

from server.catalogue import (
    CursorMoved,
    CursorUpdate,
    DocumentChange,
    DocumentChanged,
    DocumentChangeReply,
    DocumentReply,
    ErrorEvent,
    EventName,
    JoinDocument,
    JoinDocumentReply,
    LeaveDocument,
    Ok,
)
from server.collab.base import CollabError, DocumentServer
from server.collab.registry import get_strategy
from server.errors import ErrorCode, EventError
from server.hub import DeferredAck, Hub, Socket
from server.rooms import document_room
from server.services import Services
from server.storage.ports import StoredOp
from server.storage.writes import PendingWrite, StoreBusy, WriteFence

log = logging.getLogger(__name__)

# documents one connection may have joined at once
MAX_DOCUMENTS_PER_SOCKET = 100
RELOADED = "document reloaded: rejoin"


def install(hub: Hub, services: Services) -> Documents:
    documents = Documents(hub, services)
    hub.on(JoinDocument)(documents.on_join_document)
    hub.on(LeaveDocument)(documents.on_leave_document)
    hub.on(DocumentChange)(documents.on_document_change)
    hub.on(CursorUpdate)(documents.on_cursor_update)
    hub.on_disconnect(documents.on_disconnect)
    services.gauges.register("documents", lambda: len(documents.documents))
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
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.document_log = services.storage.document_log
        self.default_strategy = services.config.default_strategy
        self.documents: dict[str, Document] = {}
        # a document evicted with rows still queued reloads only after they are done
        self.fence = WriteFence()

    # ---------------------------------------------------------------- events
    async def on_join_document(self, sock: Socket, join: JoinDocument) -> JoinDocumentReply:
        wanted = join.strategy
        if wanted is not None:
            try:
                get_strategy(wanted)
            except CollabError as exc:
                raise EventError(exc.code, exc.message) from None
        self.hub.act_as(sock, join.user_id)
        joined = sock.state.setdefault("documents", set())
        if join.document_id not in joined and len(joined) >= MAX_DOCUMENTS_PER_SOCKET:
            raise EventError(
                ErrorCode.RATE_LIMITED,
                f"a connection may join at most {MAX_DOCUMENTS_PER_SOCKET} documents:"
                " leave one first",
            )
        doc = await self._document(join.document_id, wanted)
        if wanted is not None and wanted != doc.strategy:
            self._evict_if_unused(doc)
            raise EventError(
                ErrorCode.CONFLICT,
                f"document {join.document_id!r} uses strategy {doc.strategy!r}, not {wanted!r}",
            )
        sock.join(doc.room)
        joined.add(join.document_id)
        snapshot = doc.server.snapshot()
        return JoinDocumentReply(
            join.document_id,
            doc.strategy,
            snapshot["content"],
            snapshot["revision"],
            snapshot.get("state"),
            dict(doc.cursors),
        )

    async def on_leave_document(self, sock: Socket, leave: LeaveDocument) -> DocumentReply:
        self.hub.act_as(sock, leave.user_id)
        doc = self._member_document(sock, leave.document_id)
        self._leave(sock, doc)
        return DocumentReply(leave.document_id)

    async def on_document_change(self, sock: Socket, change: DocumentChange) -> DeferredAck:
        document_id = change.document_id
        doc = self._member_document(sock, document_id)
        sender = sock.user_id or sock.sid
        claimed = change.change.get("userId", sender)
        if claimed != sender:
            raise EventError(ErrorCode.FORBIDDEN, f"this connection edits as {sender!r}")
        # Everything that can refuse the change comes before `apply`: once the
        # document has changed in memory, the log row must follow it.
        if not self.document_log.has_room(1):
            raise EventError(ErrorCode.RATE_LIMITED, "the server is saving too many changes")
        try:
            applied = doc.server.apply(change.change, sender)
        except CollabError as exc:
            raise EventError(exc.code, exc.message) from None
        doc.seq += 1
        try:
            write = self._log(doc, sender, change.encoded)
        except StoreBusy:  # has_room said yes, and nothing ran since: cannot happen
            self._break(doc, "the op log is full")
            raise EventError(ErrorCode.INTERNAL, RELOADED) from None
        deferred = DeferredAck()
        relayed = (
            None if applied.broadcast is None else DocumentChanged(document_id, applied.broadcast)
        )
        namespace = sock.namespace

        def committed(error: BaseException | None) -> None:
            # Broadcast and ack together, in commit order: every client sees
            # changes in the server's order, and its own ack in its place.
            try:
                if error is not None and not doc.broken:
                    self._break(doc, f"change not stored: {error}")
                if doc.broken:
                    # this change, or one before it, is not in the log: nobody may build on it
                    deferred.reject(EventError(ErrorCode.INTERNAL, RELOADED))
                    return
                if relayed is not None:
                    try:
                        self.hub.emit_event(relayed, namespace=namespace, to=doc.room, skip=sock)
                    except Exception:
                        log.exception("document-change broadcast failed")
                deferred.resolve(DocumentChangeReply(document_id, dict(applied.ack)))
            finally:
                # whatever happened above, the client hears about its change (no-op if settled)
                deferred.reject(EventError(ErrorCode.INTERNAL, "change outcome unknown: rejoin"))

        write.on_commit(committed)
        return deferred

    async def on_cursor_update(self, sock: Socket, cursor: CursorUpdate) -> Ok:
        doc = self._member_document(sock, cursor.document_id)
        user_id = cursor.sender(sock.user_id)
        self.hub.act_as(sock, user_id)
        # null is a position too: CRDT cursors at the very start name no character
        doc.cursors[user_id] = cursor.position
        moved = CursorMoved(cursor.document_id, user_id, cursor.position)
        self.hub.emit_event(moved, namespace=sock.namespace, to=doc.room, skip=sock, volatile=True)
        return Ok()

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for document_id in list(sock.state.get("documents", ())):
            doc = self.documents.get(document_id)
            if doc is not None:
                self._leave(sock, doc)

    # ------------------------------------------------------------------ state
    def _member_document(self, sock: Socket, document_id: str) -> Document:
        doc = self.documents.get(document_id)
        if doc is None:
            raise EventError(
                ErrorCode.NOT_FOUND, f"unknown document {document_id!r}: join it first"
            )
        if document_id not in sock.state.get("documents", ()):
            raise EventError(
                ErrorCode.FORBIDDEN, f"join document {document_id!r} before editing it"
            )
        return doc

    def _leave(self, sock: Socket, doc: Document) -> None:
        sock.leave(doc.room)
        sock.state.get("documents", set()).discard(doc.id)
        user_id = sock.user_id
        if user_id is not None:
            still_there = any(m.user_id == user_id for m in sock.namespace.members(doc.room))
            if not still_there and doc.cursors.pop(user_id, _ABSENT) is not _ABSENT:
                # left: true tells every other editor to remove this cursor
                gone = CursorMoved(doc.id, user_id, None, left=True)
                self.hub.emit_event(gone, namespace=sock.namespace, to=doc.room)
        self._evict_if_unused(doc)

    def _evict_if_unused(self, doc: Document) -> None:
        """Nobody edits it: forget it (its queued rows are fenced; the next join reloads)."""
        if doc.loaded.is_set() and not self.hub.has_room(doc.room):
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
        notice = ErrorEvent(
            ErrorCode.INTERNAL, f"{RELOADED} ({reason})", EventName.DOCUMENT_CHANGE, doc.id
        )
        for ns in self.hub.namespaces.values():
            for member in list(ns.members(doc.room)):
                member.leave(doc.room)
                member.state.get("documents", set()).discard(doc.id)
                member.emit_event(notice)

    async def _document(self, document_id: str, wanted: str | None) -> Document:
        while True:
            doc = self.documents.get(document_id)
            if doc is None:
                doc = await self._load_or_create(document_id, wanted)
            await doc.loaded.wait()
            if doc.load_error is not None:
                raise EventError(ErrorCode.INTERNAL, doc.load_error)
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
