"""Presence through a client/server pair: tabs, away and "appear offline", room scoping,
and offline when the user's last socket goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.memory_pair import RECENT_MS, reference_server


def changed(user_id: str, status: str) -> dict[str, Any]:
    return {"userId": user_id, "status": status, "lastSeen": RECENT_MS}


def user(user_id: str, status: str) -> dict[str, Any]:
    return {"id": user_id, "name": user_id, "status": status, "lastSeen": RECENT_MS}


async def test_a_user_stays_online_while_any_tab_is_open(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as bob:
        await bob.call("join-room", "lobby", "bob")
        async with pair.client(auth={"userId": "ann"}) as tab1:
            await tab1.call("join-room", "lobby", "ann")
            async with pair.client(auth={"userId": "ann"}) as tab2:
                await tab2.call("join-room", "lobby", "ann")
            await pair.settle()
            assert pair.heard(bob).names == ["user-joined"]
            assert pair.server.users.get("ann") is not None
        await pair.settle()
        # the last tab closed: offline, and gone from the room
        assert pair.heard(bob).events[1:] == [
            ("presence-update", [changed("ann", "offline")]),
            ("user-left", [{"userId": "ann", "users": [user("bob", "online")], "userCount": 1}]),
        ]
        assert pair.server.users.get("ann") is None


async def test_an_abrupt_disconnect_is_offline_too(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as bob:
        await bob.call("join-room", "lobby", "bob")
        async with pair.client() as ann:
            await ann.call("join-room", "lobby", "ann")
            ann.abort()
            await pair.heard(bob).wait_for("presence-update")
        assert pair.heard(bob).of("presence-update") == [changed("ann", "offline")]


async def test_away_is_heard_by_the_users_rooms_but_not_the_sender(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with (
            pair.client() as ann,
            pair.client() as in_lobby,
            pair.client() as in_kitchen,
            pair.client() as elsewhere,
        ):
            await ann.call("join-room", "lobby", "ann")
            await ann.call("join-room", "kitchen", "ann")
            await in_lobby.call("join-room", "lobby", "bob")
            await in_kitchen.call("join-room", "kitchen", "cy")
            await elsewhere.call("join-room", "garden", "dee")

            away = {"userId": "ann", "status": "away"}
            assert await ann.call("presence-update", away) == {
                "ok": True,
                "user": user("ann", "away"),
            }
            await pair.settle()
            for listener in (in_lobby, in_kitchen):
                assert pair.heard(listener).of("presence-update") == [changed("ann", "away")]
            assert pair.heard(ann).of("presence-update") == []
            assert pair.heard(elsewhere).of("presence-update") == []
            # the room's user list shows it
            reply = await elsewhere.call("join-room", "lobby", "dee")
            assert user("ann", "away") in reply["users"]

            # to one room only
            back = {"userId": "ann", "status": "online", "roomId": "kitchen"}
            assert await ann.call("presence-update", back) == {
                "ok": True,
                "user": user("ann", "online"),
            }
            await pair.settle()
            assert pair.heard(in_kitchen).of("presence-update")[1:] == [changed("ann", "online")]
            assert pair.heard(in_lobby).of("presence-update")[1:] == []


async def test_appear_offline_while_connected(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            await ann.call("join-room", "lobby", "ann")
            await bob.call("join-room", "lobby", "bob")
            reply = await ann.call("presence-update", {"userId": "ann", "status": "offline"})
            # the room hears what was asked for; for the server the user is away
            assert reply == {"ok": True, "user": user("ann", "away")}
            await pair.settle()
            assert pair.heard(bob).of("presence-update") == [changed("ann", "offline")]


async def test_presence_is_heard_only_in_rooms_the_user_is_in(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann, pair.client() as bob:
            await ann.call("join-room", "lobby", "ann")
            await bob.call("join-room", "private", "bob")
            update = {"userId": "ann", "status": "away", "roomId": "private"}
            assert await ann.call("presence-update", update) == {
                "ok": False,
                "error": {"code": "forbidden", "message": "join room 'private' before updating it"},
            }
            assert (await ann.call("presence-update", {"userId": "bob", "status": "away"}))[
                "error"
            ]["code"] == "forbidden"  # ann cannot speak for bob
            bad = await ann.call("presence-update", {"userId": "ann", "status": "busy"})
            assert bad["error"]["code"] == "bad_request"
            await pair.settle()
            assert pair.heard(bob).events == []
            # a user in no room changes status with nobody to tell
            assert (await bob.call("leave-room", "private", "bob"))["ok"]
            reply = await bob.call("presence-update", {"userId": "bob", "status": "away"})
            assert reply == {"ok": True, "user": user("bob", "away")}
            await pair.settle()
            assert pair.heard(ann).of("presence-update") == []


async def test_a_member_of_several_of_the_users_rooms_hears_each_change_once(
    tmp_path: Path,
) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as bob:
        async with pair.client() as ann:
            for room in ("lobby", "kitchen"):
                await ann.call("join-room", room, "ann")
                await bob.call("join-room", room, "bob")
            await ann.call("presence-update", {"userId": "ann", "status": "away"})
            await pair.settle()
            assert pair.heard(bob).of("presence-update") == [changed("ann", "away")]
        await pair.settle()
        assert pair.heard(bob).of("presence-update") == [
            changed("ann", "away"),
            changed("ann", "offline"),
        ]
        # user-left names no room: one per room the user left
        assert [left["userId"] for left in pair.heard(bob).of("user-left")] == ["ann", "ann"]
