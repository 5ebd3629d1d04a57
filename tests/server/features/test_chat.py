"""Chat rooms through a client/server session pair in memory (no port)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from server.features import chat
from tests.server.memory_pair import RECENT_MS, reference_server, refusal


async def test_join_send_and_everyone_in_the_room_receives_it_once(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client(auth={"userId": "ann"}) as ann, pair.client() as bob:
            heard: list[dict] = []
            bob.on("receive-message", heard.append)
            joined: list[dict] = []
            ann.on("user-joined", joined.append)
            assert (await ann.call("join-room", "lobby", "ann"))["ok"]
            reply = await bob.call("join-room", "lobby", "bob")
            assert reply["ok"] and [u["id"] for u in reply["users"]] == ["ann", "bob"]
            ack = await ann.call("send-message", "lobby", {"text": "hi", "pad": "dropped"})
            assert ack == {"ok": True, "seq": 1, "id": "lobby#1"}
            with trio.fail_after(5):
                while not heard:
                    await trio.sleep(0.01)
            assert heard[0]["text"] == "hi" and "pad" not in heard[0]
            assert [j["userId"] for j in joined] == ["bob"]


def user(user_id: str, status: str = "online", name: str | None = None) -> dict[str, Any]:
    return {"id": user_id, "name": name or user_id, "status": status, "lastSeen": RECENT_MS}


async def test_join_reply_and_user_joined_once_per_user(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with (
            pair.client(auth={"userId": "ann", "name": "Ann"}) as ann,
            pair.client() as bob,
            pair.client() as bob_tab,
        ):
            assert await ann.call("join-room", "lobby", "ann") == {
                "ok": True,
                "roomId": "lobby",
                "users": [user("ann", name="Ann")],
                "userCount": 1,
                "history": [],
            }
            assert await bob.call("join-room", "lobby", "bob") == {
                "ok": True,
                "roomId": "lobby",
                "users": [user("ann", name="Ann"), user("bob")],
                "userCount": 2,
                "history": [],
            }
            # a second tab of the same user joins silently
            reply = await bob_tab.call("join-room", "lobby", "bob")
            assert reply["users"] == [user("ann", name="Ann"), user("bob")]
            await pair.settle()
            assert pair.heard(ann).events == [
                (
                    "user-joined",
                    [
                        {
                            "userId": "bob",
                            "users": [user("ann", name="Ann"), user("bob")],
                            "userCount": 2,
                        }
                    ],
                )
            ]
            assert pair.heard(bob).events == pair.heard(bob_tab).events == []


async def test_messages_are_numbered_stored_and_replayed_to_late_joiners(tmp_path: Path) -> None:
    async with reference_server(tmp_path, history_size=2) as pair:
        async with pair.client(auth={"userId": "ann", "name": "Ann"}) as ann:
            await ann.call("join-room", "lobby", "ann")
            sent = [
                {"text": "one", "timestamp": 1},
                {"text": "two", "id": "m-2", "userName": "Annie", "timestamp": "noon"},
                {"text": "three", "sentAt": 12.5, "run": "r1", "n": 3},
            ]
            acks = [await ann.call("send-message", "lobby", message) for message in sent]
            assert acks == [
                {"ok": True, "seq": 1, "id": "lobby#1"},
                {"ok": True, "seq": 2, "id": "m-2"},
                {"ok": True, "seq": 3, "id": "lobby#3"},
            ]
            received = [
                {"id": "lobby#1", "userId": "ann", "userName": "Ann", "text": "one",
                 "timestamp": 1, "seq": 1},
                {"id": "m-2", "userId": "ann", "userName": "Annie", "text": "two",
                 "timestamp": "noon", "seq": 2},
                {"id": "lobby#3", "userId": "ann", "userName": "Ann", "text": "three",
                 "timestamp": RECENT_MS, "seq": 3, "sentAt": 12.5, "run": "r1", "n": 3},
            ]  # fmt: skip
            await pair.settle()
            # the sender hears its own messages too, in order
            assert pair.heard(ann).of("receive-message") == received
            async with pair.client() as late:
                reply = await late.call("join-room", "lobby", "late")
                # the last `history_size` messages, oldest first
                assert reply["history"] == received[1:]
        # a restart on the same file: the history is read back from the store
    async with reference_server(tmp_path, history_size=2) as pair, pair.client() as again:
        reply = await again.call("join-room", "lobby", "again")
        assert reply["history"] == received[1:]
        assert await again.call("send-message", "lobby", {"text": "four"}) == {
            "ok": True,
            "seq": 4,
            "id": "lobby#4",
        }


async def test_a_retry_is_acked_as_a_duplicate_and_not_delivered_again(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client(auth={"userId": "ann"}) as ann, pair.client() as bob:
            await ann.call("join-room", "lobby", "ann")
            await bob.call("join-room", "lobby", "bob")
            message = {"id": "m1", "text": "hello"}
            assert await ann.call("send-message", "lobby", message) == {
                "ok": True,
                "seq": 1,
                "id": "m1",
            }
            assert await ann.call("send-message", "lobby", message) == {
                "ok": True,
                "seq": 1,
                "id": "m1",
                "duplicate": True,
            }
            # the same id from another user is another message
            assert await bob.call("send-message", "lobby", message) == {
                "ok": True,
                "seq": 2,
                "id": "m1",
            }
            await pair.settle()
            assert [(m["userId"], m["seq"]) for m in pair.heard(bob).of("receive-message")] == [
                ("ann", 1),
                ("bob", 2),
            ]


async def test_typing_reaches_the_room_but_not_the_typist(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with (
            pair.client() as ann,
            pair.client() as bob,
            pair.client() as elsewhere,
        ):
            await ann.call("join-room", "lobby", "ann")
            await bob.call("join-room", "lobby", "bob")
            await elsewhere.call("join-room", "other", "cy")
            assert await ann.call("typing", "lobby", "ann") == {"ok": True}
            assert await ann.call("typing", "other", "ann") == refusal(
                "forbidden", "join room 'other' before typing in it"
            )
            await pair.settle()
            assert pair.heard(bob).events[-1:] == [("user-typing", ["ann"])]
            assert "user-typing" not in pair.heard(ann).names + pair.heard(elsewhere).names


async def test_leaving_and_disconnecting_are_heard_as_user_left(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as ann:
            await ann.call("join-room", "lobby", "ann")
            async with pair.client() as bob, pair.client() as bob_tab:
                await bob.call("join-room", "lobby", "bob")
                await bob_tab.call("join-room", "lobby", "bob")
                assert await bob.call("leave-room", "lobby", "bob") == {
                    "ok": True,
                    "roomId": "lobby",
                }
                assert await bob.call("leave-room", "lobby", "bob") == refusal(
                    "not_found", "not in room 'lobby'"
                )
                await pair.settle()
                # bob's other tab is still in the room: nobody left yet
                assert "user-left" not in pair.heard(ann).names
                await ann.call("send-message", "lobby", {"text": "after bob left"})
                await pair.settle()
                assert pair.heard(bob).of("receive-message") == []
                assert len(pair.heard(bob_tab).of("receive-message")) == 1
            # the last tab disconnects
            await pair.settle()
            assert pair.heard(ann).of("user-left") == [
                {"userId": "bob", "users": [user("ann")], "userCount": 1}
            ]


async def test_chat_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat, "MAX_ROOMS_PER_SOCKET", 2)
    async with reference_server(tmp_path) as pair, pair.client(auth={"userId": "ann"}) as ann:
        assert await ann.call("send-message", "lobby", {"text": "hi"}) == refusal(
            "forbidden", "join room 'lobby' before sending to it"
        )
        assert await ann.call("join-room", "lobby", "bob") == refusal(
            "forbidden", "this connection acts as 'ann', not 'bob'"
        )
        await ann.call("join-room", "lobby", "ann")
        assert await ann.call("send-message", "lobby", {"userId": "bob", "text": "hi"}) == (
            refusal("forbidden", "this connection acts as 'ann', not 'bob'")
        )
        too_long = await ann.call("send-message", "lobby", {"text": "x" * 10_001})
        assert too_long["error"]["code"] == "too_large"
        no_text = await ann.call("send-message", "lobby", {"id": "m"})
        assert no_text["error"]["code"] == "bad_request"
        assert (await ann.call("join-room", "second", "ann"))["ok"]
        assert await ann.call("join-room", "third", "ann") == refusal(
            "rate_limited", "a connection may be in at most 2 chat rooms: leave one first"
        )
        # rejoining a room it is in is no new room
        assert (await ann.call("join-room", "lobby", "ann"))["ok"]
        # nothing refused was stored or delivered
        await pair.settle()
        assert pair.heard(ann).of("receive-message") == []


async def test_user_lists_in_broadcasts_are_cut_at_the_limit(tmp_path: Path) -> None:
    async with reference_server(tmp_path, room_users_limit=2) as pair:
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(pair.client()) for _ in range(4)]
            for i, client in enumerate(clients):
                await client.call("join-room", "big", f"u{i}")
            await pair.settle()
            assert pair.heard(clients[0]).of("user-joined")[-1] == {
                "userId": "u3",
                "users": [user("u0"), user("u1")],
                "userCount": 4,
                "usersTruncated": True,
            }
            # the join ack always has the full list
            reply = await clients[0].call("join-room", "big", "u0")
            assert [u["id"] for u in reply["users"]] == ["u0", "u1", "u2", "u3"]


async def test_rooms_of_the_tutorial_namespace(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with (
            pair.client(namespace="/api/socket") as ann,
            pair.client(namespace="/api/socket") as bob,
            pair.client() as root,
        ):
            await ann.call("join-room", "lobby", "ann")
            await bob.call("join-room", "lobby", "bob")
            await root.call("join-room", "lobby", "cy")
            await ann.call("send-message", "lobby", {"text": "on /api/socket", "timestamp": 5})
            await pair.settle()
            expected = {
                "id": "lobby#1",
                "userId": "ann",
                "userName": "ann",
                "text": "on /api/socket",
                "timestamp": 5,
                "seq": 1,
            }
            assert pair.heard(bob).of("receive-message") == [expected]
            # broadcasts stay in their namespace
            assert pair.heard(root).of("receive-message") == []
