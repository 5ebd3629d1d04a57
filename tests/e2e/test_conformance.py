"""Behaviours the official Engine.IO / Socket.IO protocol suites check, as tests of our own.

Each test drives the reference server (in-process, real sockets on
127.0.0.1) with bare WebSockets (wsproto) and polling requests (h11), the
way socketio/engine.io-protocol and socketio/socket.io-protocol do, and
asserts the exact packets on the wire.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from server.app import ReferenceServer
from server.config import ServerConfig
from tests.e2e.raw_engineio import RawWebSocket, poll, post

PATH = "/socket.io/"
WAIT = 10.0


@asynccontextmanager
async def serving(tmp_path: Path, **options: object) -> AsyncIterator[int]:
    settings: dict[str, object] = {"ping_interval": 0.3, "ping_timeout": 0.2, **options}
    config = ServerConfig(port=0, db_path=str(tmp_path / "conformance.sqlite3"), **settings)  # type: ignore[arg-type]
    server = ReferenceServer(config)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        yield port
        nursery.cancel_scope.cancel()


async def open_polling_session(port: int) -> str:
    status, body = await poll(port, PATH)
    assert status == 200 and body.startswith("0")
    return str(json.loads(body[1:])["sid"])


async def test_a_pending_poll_is_answered_noop_when_the_client_posts_close(tmp_path: Path) -> None:
    async with serving(tmp_path) as port:
        sid = await open_polling_session(port)
        answers: dict[str, tuple[int, str]] = {}
        with trio.fail_after(WAIT):
            async with trio.open_nursery() as nursery:

                async def pending_get() -> None:
                    answers["get"] = await poll(port, PATH, sid)

                nursery.start_soon(pending_get)
                await trio.sleep(0.05)  # the GET is pending before the CLOSE arrives
                answers["post"] = await post(port, PATH, sid, "1")
        assert answers["post"] == (200, "ok")
        assert answers["get"] == (200, "6")
        status, _ = await poll(port, PATH, sid)
        assert status == 400  # the session is gone


async def test_a_second_websocket_for_an_upgraded_session_is_accepted_then_closed(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as port:
        sid = await open_polling_session(port)
        target = f"{PATH}?EIO=4&transport=websocket&sid={sid}"
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, target)
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            await ws.send("5")
            second = await RawWebSocket.open(port, target)  # accepted: no 400
            assert await second.wait_closed() == []
            # the upgraded session goes on: a namespace CONNECT is answered on the first socket
            await ws.send("40")
            answer = await ws.receive()
            assert isinstance(answer, str) and answer.startswith('40{"sid":')
            await ws.aclose()


async def test_no_stray_noop_on_the_new_websocket_and_3probe_is_on_the_wire_first(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, ping_interval=30.0, ping_timeout=20.0) as port:
        sid = await open_polling_session(port)
        target = f"{PATH}?EIO=4&transport=websocket&sid={sid}"
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, target)
            polled: list[tuple[int, str]] = []
            async with trio.open_nursery() as nursery:

                async def pending_get() -> None:
                    polled.append(await poll(port, PATH, sid))

                nursery.start_soon(pending_get)
                await trio.sleep(0.05)
                await ws.send("2probe")
            assert polled == [(200, "6")]  # the poll was released so the client can pause it
            # `3probe` was written before the poll's answer: it is already in our buffer
            assert ws.ready_now() == ["3probe"]
            await ws.send("5")
            await ws.send("40")
            answer = await ws.receive()
            # the next frame is the CONNECT answer: no NOOP left over from the polling queue
            assert isinstance(answer, str) and answer.startswith('40{"sid":'), answer
            await ws.aclose()


async def test_an_upgrade_without_a_pending_poll_leaves_no_noop_behind(tmp_path: Path) -> None:
    """As the official suite does it: probe and upgrade at once, no poll in flight."""
    async with serving(tmp_path, ping_interval=30.0, ping_timeout=20.0) as port:
        sid = await open_polling_session(port)
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket&sid={sid}")
            await ws.send("2probe")
            await ws.send("5")
            await ws.send("40")
            assert await ws.receive() == "3probe"
            answer = await ws.receive()
            assert isinstance(answer, str) and answer.startswith('40{"sid":'), answer
            await ws.aclose()


async def test_every_poll_during_an_upgrade_is_released_with_noop(tmp_path: Path) -> None:
    async with serving(tmp_path, ping_interval=30.0, ping_timeout=20.0) as port:
        sid = await open_polling_session(port)
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket&sid={sid}")
            await ws.send("2probe")
            assert await ws.receive() == "3probe"
            assert await poll(port, PATH, sid) == (200, "6")
            assert await poll(port, PATH, sid) == (200, "6")
            await ws.send("5")
            await trio.sleep(0.05)
            status, _ = await poll(port, PATH, sid)
            assert status == 400  # upgraded: HTTP requests with this sid are refused
            await ws.aclose()


async def test_the_connect_timeout_counts_from_the_handshake(tmp_path: Path) -> None:
    # pings every 30 s: if the timeout were checked at pings, nothing would close for 30 s
    async with serving(
        tmp_path, ping_interval=30.0, ping_timeout=20.0, connect_timeout=0.3
    ) as port:
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket")
            frames = await ws.wait_closed()
        assert len(frames) == 1 and str(frames[0]).startswith("0{")  # the OPEN, then the close


async def test_a_client_that_connects_a_namespace_in_time_stays(tmp_path: Path) -> None:
    async with serving(tmp_path, connect_timeout=0.3) as port:
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket")
            await ws.receive()  # OPEN
            await ws.send("40")
            assert str(await ws.receive()).startswith("40")
            for _ in range(3):  # past the connect timeout: pings keep coming, answered
                assert await ws.receive() == "2"
                await ws.send("3")
            await ws.aclose()


async def test_leaving_the_main_namespace_keeps_the_connection(tmp_path: Path) -> None:
    async with serving(tmp_path) as port:
        with trio.fail_after(WAIT):
            ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket")
            await ws.receive()
            await ws.send("40")
            await ws.receive()
            await ws.send("41")
            assert await ws.receive() == "2"  # the next packet is a ping: still connected
            await ws.aclose()


async def test_garbage_closes_the_connection(tmp_path: Path) -> None:
    async with serving(tmp_path) as port:
        for garbage in ("4abc", "42{}", '42abc["x",1]'):
            with trio.fail_after(WAIT):
                ws = await RawWebSocket.open(port, f"{PATH}?EIO=4&transport=websocket")
                await ws.receive()
                await ws.send("40")
                await ws.receive()
                await ws.send(garbage)
                frames = await ws.wait_closed()  # closed: the guard above fails otherwise
                assert all(frame == "2" for frame in frames), frames
