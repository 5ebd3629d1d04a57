"""The embedded storage backend: one SQLite file, group commit off the event loop.

The only module with SQL text. It implements the four ports of
server/storage/ports.py over one connection, and owns the writer that makes
"ack means durable" cheap:

- Why a writer task: a commit costs an fsync-ish syscall; doing one per
  chat message on the trio thread would stall every connection. Writes are
  queued (bounded: `StoreBusy` when full); the writer takes everything
  queued at that moment (up to `MAX_BATCH`), runs it as one transaction in a
  worker thread, and only then settles the writes, in submission order, so
  an ack sent from a commit callback means the row is committed.
- One bad row does not fail its neighbours: when a batch's transaction
  fails, it is rolled back and its writes are applied again one by one,
  each in a transaction of its own, and only the failing ones get an error.
- All SQLite calls, reads included, go through one worker thread at a time
  (a limiter of 1), so the connection is never used concurrently.
- `inline` runs SQLite on the trio thread: for virtual-time runs
  (deterministic, and a `:memory:` database costs no I/O); never for a real
  server.

Statements are named module constants (`APPEND_MESSAGE`, ...): a queued
write carries its statements, not the handle the feature holds, and a test
that injects a failure names the statement it wants to fail.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from server.storage.ports import (
    DocumentRecord,
    RecoverySession,
    StoredMessage,
    StoredNotification,
    StoredOp,
)
from server.storage.writes import PendingWrite, StoreBusy

T = TypeVar("T")
Row = tuple[Any, ...]

# Existing tables and columns stay as they are: files written by earlier
# versions open unchanged. New tables are added with IF NOT EXISTS.
SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE TABLE IF NOT EXISTS documents (
    document TEXT PRIMARY KEY,
    strategy TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS document_ops (
    document TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    change TEXT NOT NULL,
    PRIMARY KEY (document, seq)
);
CREATE TABLE IF NOT EXISTS notifications (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE TABLE IF NOT EXISTS sessions (
    pid TEXT PRIMARY KEY,
    sid TEXT NOT NULL,
    rooms TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
"""

