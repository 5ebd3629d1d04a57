"""The SQLite backend against real files: each port's round trip, group commit, limits.

No mocks: every test opens a database file in tmp_path and goes through the
ports. Where a test must know what is *in the file* at a given moment (an
ack means durable), it reads the file with a second sqlite3 connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from server.storage.ports import (
    DocumentRecord,
    RecoverySession,
    Storage,
    StoredMessage,
    StoredNotification,
    StoredOp,
)
from server.storage.sqlite import SqliteStorage
from server.storage.writes import PendingWrite, StoreBusy


@asynccontextmanager
async def opened(
    path: Path | str, *, writer: bool = True, **options: Any
) -> AsyncIterator[SqliteStorage]:
    """An open storage whose writer runs (unless `writer=False`); closed on the way out."""
    storage = SqliteStorage(str(path), **options)
    await storage.open()
    try:
        async with trio.open_nursery() as nursery:
            if writer:
                nursery.start_soon(storage.run)
            yield storage
            nursery.cancel_scope.cancel()
    finally:
        await storage.close()


def in_file(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """What another process would read from the file now."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def message(seq: int, text: str = "hi") -> StoredMessage:
    return StoredMessage(seq, f'{{"seq":{seq},"text":"{text}"}}')


def session(pid: str, rooms: set[str] | None = None, data: Any = None) -> RecoverySession:
    return RecoverySession(f"sid-{pid}", pid, frozenset(rooms or {"chat:lobby"}), data)


def test_sqlite_storage_is_a_storage():
    # the protocol is checked by mypy where the server builds it; this keeps the names honest
    storage: Storage = SqliteStorage(":memory:")
    assert storage.chat_log is not None and storage.session_store is not None


# ---------------------------------------------------------------------- ports


async def test_chat_log_keeps_each_rooms_newest_messages_in_seq_order(tmp_path):
    async with opened(tmp_path / "chat.sqlite3") as storage:
        log = storage.chat_log
        assert await log.recent("chat:empty", 10) == []
        writes = [log.append("chat:a", message(seq)) for seq in range(1, 6)]
        writes.append(log.append("chat:b", message(1, "other room")))
        await writes[-1].committed()
        assert all(w.done.is_set() and w.error is None for w in writes)
        assert await log.recent("chat:a", 3) == [message(3), message(4), message(5)]
        assert await log.recent("chat:a", 50) == [message(seq) for seq in range(1, 6)]
        assert await log.recent("chat:b", 50) == [message(1, "other room")]


async def test_document_log_round_trip_and_truncate(tmp_path):
    async with opened(tmp_path / "docs.sqlite3") as storage:
        docs = storage.document_log
        assert await docs.load("d1") is None
        dropped, created = docs.create("d1", "ot")
        ops = [StoredOp(seq, "ann", f'{{"n":{seq}}}') for seq in (1, 2, 3)]
        for op in ops:
            docs.append("d1", op)
        await docs.append("d2-orphan", StoredOp(1, "bob", "{}")).committed()
        assert dropped.error is None and created.error is None
        assert await docs.load("d1") == DocumentRecord("ot", tuple(ops))
        assert await docs.load("d2-orphan") is None  # ops without a document row

        await docs.truncate("d1", 1).committed()
        assert await docs.load("d1") == DocumentRecord("ot", (ops[0],))
        await docs.truncate("d1", 5).committed()  # nothing after 5: nothing changes
        assert await docs.load("d1") == DocumentRecord("ot", (ops[0],))


async def test_document_create_drops_orphan_ops_and_keeps_an_existing_strategy(tmp_path):
    async with opened(tmp_path / "docs.sqlite3") as storage:
        docs = storage.document_log
        # a document whose row never committed left an op behind
        docs.append("d1", StoredOp(1, "ghost", '{"old":true}'))
        _, created = docs.create("d1", "naive")
        fresh = StoredOp(1, "ann", '{"new":true}')
        await docs.append("d1", fresh).committed()
        assert created.error is None
        assert await docs.load("d1") == DocumentRecord("naive", (fresh,))

        _, again = docs.create("d1", "crdt")
        await again.committed()
        record = await docs.load("d1")
        assert record is not None and record.strategy == "naive"


async def test_an_op_with_a_taken_seq_fails_alone(tmp_path):
    async with opened(tmp_path / "docs.sqlite3") as storage:
        docs = storage.document_log
        docs.create("d1", "naive")
        first = docs.append("d1", StoredOp(1, "ann", "{}"))
        clash = docs.append("d1", StoredOp(1, "bob", "{}"))
        second = docs.append("d1", StoredOp(2, "ann", "{}"))
        await second.committed()
        assert first.error is None and second.error is None
        assert isinstance(clash.error, sqlite3.IntegrityError)
        record = await docs.load("d1")
        assert record is not None and [op.sender for op in record.ops] == ["ann", "ann"]


async def test_notification_backlog_keeps_each_users_newest(tmp_path):
    async with opened(tmp_path / "n.sqlite3") as storage:
        backlog = storage.notification_backlog
        notes = [StoredNotification(seq, f"n{seq}", f'{{"seq":{seq}}}') for seq in (1, 2, 3)]
        for note in notes:
            backlog.append("ann", note)
        await backlog.append("bob", StoredNotification(1, "b1", "{}")).committed()
        assert await backlog.recent("ann", 2) == notes[1:]
        assert await backlog.recent("bob", 50) == [StoredNotification(1, "b1", "{}")]
        assert await backlog.recent("nobody", 50) == []


