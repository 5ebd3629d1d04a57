"""Raw Engine.IO peers for conformance tests: wsproto WebSockets and h11 polling requests.

The official suites (socketio/engine.io-protocol, socketio/socket.io-protocol)
drive a server with bare WebSockets and `fetch`; these helpers do the same
from trio, framing with wsproto (not our own frame reader), so a test sees
exactly the frames the server wrote, in order.
"""

from __future__ import annotations

import os

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
    TextMessage,
)

from simulate.http_request import http_request


class RawWebSocket:
    """One client WebSocket: send text/bytes, receive whole messages, see the close."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self.closed = False
        self._pending: list[str | bytes] = []
        self._text: list[str] = []
        self._bytes: list[bytes] = []

    @classmethod
    async def open(cls, port: int, target: str) -> RawWebSocket:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=f"127.0.0.1:{port}", target=target)))
        while True:
            data = await stream.receive_some(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return cls(stream, ws)
                if isinstance(event, RejectConnection):
                    raise ConnectionRefusedError(f"HTTP {event.status_code}")

    async def send(self, data: str | bytes) -> None:
        message = TextMessage(data=data) if isinstance(data, str) else BytesMessage(data=data)
        await self.stream.send_all(self.ws.send(message))

    def _absorb(self, data: bytes) -> None:
        if not data:
            self.closed = True
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    self._pending.append("".join(self._text))
                    self._text = []
            elif isinstance(event, BytesMessage):
                self._bytes.append(bytes(event.data))
                if event.message_finished:
                    self._pending.append(b"".join(self._bytes))
                    self._bytes = []
            elif isinstance(event, CloseConnection):
                self.closed = True

    async def receive(self) -> str | bytes:
        """The next message; raises EOFError once the server closed the WebSocket."""
        while not self._pending:
            if self.closed:
                raise EOFError("the server closed the WebSocket")
            try:
                self._absorb(await self.stream.receive_some(65536))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed = True
        return self._pending.pop(0)

    def ready_now(self) -> list[str | bytes]:
        """Messages whose bytes are already in our socket buffer, without waiting."""
        while True:
            try:
                data = os.read(self.stream.socket.fileno(), 65536)  # trio's sockets never block
            except BlockingIOError:
                break
            self._absorb(data)
            if not data:
                break
        ready, self._pending = self._pending, []
        return ready

    async def wait_closed(self) -> list[str | bytes]:
        """Read until the server closes; the messages that came before the close."""
        seen: list[str | bytes] = []
        while True:
            try:
                seen.append(await self.receive())
            except EOFError:
                return seen

    async def aclose(self) -> None:
        await self.stream.aclose()


async def poll(port: int, path: str, sid: str | None = None) -> tuple[int, str]:
    target = f"{path}?EIO=4&transport=polling" + (f"&sid={sid}" if sid else "")
    status, body = await http_request("127.0.0.1", port, "GET", target)
    return status, body.decode()


async def post(port: int, path: str, sid: str, body: str) -> tuple[int, str]:
    target = f"{path}?EIO=4&transport=polling&sid={sid}"
    status, answer = await http_request(
        "127.0.0.1", port, "POST", target, body.encode(), [("content-type", "text/plain")]
    )
    return status, answer.decode()