MAX_BATCH = 2000
MAX_QUEUED = 100_000


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement of this backend; `returns_rows` for a write that reads (RETURNING)."""

    name: str
    sql: str
    returns_rows: bool = False


RECENT_MESSAGES = Statement(
    "recent messages", "SELECT seq, body FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?"
)
APPEND_MESSAGE = Statement(
    "append message", "INSERT INTO messages (room, seq, body) VALUES (?, ?, ?)"
)
DOCUMENT_STRATEGY = Statement(
    "document strategy", "SELECT strategy FROM documents WHERE document = ?"
)
DOCUMENT_OPS = Statement(
    "document ops",
    "SELECT seq, sender, change FROM document_ops WHERE document = ? ORDER BY seq",
)
DROP_ORPHAN_OPS = Statement("drop orphan ops", "DELETE FROM document_ops WHERE document = ?")
CREATE_DOCUMENT = Statement(
    "create document", "INSERT OR IGNORE INTO documents (document, strategy) VALUES (?, ?)"
)
APPEND_OP = Statement(
    "append op", "INSERT INTO document_ops (document, seq, sender, change) VALUES (?, ?, ?, ?)"
)
TRUNCATE_OPS = Statement("truncate ops", "DELETE FROM document_ops WHERE document = ? AND seq > ?")
RECENT_NOTIFICATIONS = Statement(
    "recent notifications",
    "SELECT seq, id, body FROM notifications WHERE user_id = ? ORDER BY seq DESC LIMIT ?",
)
APPEND_NOTIFICATION = Statement(
    "append notification",
    "INSERT INTO notifications (user_id, id, seq, body) VALUES (?, ?, ?, ?)",
)
PURGE_SESSIONS = Statement("purge sessions", "DELETE FROM sessions WHERE expires_at <= ?")
SAVE_SESSION = Statement(
    "save session",
    "INSERT OR REPLACE INTO sessions (pid, sid, rooms, data, expires_at) VALUES (?, ?, ?, ?, ?)",
)
TAKE_SESSION = Statement(
    "take session",
    "DELETE FROM sessions WHERE pid = ? RETURNING sid, rooms, data, expires_at",
    returns_rows=True,
)


# a statement with its parameters (a plain tuple: one is made per write, on the hot path)
Bound = tuple[Statement, tuple[object, ...]]


@dataclass(slots=True, eq=False)
class QueuedWrite:
    """One write in the writer's queue: statements applied together, and the caller's handle.

    `error` and `rows` are filled in by the worker thread; the writer task
    then settles `write` with `error` on the trio thread.
    """

    statements: tuple[Bound, ...]
    write: PendingWrite
    error: BaseException | None = None
    rows: list[Row] | None = None  # what its `returns_rows` statement returned

    def runs(self, statement: Statement) -> bool:
        """Whether this write applies `statement` (how a fault injection picks its batch)."""
        return any(bound[0] is statement for bound in self.statements)


class SqliteStorage:
    """The SQLite backend: a `Storage` (server/storage/ports.py) over one file.

    `max_queued` and `max_batch` exist so that tests reach the limits with a
    handful of writes; a server uses the defaults.
    """

    def __init__(
        self,
        path: str,
        *,
        inline: bool = False,
        max_queued: int = MAX_QUEUED,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.path = path
        self.inline = inline
        self.max_queued = max_queued
        self.max_batch = max_batch
        self._db: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._send, self._receive = trio.open_memory_channel[QueuedWrite](max_queued)
        self.commits = 0  # batch transactions run (failed ones included)
        self.writes = 0  # writes settled
        self.chat_log = SqliteChatLog(self)
        self.document_log = SqliteDocumentLog(self)
        self.notification_backlog = SqliteNotificationBacklog(self)
        self.session_store = SqliteSessionStore(self)

    # ------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        self._db = await self._in_thread(self._connect)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with trio.CancelScope(shield=True):
                await self._in_thread(db.close)

    async def run(self) -> None:
        """The group-commit writer; runs in the server's nursery."""
        async for first in self._receive:
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            with trio.CancelScope(shield=True):
                await self._in_thread(functools.partial(self._commit, batch))
            for item in batch:
                item.write.settle(item.error)

    # ----------------------------------------------------- for the port classes
    def has_room(self, n: int = 1) -> bool:
        """Whether `n` more writes can be queued now (check before changing memory state)."""
        return self._send.statistics().current_buffer_used + n <= self.max_queued

    def enqueue(self, *statements: Bound) -> QueuedWrite:
        """Queue one write without waiting; its statements are applied in one transaction."""
        item = QueuedWrite(statements, PendingWrite())
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            raise StoreBusy("the store's write queue is full") from None
        return item

    def submit(self, statement: Statement, params: tuple[object, ...]) -> PendingWrite:
        """`enqueue` for one statement, cut short: every chat message and op comes here."""
        write = PendingWrite()
        try:
            self._send.send_nowait(QueuedWrite(((statement, params),), write))
        except trio.WouldBlock:
            raise StoreBusy("the store's write queue is full") from None
        return write

    async def read(self, reader: Callable[[sqlite3.Connection], T]) -> T:
        """Run `reader(connection)` where the connection may be used; it sees settled writes."""

        def run() -> T:
            assert self._db is not None, "open the storage first"
            return reader(self._db)

        return await self._in_thread(run)

    async def query(self, statement: Statement, params: tuple[object, ...]) -> list[Row]:
        return await self.read(lambda db: db.execute(statement.sql, params).fetchall())

    # --------------------------------------------------------------- private
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.executescript(SCHEMA)
        return db

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        if self.inline:
            await trio.lowlevel.checkpoint()
            return fn()
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    def _commit(self, batch: list[QueuedWrite]) -> None:
        db = self._db
        assert db is not None
        try:
            db.execute("BEGIN")
            for item in batch:
                _apply(db, item)
            db.execute("COMMIT")
        except Exception:
            if db.in_transaction:
                db.execute("ROLLBACK")
            # retry one by one so that one bad row does not fail its neighbours
            for item in batch:
                try:
                    db.execute("BEGIN")
                    _apply(db, item)
                    db.execute("COMMIT")
                except Exception as exc:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    item.error = exc  # `committed()` raises it: `rows` are not read
        self.commits += 1
        self.writes += len(batch)


