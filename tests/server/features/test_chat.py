"""Chat rooms through a client/server session pair in memory (no port)."""

from __future__ import annotations

from pathlib import Path

import trio

from tests.server.memory_pair import reference_server


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