async def test_session_take_is_one_shot(tmp_path):
    async with opened(tmp_path / "s.sqlite3") as storage:
        sessions = storage.session_store
        saved = session("p1", {"chat:a", "doc:d"}, {"userId": "ann", "n": [1, 2]})
        await sessions.save(saved, now_ms=1_000, ttl_ms=500).committed()
        assert await sessions.take("p1", now_ms=1_499) == saved
        assert await sessions.take("p1", now_ms=1_499) is None
        assert await sessions.take("never-saved", now_ms=0) is None


async def test_racing_takes_of_one_session_give_it_to_one_of_them(tmp_path):
    async with opened(tmp_path / "s.sqlite3") as storage:
        sessions = storage.session_store
        await sessions.save(session("p1"), now_ms=0, ttl_ms=60_000).committed()
        taken: list[RecoverySession | None] = []

        async def take() -> None:
            taken.append(await sessions.take("p1", now_ms=1))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(take)
        assert sorted(taken, key=lambda s: s is not None) == [None] * 4 + [session("p1")]


async def test_session_expires_at_its_deadline_and_is_purged_by_later_saves(tmp_path):
    async with opened(tmp_path / "s.sqlite3") as storage:
        sessions = storage.session_store
        sessions.save(session("late"), now_ms=1_000, ttl_ms=500)
        assert await sessions.take("late", now_ms=1_500) is None  # expires_at is exclusive

        sessions.save(session("old"), now_ms=1_000, ttl_ms=500)
        sessions.save(session("kept"), now_ms=1_000, ttl_ms=5_000)
        # a save at 2000 purges what expired by then
        await sessions.save(session("new"), now_ms=2_000, ttl_ms=500).committed()
        # asked with an earlier "now", a row still there would be handed out: it is gone
        assert await sessions.take("old", now_ms=0) is None
        assert await sessions.take("kept", now_ms=0) == session("kept")
        assert await sessions.take("new", now_ms=2_100) == session("new")


async def test_a_session_saved_again_replaces_the_first(tmp_path):
    async with opened(tmp_path / "s.sqlite3") as storage:
        sessions = storage.session_store
        sessions.save(session("p1", {"chat:a"}), now_ms=0, ttl_ms=100)
        sessions.save(session("p1", {"chat:b"}, {"v": 2}), now_ms=50, ttl_ms=100)
        assert await sessions.take("p1", now_ms=120) == session("p1", {"chat:b"}, {"v": 2})


async def test_take_sees_a_save_still_queued(tmp_path):
    """A quick reconnect must not race the disconnect's write (streams adapter issue #26)."""
    async with opened(tmp_path / "s.sqlite3") as storage:
        write = storage.session_store.save(session("p1"), now_ms=0, ttl_ms=1_000)
        assert not write.done.is_set()
        assert await storage.session_store.take("p1", now_ms=10) == session("p1")


# ------------------------------------------------------------ the writer itself


async def test_commit_callbacks_run_in_submission_order_after_the_row_is_in_the_file(tmp_path):
    path = tmp_path / "order.sqlite3"
    async with opened(path, max_batch=3) as storage:
        order: list[str] = []
        in_file_at_callback: dict[str, int] = {}

        def record(label: str, write: PendingWrite) -> None:
            def committed(error: BaseException | None) -> None:
                assert error is None
                order.append(label)
                if label.startswith("m"):
                    count = in_file(path, "SELECT count(*) FROM messages")[0][0]
                    in_file_at_callback[label] = count

            write.on_commit(committed)

        expected = []
        for i in range(1, 9):
            record(f"m{i}", storage.chat_log.append("chat:a", message(i)))
            record(f"o{i}", storage.document_log.append("d", StoredOp(i, "ann", "{}")))
            note = StoredNotification(i, f"n{i}", "{}")
            record(f"n{i}", storage.notification_backlog.append("ann", note))
            record(f"s{i}", storage.session_store.save(session(f"p{i}"), now_ms=0, ttl_ms=9))
            expected += [f"m{i}", f"o{i}", f"n{i}", f"s{i}"]
        last = storage.chat_log.append("chat:a", message(9))
        await last.committed()
        assert order == expected
        # the 33 writes went in batches of 3; each message was in the file before its callback
        assert storage.commits == 11
        assert all(in_file_at_callback[f"m{i}"] >= i for i in range(1, 9))


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


async def test_inline_storage_works_on_the_trio_thread_in_memory():
    async with opened(":memory:", inline=True) as storage:
        storage.document_log.create("d1", "naive")
        await storage.document_log.append("d1", StoredOp(1, "ann", "{}")).committed()
        assert await storage.document_log.load("d1") == DocumentRecord(
            "naive", (StoredOp(1, "ann", "{}"),)
        )


# ---------------------------------------------------------------- durability


async def test_everything_acked_is_read_back_after_a_restart(tmp_path):
    path = tmp_path / "restart.sqlite3"
    async with opened(path) as storage:
        storage.chat_log.append("chat:a", message(1))
        storage.document_log.create("d1", "ot")
        storage.document_log.append("d1", StoredOp(1, "ann", "{}"))
        storage.notification_backlog.append("ann", StoredNotification(1, "n1", "{}"))
        await storage.session_store.save(session("p1"), now_ms=0, ttl_ms=1_000).committed()
    async with opened(path) as storage:
        assert await storage.chat_log.recent("chat:a", 10) == [message(1)]
        assert await storage.document_log.load("d1") == DocumentRecord(
            "ot", (StoredOp(1, "ann", "{}"),)
        )
        assert await storage.notification_backlog.recent("ann", 10) == [
            StoredNotification(1, "n1", "{}")
        ]
        assert await storage.session_store.take("p1", now_ms=10) == session("p1")
    async with opened(path) as storage:  # the take was durable too
        assert await storage.session_store.take("p1", now_ms=10) is None


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
