"""Rooms and broadcasts through the adapter seam (`LocalAdapter`), over a client/server pair.

Broadcasts select the sockets in any of the `to` rooms (all of the namespace
when none) minus those in any `skip` room; each selected socket hears the
event once. The selection operations are socket.io's cluster-adapter ones:
socketsJoin, socketsLeave, disconnectSockets, fetchSockets, serverSideEmit
and serverCount.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from server.hub import SocketInfo
from simulate.client import SocketIOClient
from tests.server.memory_pair import Pair, reference_server, wait_until


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with reference_server(tmp_path, features=()) as pair:
        yield pair


async def open_clients(stack: AsyncExitStack, pair: Pair, *names: str) -> dict[str, SocketIOClient]:
    return {
        name: await stack.enter_async_context(pair.client(auth={"userId": name})) for name in names
    }


async def heard_news(pair: Pair, clients: dict[str, SocketIOClient]) -> dict[str, list[object]]:
    await pair.settle()
    return {name: pair.heard(client).of("news") for name, client in clients.items()}


async def test_broadcast_to_rooms_minus_except_rooms(pair: Pair) -> None:
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, pair, "ann", "bob", "cy", "dee", "eve")
        for name, rooms in {"ann": ["red"], "bob": ["red", "vip"], "cy": ["blue", "vip"]}.items():
            for room in rooms:
                pair.socket(c[name]).join(room)
        pair.socket(c["dee"]).join("blue")

        # a socket in both `to` rooms hears it once; any `skip` room excludes
        assert pair.hub.emit("news", 1, to=["red", "blue"], skip="vip") == 2
        assert await heard_news(pair, c) == {"ann": [1], "bob": [], "cy": [], "dee": [1], "eve": []}

        # no `to`: the whole namespace; a socket as `skip` leaves out only it
        assert pair.hub.emit("news", 2, skip=pair.socket(c["ann"])) == 4
        # every socket is in the room named by its id
        assert pair.hub.emit("news", 3, to=pair.socket(c["eve"]).sid) == 1
        assert pair.hub.emit("news", 4, to="nobody-here") == 0
        assert await heard_news(pair, c) == {
            "ann": [1],
            "bob": [2],
            "cy": [2],
            "dee": [1, 2],
            "eve": [2, 3],
        }


async def test_leaving_rooms_and_empty_rooms_disappearing(pair: Pair) -> None:
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, pair, "ann", "bob")
        ann, bob = pair.socket(c["ann"]), pair.socket(c["bob"])
        ann.join("red")
        bob.join("red")
        ann.join("blue")
        adapter = pair.hub.namespaces["/"].adapter
        # the per-socket id rooms are rooms too, but not listed as the node's rooms
        assert sorted(adapter.room_names()) == ["blue", "red"]
        assert pair.hub.room_count == 2
        ann.leave("red")
        assert pair.hub.emit("news", "to red", to="red") == 1
        ann.leave("blue")
        assert not pair.hub.has_room("blue") and sorted(adapter.room_names()) == ["red"]
        assert await heard_news(pair, c) == {"ann": [], "bob": ["to red"]}
        assert ann.rooms == {ann.sid}


async def test_emit_to_all_reaches_every_namespace(pair: Pair) -> None:
    async with pair.client() as root, pair.client(namespace="/api/socket") as api:
        assert pair.hub.emit_to_all("news", "everyone") == 2
        assert pair.hub.emit_to_all("news", "api only", namespace="/api/socket") == 1
        await pair.settle()
        assert pair.heard(root).of("news") == ["everyone"]
        assert pair.heard(api).of("news") == ["everyone", "api only"]


async def test_sockets_join_and_sockets_leave_select_like_a_broadcast(pair: Pair) -> None:
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, pair, "ann", "bob", "cy")
        pair.socket(c["ann"]).join("red")
        pair.socket(c["bob"]).join("red")
        pair.hub.sockets_join(["team", "green"], to="red")
        assert pair.socket(c["ann"]).rooms == {c["ann"].sid, "red", "team", "green"}
        assert pair.socket(c["cy"]).rooms == {c["cy"].sid}
        # with no selection: every socket of the namespace
        pair.hub.sockets_join("all-hands")
        assert {s.sid for s in pair.hub.namespaces["/"].members("all-hands")} == {
            client.sid for client in c.values()
        }
        pair.hub.sockets_leave("team", to=pair.socket(c["bob"]).sid)
        assert pair.hub.emit("news", "team", to="team") == 1
        pair.hub.sockets_leave(["red", "all-hands"])
        assert not pair.hub.has_room("red") and not pair.hub.has_room("all-hands")
        assert await heard_news(pair, c) == {"ann": ["team"], "bob": [], "cy": []}


async def test_disconnect_sockets_leaves_the_namespace_or_closes_the_connection(
    pair: Pair,
) -> None:
    reasons: list[tuple[str | None, str]] = []
    pair.hub.on_disconnect(lambda sock, reason: reasons.append((sock.user_id, reason)))
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, pair, "ann", "bob", "cy")
        pair.socket(c["ann"]).join("red")
        pair.socket(c["bob"]).join("blue")
        engine = pair.server.engine
        bob_session = c["bob"].engine_sid

        pair.hub.disconnect_sockets(to="red")
        await wait_until(lambda: not c["ann"].connected)
        assert c["ann"].disconnect_reason == "the server disconnected this namespace"

        pair.hub.disconnect_sockets(to="blue", close=True)
        await wait_until(lambda: not c["bob"].connected)
        assert c["bob"].disconnect_reason == "transport closed"  # the connection, not a namespace
        assert bob_session not in engine.sessions

        assert c["cy"].connected
        assert set(pair.hub.namespaces["/"].sockets) == {c["cy"].sid}
        assert reasons == [("ann", "server disconnect"), ("bob", "server disconnect")]


async def test_fetch_sockets_server_side_emit_and_server_count(pair: Pair) -> None:
    async with AsyncExitStack() as stack:
        c = await open_clients(stack, pair, "ann", "bob")
        anonymous = await stack.enter_async_context(pair.client(namespace="/api/socket"))
        ann = pair.socket(c["ann"])
        ann.join("red")
        assert await pair.hub.fetch_sockets(to="red") == [
            SocketInfo(ann.sid, "/", frozenset({ann.sid, "red"}), "ann", {"userId": "ann"})
        ]
        everyone = await pair.hub.fetch_sockets()
        assert sorted(info.user_id or "" for info in everyone) == ["ann", "bob"]
        sid = pair.socket(anonymous).sid
        assert await pair.hub.fetch_sockets(namespace="/api/socket") == [
            SocketInfo(sid, "/api/socket", frozenset({sid}), None, {})
        ]
        # the local adapter is a cluster of one: nobody else answers
        assert await pair.hub.server_side_emit("hello", 1) == []
        assert await pair.hub.server_count() == 1
