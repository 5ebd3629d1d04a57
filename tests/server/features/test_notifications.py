"""Live notifications through a client/server pair: the admin's `notify` event, targets,
per-user numbering, and the replay a new connection gets (once, never twice)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.server.memory_pair import RECENT_MS, reference_server, wait_until

ADMIN = {"adminToken": "notify-admin"}


class NotificationId:
    """Equal to a notification id (`n<count>-<hex ns>`), and remembers the last one seen."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and re.fullmatch(r"n\d+-[0-9a-f]+", other) is not None

    def __repr__(self) -> str:
        return "<notification id>"


ID: Any = NotificationId()


def note(message: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "type": "info",
        "title": "",
        "message": message,
        "timestamp": RECENT_MS,
        **extra,
    }


async def test_to_every_connection_of_a_user_numbered_per_user(tmp_path: Path) -> None:
    async with reference_server(tmp_path, admin_token=ADMIN["adminToken"]) as pair:
        async with (
            pair.client(auth=ADMIN) as admin,
            pair.client(auth={"userId": "ann"}) as tab1,
            pair.client(namespace="/api/socket", auth={"userId": "ann"}) as tab2,
            pair.client(auth={"userId": "bob"}) as bob,
        ):
            body = {"userId": "ann", "type": "success", "title": "Hi", "message": "one"}
            reply = await admin.call("notify", body)
            assert reply == {"ok": True, "id": ID, "seq": 1, "delivered": 2}
            assert (await admin.call("notify", {"userId": "ann", "message": "two"}))["seq"] == 2
            assert (await admin.call("notify", {"userId": "bob", "message": "b"}))["seq"] == 1
            await pair.settle()
            expected = [
                note("one", type="success", title="Hi", userId="ann", seq=1),
                note("two", userId="ann", seq=2),
            ]
            assert pair.heard(tab1).events == pair.heard(tab2).events
            assert pair.heard(tab1).of("notification") == expected
            assert pair.heard(tab1).of("notification")[0]["id"] == reply["id"]
            assert pair.heard(bob).of("notification") == [note("b", userId="bob", seq=1)]
            assert pair.heard(admin).events == []


async def test_to_a_room_and_to_everyone(tmp_path: Path) -> None:
    async with reference_server(tmp_path, admin_token=ADMIN["adminToken"]) as pair:
        async with (
            pair.client(auth=ADMIN) as admin,
            pair.client() as ann,
            pair.client(namespace="/api/socket") as bob,
            pair.client() as cy,
        ):
            await ann.call("join-room", "ops", "ann")
            await bob.call("join-room", "ops", "bob")
            room = await admin.call("notify", {"roomId": "ops", "type": "warning", "message": "r"})
            # a chat room of every namespace; no per-user numbering
            assert room == {"ok": True, "id": ID, "delivered": 2}
            everyone = await admin.call("notify", {"all": True, "message": "all"})
            assert everyone == {"ok": True, "id": ID, "delivered": 4}
            await pair.settle()
            for member in (ann, bob):
                assert pair.heard(member).of("notification") == [
                    note("r", type="warning"),
                    note("all"),
                ]
            assert pair.heard(cy).of("notification") == [note("all")]
            assert pair.heard(admin).of("notification") == [note("all")]


async def test_notify_needs_an_admin_connection_and_one_target(tmp_path: Path) -> None:
    async with reference_server(tmp_path, admin_token=ADMIN["adminToken"]) as pair:
        async with (
            pair.client(auth={"userId": "ann", "adminToken": "guess"}) as ann,
            pair.client(auth=ADMIN) as admin,
        ):
            assert await ann.call("notify", {"userId": "ann", "message": "self-service"}) == {
                "ok": False,
                "error": {
                    "code": "forbidden",
                    "message": "notify needs an admin connection (auth.adminToken)",
                },
            }
            for body in ({"message": "no target"}, {"userId": "ann", "all": True}):
                assert (await admin.call("notify", body))["error"] == {
                    "code": "bad_request",
                    "message": "name exactly one target: userId, roomId or all",
                }
            fancy = await admin.call("notify", {"userId": "ann", "type": "fancy"})
            assert fancy["error"]["code"] == "bad_request"
            await pair.settle()
            assert pair.heard(ann).events == []


