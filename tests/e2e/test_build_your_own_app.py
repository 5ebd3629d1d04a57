"""docs/build-your-own-app.md's example, run as written, checked the way the protocol suites check.

The example is the server socketio/engine.io-protocol and
socketio/socket.io-protocol drive (an Engine.IO echo on `/engine.io/`, a
Socket.IO app on `/socket.io/`): several Engine.IO paths on one port, a raw
Engine.IO app, plain handlers choosing their ack arguments. Each test below
is one behaviour those suites check, written for this project, with bare
WebSockets (wsproto) and polling requests (h11).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from server.api import ReferenceServer, Server, ServerConfig
from simulate.http_request import http_request
from tests.e2e.raw_engineio import RawWebSocket, poll, post

DOC = Path(__file__).resolve().parents[2] / "docs" / "build-your-own-app.md"
WAIT = 10.0
ENGINE = "/engine.io/"
SIO = "/socket.io/"


def example() -> Callable[[ServerConfig], Server]:
    """The page's first Python block, executed: its `build_server`."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None, "the page shows no Python example"
    namespace: dict[str, Any] = {"__name__": "build_your_own_app_example"}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    build: Callable[[ServerConfig], Server] = namespace["build_server"]
    return build


@asynccontextmanager
async def example_server(tmp_path: Path, **options: Any) -> AsyncIterator[int]:
    settings = {"port": 0, "ping_interval": 0.3, "ping_timeout": 0.2, "connect_timeout": 1.0}
    server = example()(
        ServerConfig(db_path=str(tmp_path / "unused.sqlite3"), **{**settings, **options})
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        with trio.fail_after(WAIT):
            yield port
        nursery.cancel_scope.cancel()


async def websocket(port: int, path: str) -> RawWebSocket:
    return await RawWebSocket.open(port, f"{path}?EIO=4&transport=websocket")


async def polling_sid(port: int, path: str) -> str:
    status, body = await poll(port, path)
    assert status == 200
    return str(json.loads(body[1:])["sid"])


async def socketio_connection(port: int) -> RawWebSocket:
    ws = await websocket(port, SIO)
    await ws.receive()  # Engine.IO handshake
    await ws.send("40")
    assert str(await ws.receive()).startswith("40")
    assert await ws.receive() == '42["auth",{}]'
    return ws


async def next_non_ping(ws: RawWebSocket) -> str | bytes:
    while True:
        message = await ws.receive()
        if message != "2":
            return message
        await ws.send("3")


# ------------------------------------------------------------------ Engine.IO


async def test_handshakes_announce_the_session_and_its_heartbeat(tmp_path: Path) -> None:
    async with example_server(tmp_path) as port:
        status, body = await poll(port, ENGINE)
        assert status == 200 and body[0] == "0"
        opened = json.loads(body[1:])
        assert sorted(opened) == ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]
        assert opened["upgrades"] == ["websocket"]
        assert (opened["pingInterval"], opened["pingTimeout"], opened["maxPayload"]) == (
            300,
            200,
            1_000_000,
        )
        ws = await websocket(port, ENGINE)
        first = await ws.receive()
        assert isinstance(first, str) and json.loads(first[1:])["upgrades"] == []


@pytest.mark.parametrize(
    ("method", "query", "status"),
    [
        ("GET", "transport=polling", 400),  # no EIO
        ("GET", "EIO=abc&transport=polling", 400),
        ("GET", "EIO=4", 400),  # no transport
        ("GET", "EIO=4&transport=abc", 400),
        ("POST", "EIO=4&transport=polling", 400),  # a handshake is a GET
        ("PUT", "EIO=4&transport=polling", 400),
    ],
)
async def test_bad_handshakes_are_refused(
    tmp_path: Path, method: str, query: str, status: int
) -> None:
    async with example_server(tmp_path) as port:
        got, _ = await http_request("127.0.0.1", port, method, f"{ENGINE}?{query}")
        assert got == status


async def test_polling_echoes_text_and_binary_payloads(tmp_path: Path) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        for payload in ("4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="):
            sid = await polling_sid(port, ENGINE)
            assert await post(port, ENGINE, sid, payload) == (200, "ok")
            assert await poll(port, ENGINE, sid) == (200, payload)


async def test_polling_bad_packets_and_duplicate_polls_end_the_session(tmp_path: Path) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        sid = await polling_sid(port, ENGINE)
        status, _ = await post(port, ENGINE, sid, "abc")
        assert status == 400
        assert (await poll(port, ENGINE, sid))[0] == 400
        sid = await polling_sid(port, ENGINE)
        answers: list[tuple[int, str]] = []
        async with trio.open_nursery() as nursery:

            async def first() -> None:
                answers.append(await poll(port, ENGINE, sid))

            nursery.start_soon(first)
            await trio.sleep(0.05)
            second = await poll(port, ENGINE, sid)
        assert second[0] == 400 and answers == [(200, "1")]
        assert (await poll(port, ENGINE, sid))[0] == 400


async def test_websocket_echoes_and_closes_on_garbage(tmp_path: Path) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        ws = await websocket(port, ENGINE)
        await ws.receive()
        await ws.send("4hello")
        assert await ws.receive() == "4hello"
        await ws.send(bytes([1, 2, 3, 4]))
        assert await ws.receive() == bytes([1, 2, 3, 4])
        await ws.send("abc")
        assert await ws.wait_closed() == []
        ws = await websocket(port, ENGINE)
        await ws.receive()
        await ws.send("1")  # a CLOSE from the client
        assert await ws.wait_closed() == []


