"""The storage ports' contract, run against every backend in `BACKENDS`.

What features rely on, through the ports only: round trips in seq order, a
failing row that fails alone, commit callbacks in submission order across
ports, one-shot and expiring recovery sessions, and everything acked read
back after a restart. A new backend adds one line to `BACKENDS`; its own
specifics (batching, limits, files) get a test module of their own, like
test_sqlite.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from server.storage.ports import (
    DocumentRecord,
    RecoverySession,
    Storage,
    StoredNotification,
    StoredOp,
)
from server.storage.sqlite import SqliteStorage
from server.storage.writes import PendingWrite
from tests.server.storage.samples import message, running, session

# a backend: given a fresh directory, a function that opens *the same* store each time it is called
BACKENDS: dict[str, Callable[[Path], Callable[[], Storage]]] = {
    "sqlite": lambda directory: lambda: SqliteStorage(str(directory / "storage.sqlite3")),
}
Backend = Callable[[], Storage]


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


async def test_chat_log_keeps_each_rooms_newest_messages_in_seq_order(backend: Backend):
    async with running(backend()) as storage:
        log = storage.chat_log
        assert await log.recent("chat:empty", 10) == []
        writes = [log.append("chat:a", message(seq)) for seq in range(1, 6)]
        writes.append(log.append("chat:b", message(1, "other room")))
        await writes[-1].committed()
        assert all(w.done.is_set() and w.error is None for w in writes)
        assert await log.recent("chat:a", 3) == [message(3), message(4), message(5)]
        assert await log.recent("chat:a", 50) == [message(seq) for seq in range(1, 6)]
        assert await log.recent("chat:b", 50) == [message(1, "other room")]


async def test_document_log_round_trip_and_truncate(backend: Backend):
    async with running(backend()) as storage:
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


async def test_document_create_drops_orphan_ops_and_keeps_an_existing_strategy(backend: Backend):
    async with running(backend()) as storage:
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


async def test_an_op_with_a_taken_seq_fails_alone(backend: Backend):
    async with running(backend()) as storage:
        docs = storage.document_log
        docs.create("d1", "naive")
        first = docs.append("d1", StoredOp(1, "ann", "{}"))
        clash = docs.append("d1", StoredOp(1, "bob", "{}"))
        second = docs.append("d1", StoredOp(2, "ann", "{}"))
        await second.committed()
        assert first.error is None and second.error is None
        assert clash.error is not None
        record = await docs.load("d1")
        assert record is not None and [op.sender for op in record.ops] == ["ann", "ann"]


async def test_notification_backlog_keeps_each_users_newest(backend: Backend):
    async with running(backend()) as storage:
        backlog = storage.notification_backlog
        notes = [StoredNotification(seq, f"n{seq}", f'{{"seq":{seq}}}') for seq in (1, 2, 3)]
        for note in notes:
            backlog.append("ann", note)
        await backlog.append("bob", StoredNotification(1, "b1", "{}")).committed()
        assert await backlog.recent("ann", 2) == notes[1:]
        assert await backlog.recent("bob", 50) == [StoredNotification(1, "b1", "{}")]
        assert await backlog.recent("nobody", 50) == []


async def test_session_take_is_one_shot(backend: Backend):
    async with running(backend()) as storage:
        sessions = storage.session_store
        saved = session("p1", {"chat:a", "doc:d"}, {"userId": "ann", "n": [1, 2]})
        await sessions.save(saved, now_ms=1_000, ttl_ms=500).committed()
        assert await sessions.take("p1", now_ms=1_499) == saved
        assert await sessions.take("p1", now_ms=1_499) is None
        assert await sessions.take("never-saved", now_ms=0) is None


async def test_racing_takes_of_one_session_give_it_to_one_of_them(backend: Backend):
    async with running(backend()) as storage:
        sessions = storage.session_store
        await sessions.save(session("p1"), now_ms=0, ttl_ms=60_000).committed()
        taken: list[RecoverySession | None] = []

        async def take() -> None:
            taken.append(await sessions.take("p1", now_ms=1))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(take)
        assert sorted(taken, key=lambda s: s is not None) == [None] * 4 + [session("p1")]


async def test_session_expires_at_its_deadline_and_is_purged_by_later_saves(backend: Backend):
    async with running(backend()) as storage:
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


async def test_a_session_saved_again_replaces_the_first(backend: Backend):
    async with running(backend()) as storage:
        sessions = storage.session_store
        sessions.save(session("p1", {"chat:a"}), now_ms=0, ttl_ms=100)
        sessions.save(session("p1", {"chat:b"}, {"v": 2}), now_ms=50, ttl_ms=100)
        assert await sessions.take("p1", now_ms=120) == session("p1", {"chat:b"}, {"v": 2})


async def test_take_sees_a_save_still_queued(backend: Backend):
    """A quick reconnect must not race the disconnect's write (streams adapter issue #26)."""
    async with running(backend()) as storage:
        write = storage.session_store.save(session("p1"), now_ms=0, ttl_ms=1_000)
        assert not write.done.is_set()
        assert await storage.session_store.take("p1", now_ms=10) == session("p1")


async def test_everything_acked_is_read_back_after_a_restart(backend: Backend):
    async with running(backend()) as storage:
        storage.chat_log.append("chat:a", message(1))
        storage.document_log.create("d1", "ot")
        storage.document_log.append("d1", StoredOp(1, "ann", "{}"))
        storage.notification_backlog.append("ann", StoredNotification(1, "n1", "{}"))
        await storage.session_store.save(session("p1"), now_ms=0, ttl_ms=1_000).committed()
    async with running(backend()) as storage:
        assert await storage.chat_log.recent("chat:a", 10) == [message(1)]
        assert await storage.document_log.load("d1") == DocumentRecord(
            "ot", (StoredOp(1, "ann", "{}"),)
        )
        assert await storage.notification_backlog.recent("ann", 10) == [
            StoredNotification(1, "n1", "{}")
        ]
        assert await storage.session_store.take("p1", now_ms=10) == session("p1")
    async with running(backend()) as storage:  # the take was durable too
        assert await storage.session_store.take("p1", now_ms=10) is None


async def test_commit_callbacks_run_in_submission_order_across_ports(backend: Backend):
    async with running(backend()) as storage:
        order: list[str] = []
        expected: list[str] = []

        def record(label: str, write: PendingWrite) -> None:
            write.on_commit(lambda error: order.append(label if error is None else "failed"))
            expected.append(label)

        for i in range(1, 9):
            record(f"m{i}", storage.chat_log.append("chat:a", message(i)))
            record(f"o{i}", storage.document_log.append("d", StoredOp(i, "ann", "{}")))
            note = StoredNotification(i, f"n{i}", "{}")
            record(f"n{i}", storage.notification_backlog.append("ann", note))
            record(f"s{i}", storage.session_store.save(session(f"p{i}"), now_ms=0, ttl_ms=9))
            await trio.sleep(0)  # let the writer take some: the order holds across batches
        last = storage.chat_log.append("chat:a", message(9))
        await last.committed()
        assert order == expected
