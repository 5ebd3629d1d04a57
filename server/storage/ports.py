"""The storage ports: one Protocol per data set, in the features' words.

A feature holds the port it needs (`ChatLog`, `DocumentLog`,
`NotificationBacklog`, `SessionStore`) and never a backend: what a row is
and when it is durable is said here, how it is stored is the backend's
business (server/storage/sqlite.py is the embedded one).

Two kinds of method, on purpose:
- writes return a `PendingWrite` at once (or raise `StoreBusy` at the call)
  and are durable when it settles; a backend settles its writes in the
  order they were submitted, across all four ports, so commit callbacks
  keep that order too;
- reads are `async` and see every write settled before they started.
  A read does not wait for writes still queued: a feature that evicts and
  reloads a key fences it first (`WriteFence`).

Bodies that a feature also sends on the wire (a chat message, a
notification) are stored as the JSON text it encoded once: the port keeps
them opaque.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from server.storage.writes import PendingWrite

# ----------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A chat message as kept in its room's log: its per-room `seq` and its JSON text."""

    seq: int
    body: str


@dataclass(frozen=True, slots=True)
class StoredOp:
    """One accepted change of a document's op log, as received (JSON text), by `sender`."""

    seq: int
    sender: str
    change: str


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A stored document: its conflict strategy and its op log in `seq` order.

    The log may have a gap (an op whose commit failed while later ones did
    not): the feature replays the contiguous prefix and truncates the rest.
    """

    strategy: str
    ops: tuple[StoredOp, ...]


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A notification to one user: its per-user `seq`, its `id`, and its JSON text."""

    seq: int
    id: str
    body: str


@dataclass(frozen=True, slots=True)
class RecoverySession:
    """What Socket.IO connection state recovery keeps of a disconnected socket.

    The shape of socket.io's `SessionToPersist` (see ../shared/CLUSTER.md):
    the socket's `sid`, its private session id `pid` (the key), the rooms it
    was in and its `data` (any JSON value).
    """

    sid: str
    pid: str
    rooms: frozenset[str]
    data: Any  # a JSON value: the edge where any shape is allowed


# ---------------------------------------------------------------------- ports


class ChatLog(Protocol):
    """Each chat room's messages, in `seq` order."""

    async def recent(self, room: str, limit: int) -> list[StoredMessage]:
        """The room's newest `limit` messages, oldest first."""
        ...

    def append(self, room: str, message: StoredMessage) -> PendingWrite:
        """Queue a message; a `seq` the room already has fails this write only."""
        ...


class DocumentLog(Protocol):
    """Each document's strategy and the append-only log of its accepted changes."""

    async def load(self, document: str) -> DocumentRecord | None:
        """The document and its whole op log, or None if it was never created."""
        ...

    def create(self, document: str, strategy: str) -> tuple[PendingWrite, PendingWrite]:
        """Queue a new document: drop ops left without a document row, then store its row.

        Returns `(orphans_dropped, created)` in commit order. Ops can be
        orphans when a document's row failed to commit while some of its ops
        did; a new document must not inherit them. Call it for a document
        that `load` did not find: every op stored under its id is dropped. An
        existing row (and its strategy) is left as it is.
        Raises `StoreBusy` without queueing either write if both do not fit.
        """
        ...

    def append(self, document: str, op: StoredOp) -> PendingWrite:
        """Queue one op; a `seq` the document already has fails this write only."""
        ...

    def truncate(self, document: str, after_seq: int) -> PendingWrite:
        """Queue the removal of every op with `seq > after_seq` (the rows after a gap)."""
        ...

    def has_room(self, n: int = 1) -> bool:
        """Whether `n` more writes would be accepted now (ask before changing memory).

        A document change is applied in memory before its op is queued: the
        feature asks first, so that a full queue refuses the change instead
        of leaving memory ahead of the log.
        """
        ...


class NotificationBacklog(Protocol):
    """Each user's notifications, in per-user `seq` order."""

    async def recent(self, user_id: str, limit: int) -> list[StoredNotification]:
        """The user's newest `limit` notifications, oldest first."""
        ...

    def append(self, user_id: str, notification: StoredNotification) -> PendingWrite:
        """Queue a notification; a `seq` the user already has fails this write only."""
        ...


class SessionStore(Protocol):
    """Sessions of disconnected sockets, kept for a while so a reconnect can recover them.

    Time is the caller's (`now_ms`, milliseconds on any monotonic-enough
    scale the caller uses consistently): the store reads no clock, so a
    virtual-time run controls expiry like everything else.
    """

    def save(self, session: RecoverySession, *, now_ms: int, ttl_ms: int) -> PendingWrite:
        """Queue `session` under its pid until `now_ms + ttl_ms` (replacing one with that pid).

        Sessions whose time is up by `now_ms` are purged with it.
        """
        ...

    async def take(self, pid: str, *, now_ms: int) -> RecoverySession | None:
        """Read and delete the session of `pid` in one step; None if absent or expired.

        One-shot: of two reconnects racing with the same pid, one gets the
        session. It sees every `save` submitted before it (a quick reconnect
        does not race the disconnect's write), and the deletion is durable
        when it returns. Raises `StoreBusy` if the queue is full.
        """
        ...


class Storage(Protocol):
    """What a server composes: the four ports plus the backend's lifecycle.

    The server calls `open` before serving, runs `run` in its nursery for as
    long as it serves (the backend's writer: writes settle only while it
    runs), and calls `close` at the end, even when cancelled.
    """

    @property
    def chat_log(self) -> ChatLog: ...

    @property
    def document_log(self) -> DocumentLog: ...

    @property
    def notification_backlog(self) -> NotificationBacklog: ...

    @property
    def session_store(self) -> SessionStore: ...

    async def open(self) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...
