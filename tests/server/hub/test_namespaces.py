"""Namespaces and sockets through a client/server pair: connect, refuse, leave, disconnect.

The reference server serves `/` and `/api/socket` (the tutorial's); each is a
namespace of its own with its own sockets and rooms. A handler registered
without a namespace serves both; one registered for a namespace serves only it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.hub import Socket
from simulate.client import ConnectRefused
from tests.server.memory_pair import Pair, reference_server, wait_until

API = "/api/socket"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with reference_server(tmp_path, features=()) as pair:
        yield pair


async def test_each_namespace_has_its_own_sockets_and_broadcasts(pair: Pair) -> None:
    @pair.hub.on("shout")
    async def shout(sock: Socket, text: str) -> None:
        pair.hub.emit("heard", sock.namespace.name, text, namespace=sock.namespace)

    async with (
        pair.client(auth={"userId": "ann"}) as root,
        pair.client(namespace=API, auth={"userId": "bob"}) as api,
        pair.client(namespace=API) as api_too,
    ):
        assert set(pair.hub.namespaces["/"].sockets) == {root.sid}
        assert set(pair.hub.namespaces[API].sockets) == {api.sid, api_too.sid}
        server_side = pair.socket(api)
        assert (server_side.sid, server_side.namespace.name, server_side.user_id) == (
            api.sid,
            API,
            "bob",
        )
        # every socket is in the room named by its own id, and nothing else yet
        assert server_side.rooms == {api.sid}

        await api.call("shout", "hello")
        await root.call("shout", "hi")
        await pair.settle()
        assert pair.heard(api).events == [("heard", [API, "hello"])]
        assert pair.heard(api_too).events == [("heard", [API, "hello"])]
        assert pair.heard(root).events == [("heard", ["/", "hi"])]


async def test_unknown_namespace_is_refused(pair: Pair) -> None:
    with pytest.raises(ConnectRefused) as refused:
        async with pair.client(namespace="/not-served"):
            pass
    assert refused.value.data == {"message": "Invalid namespace"}
    assert pair.hub.connection_count == 0


async def test_a_namespace_scoped_handler_serves_only_its_namespace(pair: Pair) -> None:
    @pair.hub.on("where", namespace=API)
    async def where(sock: Socket) -> str:
        return sock.namespace.name

    async with pair.client(namespace=API) as api, pair.client() as root:
        assert await api.call("where") == API
        assert await root.call("where") == {
            "ok": False,
            "error": {"code": "not_found", "message": "unknown event 'where'"},
        }
    assert pair.hub.events == ["where"]
    with pytest.raises(ValueError, match="unknown namespace"):
        pair.hub.on("x", namespace="/elsewhere")(where)
    with pytest.raises(ValueError, match="two handlers"):
        pair.hub.on("where", namespace=API)(where)


async def test_connect_and_disconnect_hooks_see_the_socket_in_its_rooms(pair: Pair) -> None:
    events: list[tuple[Any, ...]] = []
    pair.hub.on_connect(lambda sock: events.append(("connect", sock.sid, sock.user_id)))
    pair.hub.on_identify(lambda sock: events.append(("identify", sock.sid, sock.user_id)))
    pair.hub.on_disconnect(
        lambda sock, reason: events.append(("disconnect", sock.sid, reason, set(sock.rooms)))
    )
    async with pair.client(auth={"userId": "ann", "name": "Ann"}) as ann:
        sock = pair.socket(ann)
        sid = sock.sid
        assert (sock.user_id, sock.user_name, sock.auth) == (
            "ann",
            "Ann",
            {"userId": "ann", "name": "Ann"},
        )
        sock.join("red")
    # connect hooks run before the socket is identified as its user
    assert events == [
        ("connect", sid, None),
        ("identify", sid, "ann"),
        ("disconnect", sid, "client namespace disconnect", {sid, "red"}),
    ]
    assert pair.hub.connection_count == 0
    assert not pair.hub.has_room("red") and not pair.hub.has_room(sid)


async def test_an_abrupt_hang_up_disconnects_the_socket(pair: Pair) -> None:
    reasons: list[str] = []
    pair.hub.on_disconnect(lambda sock, reason: reasons.append(reason))
    async with pair.client() as client:
        client.abort()
        await wait_until(lambda: pair.hub.connection_count == 0)
    assert reasons == ["client hung up"]


async def test_server_side_disconnect_ends_the_namespace_for_the_client(pair: Pair) -> None:
    reasons: list[str] = []
    pair.hub.on_disconnect(lambda sock, reason: reasons.append(reason))
    async with pair.client() as client:
        pair.socket(client).disconnect("kicked")
        await wait_until(lambda: not client.connected)
        assert client.disconnect_reason == "the server disconnected this namespace"
    assert reasons == ["kicked"]
    assert pair.hub.connection_count == 0


async def test_identity_from_the_handshake_and_acting_as_another_user(pair: Pair) -> None:
    @pair.hub.on("act-as")
    async def act_as(sock: Socket, user_id: str) -> str | None:
        pair.hub.act_as(sock, user_id)
        return sock.user_id

    async with pair.client() as anonymous, pair.client(auth={"userId": "ann"}) as ann:
        assert pair.socket(anonymous).user_id is None
        # the first id a socket uses is its identity; another is refused
        assert await anonymous.call("act-as", "bob") == "bob"
        assert await anonymous.call("act-as", "bob") == "bob"
        assert await anonymous.call("act-as", "cy") == {
            "ok": False,
            "error": {"code": "forbidden", "message": "this connection acts as 'bob', not 'cy'"},
        }
        assert await ann.call("act-as", "bob") == {
            "ok": False,
            "error": {"code": "forbidden", "message": "this connection acts as 'ann', not 'bob'"},
        }
        assert sorted(s.sid for s in pair.hub.sockets_of_user("bob")) == [anonymous.sid]