async def test_heartbeat_on_both_transports(tmp_path: Path) -> None:
    async with example_server(tmp_path) as port:
        sid = await polling_sid(port, ENGINE)
        for _ in range(3):
            assert await poll(port, ENGINE, sid) == (200, "2")
            assert await post(port, ENGINE, sid, "3") == (200, "ok")
        ws = await websocket(port, ENGINE)
        await ws.receive()
        for _ in range(3):
            assert await ws.receive() == "2"
            await ws.send("3")
        silent = await websocket(port, ENGINE)
        frames = await silent.wait_closed()  # never answers: closed after the ping timeout
        assert frames[1:] == ["2"]
        sid = await polling_sid(port, ENGINE)
        await trio.sleep(0.6)
        status, body = await poll(port, ENGINE, sid)
        assert status == 400 or body == "1"


async def test_upgrade_then_echo_on_the_websocket(tmp_path: Path) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        sid = await polling_sid(port, ENGINE)
        ws = await RawWebSocket.open(port, f"{ENGINE}?EIO=4&transport=websocket&sid={sid}")
        await ws.send("2probe")
        assert await ws.receive() == "3probe"
        assert await poll(port, ENGINE, sid) == (200, "6")
        await ws.send("5")
        await ws.send("4hello")
        assert await ws.receive() == "4hello"


# ------------------------------------------------------------------ Socket.IO


@pytest.mark.parametrize(
    ("connect", "answer_prefix", "auth_event"),
    [
        ("40", "40", '42["auth",{}]'),
        ('40{"token":"123"}', "40", '42["auth",{"token":"123"}]'),
        ("40/custom,", "40/custom,", '42/custom,["auth",{}]'),
        ('40/custom,{"token":"abc"}', "40/custom,", '42/custom,["auth",{"token":"abc"}]'),
    ],
)
async def test_namespaces_connect_and_see_their_handshake_payload(
    tmp_path: Path, connect: str, answer_prefix: str, auth_event: str
) -> None:
    async with example_server(tmp_path) as port:
        ws = await websocket(port, SIO)
        await ws.receive()
        await ws.send(connect)
        answer = str(await ws.receive())
        assert answer.startswith(answer_prefix)
        assert list(json.loads(answer[len(answer_prefix) :])) == ["sid"]
        assert await ws.receive() == auth_event


async def test_unknown_namespaces_bad_handshakes_and_silence_are_refused(tmp_path: Path) -> None:
    async with example_server(tmp_path) as port:
        ws = await websocket(port, SIO)
        await ws.receive()
        await ws.send("40/random")
        assert await ws.receive() == '44/random,{"message":"Invalid namespace"}'
        bad = await websocket(port, SIO)
        await bad.receive()
        await bad.send("4abc")
        await bad.wait_closed()
        silent = await websocket(port, SIO)
        frames = await silent.wait_closed()  # no CONNECT within connectTimeout (1 s here)
        assert str(frames[0]).startswith("0{")


async def test_leaving_namespaces(tmp_path: Path) -> None:
    async with example_server(tmp_path) as port:
        ws = await socketio_connection(port)
        await ws.send("41")
        assert await ws.receive() == "2"  # still connected: the next packet is a ping
        ws = await socketio_connection(port)
        await ws.send("40/custom")
        assert str(await next_non_ping(ws)).startswith("40/custom,")
        assert await next_non_ping(ws) == '42/custom,["auth",{}]'
        await ws.send("41/custom")
        await ws.send('42["message","message to main namespace"]')
        assert await next_non_ping(ws) == '42["message-back","message to main namespace"]'


async def test_messages_binary_attachments_and_acks(tmp_path: Path) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        ws = await socketio_connection(port)
        await ws.send('42["message",1,"2",{"3":[true]}]')
        assert await ws.receive() == '42["message-back",1,"2",{"3":[true]}]'
        await ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        await ws.send(bytes([1, 2, 3]))
        await ws.send(bytes([4, 5, 6]))
        assert [await ws.receive() for _ in range(3)] == [
            '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]
        await ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await ws.receive() == '43456[1,"2",{"3":[false]}]'
        await ws.send(
            '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        )
        await ws.send(bytes([1, 2, 3]))
        await ws.send(bytes([4, 5, 6]))
        assert [await ws.receive() for _ in range(3)] == [
            '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            bytes([1, 2, 3]),
            bytes([4, 5, 6]),
        ]


@pytest.mark.parametrize(
    "garbage", ["4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]']
)
async def test_malformed_socketio_packets_close_the_connection(
    tmp_path: Path, garbage: str
) -> None:
    async with example_server(tmp_path, ping_interval=30.0) as port:
        ws = await socketio_connection(port)
        await ws.send(garbage)
        assert await ws.wait_closed() == []


async def test_a_plain_http_route_beside_the_mounts(tmp_path: Path) -> None:
    async with example_server(tmp_path) as port:
        status, body = await http_request("127.0.0.1", port, "GET", "/hello")
        assert (status, json.loads(body)) == (200, {"hello": "world"})
        status, _ = await http_request("127.0.0.1", port, "GET", "/nothing-here")
        assert status == 404


async def test_a_bare_reference_server_has_no_handlers(tmp_path: Path) -> None:
    config = ServerConfig(port=0, db_path=str(tmp_path / "bare.sqlite3"), ping_interval=30.0)
    server = ReferenceServer(config, features=[])
    assert server.hub.events == []
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        with trio.fail_after(WAIT):
            ws = await websocket(port, SIO)
            await ws.receive()
            await ws.send("40")
            assert str(await ws.receive()).startswith("40")
            await ws.send('421["join-room","lobby","ann"]')
            refusal = str(await ws.receive())
            assert refusal.startswith("431[") and '"not_found"' in refusal
        nursery.cancel_scope.cancel()