async def test_a_new_connection_gets_what_it_has_not_seen_once(tmp_path: Path) -> None:
    async with reference_server(tmp_path, admin_token=ADMIN["adminToken"]) as pair:
        async with pair.client(auth=ADMIN) as admin:
            for text in ("offline 1", "offline 2"):
                reply = await admin.call("notify", {"userId": "cy", "message": text})
                assert reply["delivered"] == 0
            replayed = [
                note("offline 1", userId="cy", seq=1, replayed=True),
                note("offline 2", userId="cy", seq=2, replayed=True),
            ]
            async with pair.client(auth={"userId": "cy"}) as first:
                assert await pair.heard(first).wait_for("notification", 2) == replayed
                async with pair.client(auth={"userId": "cy"}) as second_tab:
                    live = await admin.call("notify", {"userId": "cy", "message": "live"})
                    assert live == {"ok": True, "id": ID, "seq": 3, "delivered": 2}
                    await pair.settle()
                    # the second tab gets no replay of what the first was handed
                    assert pair.heard(second_tab).of("notification") == [
                        note("live", userId="cy", seq=3)
                    ]
                    assert pair.heard(first).of("notification")[2:] == [
                        note("live", userId="cy", seq=3)
                    ]
            # everything was delivered: the backlog leaves memory, and nothing is replayed
            await wait_until(lambda: "cy" not in pair.server.notifications.backlogs)
            async with pair.client(auth={"userId": "cy"}) as again:
                # (a replay would come first: the live one waits for the backlog's load)
                later = await admin.call("notify", {"userId": "cy", "message": "later"})
                assert later["seq"] == 4
                await pair.settle()
                assert pair.heard(again).events == [
                    ("notification", [note("later", userId="cy", seq=4)])
                ]
            # a client that names the last seq it saw gets what came after it
            async with pair.client(auth={"userId": "cy", "lastNotificationSeq": 1}) as named:
                assert await pair.heard(named).wait_for("notification", 3) == [
                    note("offline 2", userId="cy", seq=2, replayed=True),
                    note("live", userId="cy", seq=3, replayed=True),
                    note("later", userId="cy", seq=4, replayed=True),
                ]
                await pair.settle()
                assert len(pair.heard(named).events) == 3


async def test_a_tab_that_opens_while_a_notification_is_being_stored_gets_it_once(
    tmp_path: Path,
) -> None:
    async with reference_server(tmp_path, admin_token=ADMIN["adminToken"]) as pair:
        async with pair.client(auth=ADMIN) as admin, pair.client(auth={"userId": "ann"}) as tab1:
            notifications = pair.server.notifications
            await wait_until(lambda: "ann" in notifications.backlogs)
            await notifications.backlogs["ann"].loaded.wait()
            # a second connection holds SQLite's write lock: the notification's commit waits
            blocker = sqlite3.connect(
                tmp_path / "memory-pair.sqlite3", isolation_level=None, check_same_thread=False
            )
            blocker.execute("BEGIN IMMEDIATE")
            try:
                replies: list[Any] = []
                await admin.emit("notify", {"userId": "ann", "message": "hi"}, ack=replies.append)
                await wait_until(lambda: bool(notifications.backlogs["ann"].kept))
                async with pair.client(auth={"userId": "ann"}) as tab2:
                    await pair.settle()
                    blocker.execute("ROLLBACK")
                    await wait_until(lambda: bool(replies))
                    await pair.settle()
                    assert replies == [{"ok": True, "id": ID, "seq": 1, "delivered": 2}]
                    for tab in (tab1, tab2):
                        assert pair.heard(tab).of("notification") == [
                            note("hi", userId="ann", seq=1)
                        ]
            finally:
                blocker.close()
