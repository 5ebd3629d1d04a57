"""The SQLite backend's own behaviour: group commit, limits, retries, inline mode, old files.

The ports' contract is tested for every backend in test_ports.py; this
module checks what is SQLite's: batches, the queue bound, the retry of a
failed batch one write at a time, and the file itself. No mocks: every test
opens a database file in tmp_path and goes through the ports. Where a test
must know what is *in the file* at a given moment (an ack means durable), it
reads the file with a second sqlite3 connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from server.storage.ports import DocumentRecord, Storage, StoredOp
from server.storage.sqlite import SqliteStorage
from server.storage.writes import StoreBusy
from tests.server.storage.samples import message, running, session


@asynccontextmanager
async def opened(
    path: Path | str, *, writer: bool = True, **options: Any
) -> AsyncIterator[SqliteStorage]:
    """A `SqliteStorage` on `path` (with `options`), running as in `samples.running`."""
    storage = SqliteStorage(str(path), **options)
    async with running(storage, writer=writer):
        yield storage


def in_file(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """What another process would read from the file now."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_sqlite_storage_is_a_storage():
    # mypy checks the protocol where the server builds it; this keeps the attribute names honest
    storage: Storage = SqliteStorage(":memory:")
    ports = (storage.chat_log, storage.document_log, storage.notification_backlog)
    assert all(port is not None for port in (*ports, storage.session_store))


async def test_a_commit_callback_runs_once_the_row_is_in_the_file(tmp_path):
    path = tmp_path / "order.sqlite3"
    async with opened(path, max_batch=3) as storage:
        in_file_at_callback: list[tuple[int, int]] = []

        def check(seq: int) -> Any:
            def committed(error: BaseException | None) -> None:
                assert error is None
                count = in_file(path, "SELECT count(*) FROM messages")[0][0]
                in_file_at_callback.append((seq, count))

            return committed

        for seq in range(1, 11):
            storage.chat_log.append("chat:a", message(seq)).on_commit(check(seq))
        await storage.chat_log.append("chat:a", message(11)).committed()
        # ten writes and one more in batches of three: four commits, each seen in the file
        assert storage.commits == 4
        assert [seq for seq, _ in in_file_at_callback] == list(range(1, 11))
        assert all(count >= seq for seq, count in in_file_at_callback)


async def test_writes_queued_together_share_one_commit(tmp_path):
    async with opened(tmp_path / "group.sqlite3") as storage:
        writes = [storage.chat_log.append("chat:a", message(seq)) for seq in range(1, 501)]
        await writes[-1].committed()
        assert storage.commits == 1 and storage.writes == 500
        assert all(w.error is None for w in writes)
        assert len(await storage.chat_log.recent("chat:a", 1000)) == 500


async def test_a_batch_holds_at_most_max_batch_writes(tmp_path):
    async with opened(tmp_path / "group.sqlite3", max_batch=100) as storage:
        writes = [storage.chat_log.append("chat:a", message(seq)) for seq in range(1, 451)]
        await writes[-1].committed()
        assert storage.commits == 5 and storage.writes == 450


async def test_a_failing_row_does_not_fail_its_neighbours(tmp_path):
    async with opened(tmp_path / "retry.sqlite3") as storage:
        chat, sessions = storage.chat_log, storage.session_store
        saved = sessions.save(session("p1"), now_ms=0, ttl_ms=1_000)
        before = chat.append("chat:a", message(1, "first"))
        clash = chat.append("chat:a", message(1, "clash"))
        after = chat.append("chat:a", message(2, "second"))
        taken = await sessions.take("p1", now_ms=1)  # same batch: applied twice, read once
        assert storage.commits == 1
        assert isinstance(clash.error, sqlite3.IntegrityError)
        assert before.error is None and after.error is None and saved.error is None
        assert taken == session("p1")
        assert await chat.recent("chat:a", 10) == [message(1, "first"), message(2, "second")]
        assert await sessions.take("p1", now_ms=1) is None


async def test_a_full_queue_refuses_writes_at_the_call(tmp_path):
    path = tmp_path / "busy.sqlite3"
    async with opened(path, writer=False, max_queued=3) as storage:
        queued = [storage.chat_log.append("chat:a", message(seq)) for seq in (1, 2)]
        assert storage.document_log.has_room(1) and not storage.document_log.has_room(2)
        with pytest.raises(StoreBusy):
            storage.document_log.create("d1", "naive")  # needs two places: queues neither
        queued.append(storage.chat_log.append("chat:a", message(3)))
        assert not storage.document_log.has_room(1)
        with pytest.raises(StoreBusy):
            storage.chat_log.append("chat:a", message(4))
        with pytest.raises(StoreBusy):
            await storage.session_store.take("p1", now_ms=0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(storage.run)
            await queued[-1].committed()
            nursery.cancel_scope.cancel()
        assert storage.document_log.has_room(3)
        assert [m.seq for m in await storage.chat_log.recent("chat:a", 10)] == [1, 2, 3]
        assert await storage.document_log.load("d1") is None


async def test_inline_storage_round_trips_in_memory():
    async with opened(":memory:", inline=True) as storage:
        storage.document_log.create("d1", "naive")
        await storage.document_log.append("d1", StoredOp(1, "ann", "{}")).committed()
        assert await storage.document_log.load("d1") == DocumentRecord(
            "naive", (StoredOp(1, "ann", "{}"),)
        )


# --------------------------------------------------------------- old files


async def test_a_file_from_before_the_sessions_table_opens_with_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    async with opened(path) as storage:
        await storage.chat_log.append("chat:a", message(1)).committed()
    # as written by a version without connection state recovery
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE sessions")
    async with opened(path) as storage:
        assert await storage.chat_log.recent("chat:a", 10) == [message(1)]
        await storage.session_store.save(session("p1"), now_ms=0, ttl_ms=10).committed()
        assert await storage.session_store.take("p1", now_ms=1) == session("p1")
