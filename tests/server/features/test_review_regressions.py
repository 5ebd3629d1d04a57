"""Regressions from a review: durability of acked writes, state that must shrink, caps.

A client/server pair in memory (tests.server.memory_pair), a real SQLite file.
The only fake is a commit failure: `SqliteStorage._commit` is replaced to fail
one chosen batch (as a full disk would), the database itself is untouched. A commit that is merely
slow is made by holding SQLite's write lock from a second connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from server.app import ReferenceServer
from server.catalogue import DocumentChange
from server.hub import EventError
from server.storage.sqlite import APPEND_MESSAGE, APPEND_OP, QueuedWrite, SqliteStorage, Statement
from tests.server.memory_pair import Pair, reference_server, wait_until

ADMIN = "review-admin"


@asynccontextmanager
async def running_server(db: Path, **options: Any) -> AsyncIterator[Pair]:
    async with reference_server(db.parent, db_path=str(db), admin_token=ADMIN, **options) as pair:
        yield pair


class FailOneBatch:
    """Make the storage's next batch holding a write of `statement` fail.

    Every write of that batch fails, as with a full disk, and nothing of it
    reaches the database. With `hold`, the failing commit waits for it first
    (from the storage's worker thread), so that later writes queue meanwhile.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: ReferenceServer) -> None:
        storage = server.storage
        assert isinstance(storage, SqliteStorage)
        self.original = storage._commit
        self.statement: Statement | None = None
        self.hold: threading.Event | None = None
        self.failed = 0
        monkeypatch.setattr(storage, "_commit", self._commit)

    def arm(self, statement: Statement, hold: threading.Event | None = None) -> None:
        self.statement, self.hold = statement, hold

    def _commit(self, batch: list[QueuedWrite]) -> None:
        statement = self.statement
        if statement is not None and any(item.runs(statement) for item in batch):
            self.statement = None
            if self.hold is not None:
                self.hold.wait(10)
            for item in batch:
                item.error = sqlite3.OperationalError("database or disk is full (injected)")
            self.failed += 1
            return
        self.original(batch)


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def naive(user: str, position: int, text: str) -> dict[str, Any]:
    return {"userId": user, "position": position, "insert": text}


# ------------------------------------------------------------------ documents


async def test_document_change_whose_commit_fails_is_refused_and_reloads_consistent(
    tmp_path, monkeypatch
):
    db = tmp_path / "docs.sqlite3"
    async with running_server(db) as pair:
        faults = FailOneBatch(monkeypatch, pair.server)
        async with pair.client() as a, pair.client() as b:
            errors: list[Any] = []
            b.on("error", errors.append)
            assert (await a.call("join-document", "d1", "ann"))["ok"]
            assert (await b.call("join-document", "d1", "bob"))["ok"]
            assert (await a.call("document-change", "d1", naive("ann", 0, "hello")))["ok"]

            # change 2's batch fails; change 3 is accepted meanwhile and commits after it
            hold = threading.Event()
            faults.arm(APPEND_OP, hold)
            acks: dict[int, Any] = {}
            await a.emit(
                "document-change",
                "d1",
                naive("ann", 5, " world"),
                ack=lambda r: acks.update({2: r}),
            )
            await a.emit(
                "document-change", "d1", naive("ann", 11, "!"), ack=lambda r: acks.update({3: r})
            )
            await wait_until(lambda: pair.server.documents.documents["d1"].seq == 3)
            hold.set()
            await wait_until(lambda: len(acks) == 2)
            assert faults.failed == 1
            # neither is acked ok: 3 was built on 2, which is not in the log
            for reply in acks.values():
                assert reply["ok"] is False and reply["error"]["code"] == "internal"
            # the other member is told, and must rejoin
            await wait_until(lambda: errors)
            assert errors[0]["documentId"] == "d1" and errors[0]["code"] == "internal"
            assert "d1" not in pair.server.documents.documents
            refused = await b.call("document-change", "d1", naive("bob", 0, "x"))
            assert refused["ok"] is False

            # the reload keeps the log's contiguous prefix and drops the orphan row
            rejoined = await b.call("join-document", "d1", "bob")
            assert rejoined["ok"] and rejoined["content"] == "hello"
            assert (await a.call("join-document", "d1", "ann"))["content"] == "hello"
            later = await a.call("document-change", "d1", naive("ann", 5, ", you"))
            assert later["ok"] is True
            assert pair.server.documents.documents["d1"].server.text() == "hello, you"
            await wait_until(
                lambda: (
                    rows(db, "SELECT seq FROM document_ops WHERE document = 'd1' ORDER BY seq")
                    == [(1,), (2,)]
                )
            )

    # a restart on the same file: exactly what was acked
    async with running_server(db) as pair, pair.client() as c:
        reply = await c.call("join-document", "d1", "cy")
        assert reply["ok"] and reply["content"] == "hello, you"
        assert (await c.call("document-change", "d1", naive("cy", 10, "!")))["ok"]
    async with running_server(db) as pair, pair.client() as c:
        assert (await c.call("join-document", "d1", "cy"))["content"] == "hello, you!"


async def test_change_that_cannot_be_encoded_is_refused_before_it_is_applied(tmp_path):
    async with running_server(tmp_path / "d.sqlite3") as pair, pair.client() as a:
        assert (await a.call("join-document", "d1", "ann"))["ok"]
        doc = pair.server.documents.documents["d1"]
        # The codec refuses 1e999 at decode already; the edge must not rely on it: the
        # event's parser is given what no client can send, and refuses it before any handler.
        change = {**naive("ann", 0, "hi"), "meta": float("inf")}
        with pytest.raises(EventError) as info:
            DocumentChange.parse(["d1", change])
        assert info.value.code == "bad_request"
        assert doc.server.text() == "" and doc.seq == 0
        assert (await a.call("document-change", "d1", naive("ann", 0, "ok")))["ok"]
        assert doc.server.text() == "ok" and doc.seq == 1


async def test_poisoned_cursor_is_refused_and_joiners_still_work(tmp_path):
    async with running_server(tmp_path / "d.sqlite3") as pair:
        async with pair.client() as a, pair.client() as b:
            assert (await a.call("join-document", "d1", "ann"))["ok"]
            huge = await a.call("cursor-update", "d1", {"userId": "ann", "position": "x" * 5000})
            assert huge["ok"] is False and huge["error"]["code"] == "too_large"
            deep = await a.call("cursor-update", "d1", {"userId": "ann", "position": [[1]] * 400})
            assert deep["ok"] is False and deep["error"]["code"] == "too_large"
            ok = await a.call("cursor-update", "d1", {"userId": "ann", "position": {"id": [1, 2]}})
            assert ok["ok"] is True
            reply = await b.call("join-document", "d1", "bob")
            assert reply["ok"] and reply["cursors"] == {"ann": {"id": [1, 2]}}


# ----------------------------------------------------------------------- chat


async def test_chat_retry_of_a_message_whose_commit_failed_is_stored_again(tmp_path, monkeypatch):
    db = tmp_path / "chat.sqlite3"
    async with running_server(db) as pair:
        faults = FailOneBatch(monkeypatch, pair.server)
        async with pair.client() as a:
            assert (await a.call("join-room", "lobby", "ann"))["ok"]
            faults.arm(APPEND_MESSAGE)
            first = await a.call("send-message", "lobby", {"id": "m1", "text": "important"})
            assert first["ok"] is False and first["error"]["code"] == "internal"
            # forgotten: the history does not show what the database does not have
            assert [m["id"] for m in pair.server.chat.histories["chat:lobby"].messages] == []
            retry = await a.call("send-message", "lobby", {"id": "m1", "text": "important"})
            assert retry["ok"] is True and not retry.get("duplicate")
            again = await a.call("send-message", "lobby", {"id": "m1", "text": "important"})
            assert again["ok"] is True and again["duplicate"] is True
            assert again["seq"] == retry["seq"]
            async with pair.client() as b:
                history = (await b.call("join-room", "lobby", "bob"))["history"]
        stored = rows(db, "SELECT seq, body FROM messages WHERE room = 'chat:lobby' ORDER BY seq")
        assert [(m["seq"], m["id"]) for m in history] == [(retry["seq"], "m1")]
        assert [seq for seq, _ in stored] == [retry["seq"]]


async def test_duplicate_retry_while_the_commit_is_pending_is_acked_after_it(tmp_path):
    db = tmp_path / "chat.sqlite3"
    async with running_server(db) as pair, pair.client() as a:
        assert (await a.call("join-room", "lobby", "ann"))["ok"]
        acks: list[tuple[str, Any, int]] = []

        def on_ack(name: str) -> Any:
            def ack(reply: Any) -> None:
                # what is in the database at the moment the client hears "ok"
                count = rows(db, "SELECT count(*) FROM messages")[0][0]
                acks.append((name, reply, count))

            return ack

        # a second connection holds SQLite's write lock: the server's commit waits for it
        blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            message = {"id": "m2", "text": "x"}
            await a.emit("send-message", "lobby", message, ack=on_ack("original"))
            await a.emit("send-message", "lobby", message, ack=on_ack("retry"))
            await wait_until(lambda: pair.server.hub.stats.events_in["send-message"] == 2)
            await pair.settle()  # the commit waits for the lock: nothing else to wait for
            assert acks == []  # not stored yet: nobody is told it is
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await wait_until(lambda: len(acks) == 2)
        (first, reply1, count1), (second, reply2, count2) = acks
        assert (first, second) == ("original", "retry")
        assert reply1["ok"] and reply2["ok"] and reply2["duplicate"] is True
        assert reply1["seq"] == reply2["seq"]
        assert count1 == count2 == 1


async def test_huge_chat_message_is_refused_and_joiners_still_work(tmp_path):
    async with running_server(tmp_path / "chat.sqlite3") as pair:
        async with pair.client() as a:
            assert (await a.call("join-room", "lobby", "mallory"))["ok"]
            for _ in range(3):
                # 10,000 control characters are 60 KB once JSON-escaped: over the 48 KiB row
                fat = await a.call("send-message", "lobby", {"text": "\x01" * 10_000})
                assert fat["ok"] is False and fat["error"]["code"] == "too_large"
            # unknown keys are dropped, not stored: a padded message is an ordinary one
            padded = await a.call("send-message", "lobby", {"text": "hi", "pad": "x" * 200_000})
            assert padded["ok"] is True
            # the documented limit (10,000 characters, even 4-byte ones) still fits
            full = await a.call("send-message", "lobby", {"text": "😀" * 10_000})
            assert full["ok"] is True
        for who in ("bob", "carol"):
            async with pair.client() as b:
                reply = await b.call("join-room", "lobby", who)
                assert reply["ok"] and [len(m["text"]) for m in reply["history"]] == [2, 10_000]
                assert all("pad" not in m for m in reply["history"])


# --------------------------------------------------------------- state shrinks


async def test_state_shrinks_when_everyone_leaves(tmp_path):
    async with running_server(tmp_path / "s.sqlite3") as pair:
        for i in range(5):
            async with pair.client(auth={"userId": f"u{i}"}) as c:
                assert (await c.call("join-room", f"room-{i}", f"u{i}"))["ok"]
                assert (await c.call("join-document", f"doc-{i}", f"u{i}"))["ok"]
                assert (await c.call("send-message", f"room-{i}", {"text": "hi"}))["ok"]
                assert (await c.call("document-change", f"doc-{i}", naive(f"u{i}", 0, "x")))["ok"]
                if i % 2:
                    assert (await c.call("leave-room", f"room-{i}", f"u{i}"))["ok"]
                    assert (await c.call("leave-document", f"doc-{i}", f"u{i}"))["ok"]
                    assert f"chat:room-{i}" not in pair.server.chat.histories
                    assert f"doc-{i}" not in pair.server.documents.documents
        await wait_until(lambda: pair.server.hub.connection_count == 0)
        await wait_until(lambda: not pair.server.notifications.backlogs)
        assert len(pair.server.users.users) == 0
        assert len(pair.server.chat.histories) == 0
        assert len(pair.server.documents.documents) == 0
        assert len(pair.server.notifications.backlogs) == 0
        # and everything reloads from the store
        async with pair.client(auth={"userId": "u0"}) as c:
            reply = await c.call("join-room", "room-0", "u0")
            assert [m["text"] for m in reply["history"]] == ["hi"]
            assert (await c.call("join-document", "doc-0", "u0"))["content"] == "x"
            assert (await c.call("send-message", "room-0", {"text": "again"}))["seq"] == 2


async def test_presence_update_to_a_room_the_user_is_not_in_is_forbidden(tmp_path):
    async with running_server(tmp_path / "p.sqlite3") as pair:
        async with pair.client() as victim, pair.client() as mallory:
            heard: list[Any] = []
            victim.on("presence-update", heard.append)
            assert (await victim.call("join-room", "private", "victim"))["ok"]
            assert (await mallory.call("join-room", "public", "mallory"))["ok"]
            update = {"roomId": "private", "userId": "mallory", "status": "away"}
            reply = await mallory.call("presence-update", update)
            assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
            own = {"roomId": "public", "userId": "mallory", "status": "away"}
            assert (await mallory.call("presence-update", own))["ok"]
            assert (await victim.call("presence-update", {**own, "userId": "victim"}))[
                "ok"
            ] is False  # victim is not in "public" either (and acts as victim anyway)
            await pair.settle()
            assert heard == []
            # leaving a room: it stops hearing about the user
            assert pair.server.users.users["mallory"].chat_rooms() == {"chat:public"}
            assert (await mallory.call("leave-room", "public", "mallory"))["ok"]
            assert pair.server.users.users["mallory"].chat_rooms() == set()


async def test_second_measure_rtt_while_one_is_pending_is_refused(tmp_path):
    async with running_server(tmp_path / "r.sqlite3") as pair, pair.client() as a:
        first: list[Any] = []
        await a.emit("measure-rtt", ack=first.append)
        second = await a.call("measure-rtt")
        assert second["ok"] is False and second["error"]["code"] == "conflict"
        await wait_until(lambda: first)
        assert first[0]["ok"] is True and first[0]["rttMs"] >= 0
        third = await a.call("measure-rtt")  # the slot is free again
        assert third["ok"] is True


async def test_offline_notification_is_replayed_exactly_once_after_eviction(tmp_path):
    async with running_server(tmp_path / "n.sqlite3") as pair:
        async with pair.client(auth={"adminToken": ADMIN}) as admin:
            inboxes: list[list[Any]] = []

            def catch(client: Any) -> None:
                inbox: list[Any] = []
                inboxes.append(inbox)
                client.on("notification", inbox.append)

            async with pair.client(auth={"userId": "cy"}, setup=catch):
                await wait_until(lambda: "cy" in pair.server.notifications.backlogs)
            await wait_until(lambda: "cy" not in pair.server.notifications.backlogs)

            sent = await admin.call("notify", {"userId": "cy", "message": "while offline"})
            assert sent["ok"] and sent["delivered"] == 0
            # undelivered: that backlog is the user's mailbox, it stays
            assert "cy" in pair.server.notifications.backlogs
            async with pair.client(auth={"userId": "cy"}, setup=catch):
                await wait_until(lambda: inboxes[-1])
                async with pair.client(auth={"userId": "cy"}, setup=catch):
                    await pair.settle()
            await wait_until(lambda: "cy" not in pair.server.notifications.backlogs)
            async with pair.client(auth={"userId": "cy"}, setup=catch):
                await pair.settle()
                live = await admin.call("notify", {"userId": "cy", "message": "live"})
                assert live["delivered"] == 1
                await wait_until(lambda: inboxes[-1])
            await wait_until(lambda: not pair.server.notifications.backlogs)
            messages = [[(n["message"], bool(n.get("replayed"))) for n in i] for i in inboxes]
            assert messages == [[], [("while offline", True)], [], [("live", False)]]
            assert len(pair.server.users.users) == 0  # the admin connection names no user
