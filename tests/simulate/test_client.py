"""Our trio client (simulate.client) against the reference server started in-process.

Both run in the test's trio loop on a real 127.0.0.1 socket, so the tests can
reach into the server (close a session, stop and restart it) to provoke the
client's failure paths. Every wait is bounded with trio.fail_after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from server.app import ReferenceServer
from server.config import ServerConfig
from simulate.client import ConnectionLost, ConnectRefused, NotConnected, SocketIOClient, connect
from tests.conftest import free_port

WAIT = 5.0


@dataclass
class Running:
    server: ReferenceServer
    port: int
    cancel: trio.CancelScope

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def session_of(self, client: SocketIOClient) -> Any:
        assert client.engine_sid is not None
        return self.server.engine.sessions[client.engine_sid]


@asynccontextmanager
async def run_server(
    nursery: trio.Nursery, tmp_path: Path, port: int = 0, **options: Any
) -> AsyncIterator[Running]:
    config = ServerConfig(
        port=port, db_path=str(tmp_path / "db.sqlite3"), log_level="WARNING", **options
    )
    server = ReferenceServer(config)
    cancel = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with cancel:
            await server.serve(task_status=task_status)

    with trio.fail_after(WAIT):
        bound = await nursery.start(serve)
    try:
        yield Running(server, bound, cancel)
    finally:
        cancel.cancel()


@pytest.fixture
async def server(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Running]:
    async with run_server(nursery, tmp_path) as running:
        yield running


async def next_event(channel: trio.MemoryReceiveChannel, timeout: float = WAIT) -> Any:
    with trio.fail_after(timeout):
        return await channel.receive()


async def wait_until(predicate: Any, timeout: float = WAIT) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


# --------------------------------------------------------------------- basics


async def test_connect_emit_call_subscribe(server: Running) -> None:
    async with (
        connect(server.url, auth={"userId": "alice", "name": "Alice"}) as alice,
        connect(server.url, auth={"userId": "bob", "name": "Bob"}) as bob,
    ):
        assert alice.connected and alice.sid and alice.engine_sid
        assert alice.engine_sid in server.server.engine.sessions
        with trio.fail_after(WAIT):
            joined = await alice.call("join-room", "lobby", "alice")
        assert joined["ok"] is True and joined["history"] == []
        assert [u["id"] for u in joined["users"]] == ["alice"]

        typing: list[str] = []
        bob.on("user-typing", typing.append)
        async with alice.subscribe("user-joined", "receive-message") as events:
            reply = await bob.call("join-room", "lobby", "bob")
            assert reply["ok"] is True
            event, args = await next_event(events)
            assert event == "user-joined" and args[0]["userId"] == "bob"

            await bob.emit("send-message", "lobby", {"id": "m1", "text": "hi from bob"})
            event, args = await next_event(events)
            assert event == "receive-message"
            assert args[0]["id"] == "m1" and args[0]["userId"] == "bob"

            await alice.emit("typing", "lobby", "alice")
            await wait_until(lambda: typing == ["alice"])

        # the subscription ended with its block: no more deliveries to it
        assert all(hook.__name__ != "push" for hook in alice._any)


async def test_call_returns_error_acks(server: Running) -> None:
    async with connect(server.url) as client:
        with trio.fail_after(WAIT):
            reply = await client.call("join-room", [1, 2])
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
            reply = await client.call("send-message", "nowhere", {"text": "x"})
            assert reply["ok"] is False and reply["error"]["code"] == "forbidden"
            errors: list[Any] = []
            client.on("error", errors.append)
            await client.emit("join-room")
            await wait_until(lambda: bool(errors))
        assert errors[0]["code"] == "bad_request" and errors[0]["event"] == "join-room"


async def test_custom_namespace(server: Running) -> None:
    async with (
        connect(server.url, namespace="/api/socket", auth={"userId": "alice"}) as api,
        connect(server.url, auth={"userId": "bob"}) as root,
    ):
        assert api.sid is not None
        assert server.server.hub.namespaces["/api/socket"].sockets.get(api.sid) is not None
        with trio.fail_after(WAIT):
            assert (await api.call("join-room", "ns", "alice"))["ok"] is True
            assert (await root.call("join-room", "ns", "bob"))["users"][0]["id"] == "bob"
        async with api.subscribe("receive-message") as events:
            await api.emit("send-message", "ns", {"id": "n1", "text": "on /api/socket"})
            _, args = await next_event(events)
            assert args[0]["text"] == "on /api/socket"


async def _connect_error(url: str, **options: Any) -> BaseException:
    """What `async with connect(...)` raises when the first attempt fails."""
    try:
        with trio.fail_after(WAIT):
            async with connect(url, **options):
                pass
    except BaseExceptionGroup as group:
        pytest.fail(
            "connect() raised an exception group instead of the error itself, so "
            f"`except ConnectRefused/OSError` cannot catch it: {group!r}"
        )
    except Exception as exc:
        return exc
    pytest.fail("connect() did not raise")


async def test_unknown_namespace_is_refused(server: Running) -> None:
    exc = await _connect_error(server.url, namespace="/nope")
    assert isinstance(exc, ConnectRefused), repr(exc)
    assert "namespace" in str(exc).lower()


# --------------------------------------------------------- server→client acks


async def test_answers_server_to_client_ack(server: Running) -> None:
    """measure-rtt makes the server call our rtt-probe handler and wait for its ack."""
    async with connect(server.url) as client:
        probes: list[Any] = []

        def on_probe(data: Any) -> Any:
            probes.append(data)
            return {"echo": data["ts"]}

        client.on("rtt-probe", on_probe)
        with trio.move_on_after(WAIT) as scope:
            answer = await client.call("measure-rtt", timeout=WAIT + 1)
        if scope.cancelled_caught:
            pytest.fail(
                f"measure-rtt got no answer within {WAIT}s although our handler acked "
                f"rtt-probe (probes: {probes!r})"
            )
        assert len(probes) == 1
        assert answer["ok"] is True, answer
        assert 0 <= answer["rttMs"] < WAIT * 1000
        assert answer["reply"] == [{"echo": probes[0]["ts"]}]


# ---------------------------------------------------------------- failures


async def test_not_connected_after_close(server: Running) -> None:
    async with connect(server.url) as client:
        pass
    assert not client.connected
    with pytest.raises(NotConnected):
        await client.emit("typing", "r", "u")
    with pytest.raises(NotConnected):
        await client.call("join-room", "r", "u", timeout=1)


async def test_connection_lost_while_waiting_for_an_ack(server: Running) -> None:
    """The server drops the session while a call is pending: the call raises ConnectionLost."""
    async with connect(server.url, reconnect=False) as client:
        client.on("rtt-probe", lambda data: server.session_of(client).close("test drop"))
        with trio.fail_after(WAIT), pytest.raises(ConnectionLost):
            await client.call("measure-rtt", timeout=WAIT)
        await wait_until(lambda: not client.connected)
        assert client.disconnect_reason
        with pytest.raises(NotConnected):
            await client.emit("typing", "r", "u")


async def test_connect_to_closed_port_fails() -> None:
    exc = await _connect_error(f"http://127.0.0.1:{free_port()}", reconnect=False)
    assert isinstance(exc, OSError), repr(exc)


# --------------------------------------------------------------- reconnect


async def _chat_after_reconnect(server: Running, hook_uses_call: bool) -> None:
    async with (
        connect(server.url, auth={"userId": "alice"}, reconnect_delay=0.05, seed=1) as alice,
        connect(server.url, auth={"userId": "bob"}) as bob,
    ):
        with trio.fail_after(WAIT):
            await alice.call("join-room", "re", "alice")
            await bob.call("join-room", "re", "bob")
        rejoined = trio.Event()
        replies: list[Any] = []

        async def rejoin(client: SocketIOClient) -> None:
            if hook_uses_call:
                replies.append(await client.call("join-room", "re", "alice", timeout=3))
            else:
                await client.emit("join-room", "re", "alice")
            rejoined.set()

        alice.on_reconnect(rejoin)
        old_sid = alice.engine_sid
        async with (
            bob.subscribe("user-joined") as bob_events,
            alice.subscribe("receive-message") as alice_events,
        ):
            server.session_of(alice).close("test: server drops the session")
            with trio.fail_after(WAIT):
                await rejoined.wait()
            assert alice.reconnects == 1 and alice.connected
            assert alice.engine_sid != old_sid
            if hook_uses_call:
                assert replies and replies[0]["ok"] is True
            _, args = await next_event(bob_events)
            assert args[0]["userId"] == "alice"

            await bob.emit("send-message", "re", {"id": "after-reconnect", "text": "welcome back"})
            _, args = await next_event(alice_events)
            assert args[0]["id"] == "after-reconnect"


async def test_reconnect_hook_rejoins_with_emit(server: Running) -> None:
    await _chat_after_reconnect(server, hook_uses_call=False)


async def test_reconnect_hook_rejoins_with_call(server: Running) -> None:
    """The natural hook awaits the join-room ack; the client must keep reading meanwhile."""
    await _chat_after_reconnect(server, hook_uses_call=True)


async def test_reconnect_after_server_restart(nursery: trio.Nursery, tmp_path: Path) -> None:
    async with run_server(nursery, tmp_path) as first:
        port = first.port
        client_cm = connect(
            first.url, auth={"userId": "alice"}, reconnect_delay=0.05, reconnect_delay_max=0.2
        )
        alice = await client_cm.__aenter__()
        try:
            with trio.fail_after(WAIT):
                await alice.call("join-room", "restart", "alice")
                sent = await alice.call("send-message", "restart", {"id": "r1", "text": "before"})
            assert sent["ok"] is True
            reconnected = trio.Event()
            alice.on_reconnect(lambda client: reconnected.set())

            first.cancel.cancel()
            await wait_until(lambda: not alice.connected)
            async with run_server(nursery, tmp_path, port=port) as second:
                assert second.port == port
                with trio.fail_after(WAIT):
                    await reconnected.wait()
                    reply = await alice.call("join-room", "restart", "alice")
                # same db file: the message committed before the restart is still there
                assert [m["id"] for m in reply["history"]] == ["r1"]
                assert alice.reconnects == 1
        finally:
            await client_cm.__aexit__(None, None, None)


async def test_answers_server_pings(nursery: trio.Nursery, tmp_path: Path) -> None:
    async with (
        run_server(nursery, tmp_path, ping_interval=0.05, ping_timeout=0.2) as running,
        connect(running.url) as client,
    ):
        await trio.sleep(0.6)
        assert client.connected and client.pings >= 5
        assert client.reconnects == 0
        with trio.fail_after(WAIT):
            assert (await client.call("join-room", "p", "u"))["ok"] is True


async def test_polling_transport_chats_with_a_websocket_client(tmp_path):
    """The trio client's long-polling fallback talks to the same room as a WebSocket client."""
    from server.app import ReferenceServer
    from server.config import ServerConfig
    from simulate.client import connect as open_client

    server = ReferenceServer(ServerConfig(port=0, db_path=str(tmp_path / "poll.sqlite3")))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        url = f"http://127.0.0.1:{port}"
        got: list[str] = []
        async with (
            open_client(url, transport="polling") as poller,
            open_client(
                url, setup=lambda c: c.on("receive-message", lambda m: got.append(m["text"]))
            ) as ws,
        ):
            assert (await poller.call("join-room", "mixed", "poller"))["ok"]
            assert (await ws.call("join-room", "mixed", "ws"))["ok"]
            assert (await poller.call("send-message", "mixed", {"text": "over polling"}))["ok"]
            with trio.fail_after(5):
                while got != ["over polling"]:
                    await trio.sleep(0.01)
            assert server.engine.sessions[poller.engine_sid].transport.name == "polling"
        nursery.cancel_scope.cancel()