def _apply(db: sqlite3.Connection, item: QueuedWrite) -> None:
    for statement, params in item.statements:
        cursor = db.execute(statement.sql, params)
        if statement.returns_rows:
            item.rows = cursor.fetchall()


# ------------------------------------------------------------------- the ports


class _Port:
    """A port over the storage's one connection and one write queue."""

    def __init__(self, storage: SqliteStorage) -> None:
        self._storage = storage


class SqliteChatLog(_Port):
    async def recent(self, room: str, limit: int) -> list[StoredMessage]:
        rows = await self._storage.query(RECENT_MESSAGES, (room, limit))
        return [StoredMessage(seq, body) for seq, body in reversed(rows)]

    def append(self, room: str, message: StoredMessage) -> PendingWrite:
        return self._storage.submit(APPEND_MESSAGE, (room, message.seq, message.body))


class SqliteDocumentLog(_Port):
    async def load(self, document: str) -> DocumentRecord | None:
        def read(db: sqlite3.Connection) -> DocumentRecord | None:
            found = db.execute(DOCUMENT_STRATEGY.sql, (document,)).fetchone()
            if found is None:
                return None
            ops = db.execute(DOCUMENT_OPS.sql, (document,)).fetchall()
            return DocumentRecord(found[0], tuple(StoredOp(*op) for op in ops))

        return await self._storage.read(read)

    def create(self, document: str, strategy: str) -> tuple[PendingWrite, PendingWrite]:
        if not self._storage.has_room(2):
            raise StoreBusy("the store's write queue is full")
        dropped = self._storage.submit(DROP_ORPHAN_OPS, (document,))
        created = self._storage.submit(CREATE_DOCUMENT, (document, strategy))
        return dropped, created

    def append(self, document: str, op: StoredOp) -> PendingWrite:
        return self._storage.submit(APPEND_OP, (document, op.seq, op.sender, op.change))

    def truncate(self, document: str, after_seq: int) -> PendingWrite:
        return self._storage.submit(TRUNCATE_OPS, (document, after_seq))

    def has_room(self, n: int = 1) -> bool:
        return self._storage.has_room(n)


class SqliteNotificationBacklog(_Port):
    async def recent(self, user_id: str, limit: int) -> list[StoredNotification]:
        rows = await self._storage.query(RECENT_NOTIFICATIONS, (user_id, limit))
        return [StoredNotification(seq, id_, body) for seq, id_, body in reversed(rows)]

    def append(self, user_id: str, notification: StoredNotification) -> PendingWrite:
        n = notification
        return self._storage.submit(APPEND_NOTIFICATION, (user_id, n.id, n.seq, n.body))


class SqliteSessionStore(_Port):
    """Sessions in a table keyed by pid; `expires_at` is in the caller's milliseconds.

    `take` is a write (a DELETE ... RETURNING through the writer's queue), so
    it is ordered after every save submitted before it and is one-shot.
    """

    def save(self, session: RecoverySession, *, now_ms: int, ttl_ms: int) -> PendingWrite:
        rooms = json.dumps(sorted(session.rooms), separators=(",", ":"))
        data = json.dumps(session.data, separators=(",", ":"))
        return self._storage.enqueue(
            (PURGE_SESSIONS, (now_ms,)),
            (SAVE_SESSION, (session.pid, session.sid, rooms, data, now_ms + ttl_ms)),
        ).write

    async def take(self, pid: str, *, now_ms: int) -> RecoverySession | None:
        item = self._storage.enqueue((TAKE_SESSION, (pid,)))
        await item.write.committed()
        if not item.rows:
            return None
        sid, rooms, data, expires_at = item.rows[0]
        if expires_at <= now_ms:
            return None
        return RecoverySession(sid, pid, frozenset(json.loads(rooms)), json.loads(data))
