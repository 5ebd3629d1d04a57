"""SQLite persistence with group commit, off the event loop.

Why a writer task: a commit costs an fsync-ish syscall; doing one per chat
message on the trio thread would stall every connection. Writes are queued,
the writer takes everything queued at that moment, runs it in one
transaction in a worker thread, and only then wakes the writers: an ack
sent after `await store.write(...)` means the row is committed.
All SQLite calls go through one worker thread at a time (a limiter of 1),
so the connection is never used concurrently.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

log = logging.getLogger(__name__)

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
"""

MAX_BATCH = 2000
MAX_QUEUED = 100_000


class StoreBusy(Exception):
    """More writes are queued than the writer can absorb; the caller should shed load."""


@dataclass(slots=True)
class PendingWrite:
    """A queued statement; `await committed()` returns once it is durable."""

    sql: str
    params: Sequence[Any]
    done: trio.Event = field(default_factory=trio.Event)
    error: BaseException | None = None
    callbacks: list[Callable[[BaseException | None], None]] = field(default_factory=list)

    def on_commit(self, callback: Callable[[BaseException | None], None]) -> None:
        """Run `callback(error)` right after the commit, in the order writes were submitted.

        Callbacks run synchronously in the writer task, one batch after the
        other, so effects made there (acks, broadcasts) keep commit order. On a
        write that is already settled, the callback runs at once.
        """
        if self.done.is_set():
            callback(self.error)
        else:
            self.callbacks.append(callback)

    async def committed(self) -> None:
        await self.done.wait()
        if self.error is not None:
            raise self.error


class Store:
    def __init__(self, path: str, *, inline: bool = False) -> None:
        """`inline` runs SQLite on the trio thread: for virtual-time runs (deterministic, and a
        `:memory:` database costs no I/O); never for a real server."""
        self.path = path
        self.inline = inline
        self._db: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)
        self._send, self._receive = trio.open_memory_channel[PendingWrite](MAX_QUEUED)
        self.commits = 0
        self.rows = 0

    async def open(self) -> None:
        self._db = await self._in_thread(self._open)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with trio.CancelScope(shield=True):
                await self._in_thread(db.close)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.executescript(SCHEMA)
        return db

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        if self.inline:
            await trio.lowlevel.checkpoint()
            return fn(*args)
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    # ------------------------------------------------------------------ API
    def has_room(self, n: int = 1) -> bool:
        """Whether `n` more writes can be queued now (check before changing memory state)."""
        return self._send.statistics().current_buffer_used + n <= MAX_QUEUED

    def submit(self, sql: str, params: Sequence[Any] = ()) -> PendingWrite:
        """Queue one statement without waiting: the caller may go on and await it later."""
        item = PendingWrite(sql, params)
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            raise StoreBusy("the store's write queue is full") from None
        return item

    async def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one statement; return once it is committed (raise if it failed)."""
        await self.submit(sql, params).committed()

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            assert self._db is not None
            return self._db.execute(sql, params).fetchall()

        return await self._in_thread(run)

    # --------------------------------------------------------------- writer
    async def run_writer(self) -> None:
        """The group-commit loop; runs in the server's nursery."""
        async for first in self._receive:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            with trio.CancelScope(shield=True):
                await self._in_thread(self._commit, batch)
            for item in batch:
                item.done.set()
                for callback in item.callbacks:
                    try:
                        callback(item.error)
                    except Exception:
                        log.exception("commit callback failed")

    def _commit(self, batch: list[PendingWrite]) -> None:
        db = self._db
        assert db is not None
        try:
            db.execute("BEGIN")
            for item in batch:
                db.execute(item.sql, item.params)
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK") if db.in_transaction else None
            # retry one by one so that one bad row does not fail its neighbours
            for item in batch:
                try:
                    db.execute(item.sql, item.params)
                except sqlite3.Error as exc:
                    item.error = exc
        self.commits += 1
        self.rows += len(batch)


class WriteFence:
    """The newest pending write per key (a room, a document), to reload after eviction safely.

    A feature may drop its in-memory state for a key while rows for it are
    still queued; reading the key back from SQLite before they commit would
    miss them (and hand out sequence numbers that collide with theirs).
    `await fence.wait(key)` returns once every write tracked for `key` so far
    is done; entries disappear with their commit, so the map stays small.
    """

    def __init__(self) -> None:
        self._last: dict[str, PendingWrite] = {}

    def track(self, key: str, write: PendingWrite) -> PendingWrite:
        self._last[key] = write

        def release(error: BaseException | None) -> None:
            if self._last.get(key) is write:
                del self._last[key]

        write.on_commit(release)
        return write

    async def wait(self, key: str) -> None:
        write = self._last.get(key)
        if write is not None:
            await write.done.wait()

    def __len__(self) -> int:
        return len(self._last)
