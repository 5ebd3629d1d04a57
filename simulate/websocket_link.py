"""The trio client's WebSocket link: h11 for the handshake, our own framing after it.

Receiving is the load generator's hot path (every broadcast is a frame), so
frames are split by `server.protocol.wsframe.FrameReader` rather than
wsproto; frames we send are masked by `encode_client_frame`, as RFC 6455
requires of clients. In a fleet, reading can be handed to one shared epoll
(`run_with` and `simulate.reactor`) instead of a task per link.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio
from wsproto.utilities import generate_accept_token

from server.protocol.engineio import request_target
from server.protocol.errors import ProtocolError
from server.protocol.wsframe import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    encode_client_frame,
)
from simulate.link import ClientError, NotConnected
from simulate.reactor import Reactor


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    target: str  # path + query of the WebSocket request

    @classmethod
    def parse(cls, url: str, path: str = "/socket.io/") -> Endpoint:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "ws"):
            raise ValueError(f"unsupported scheme {parts.scheme!r} (use http:// or ws://)")
        port = parts.port or 80
        return cls(parts.hostname or "127.0.0.1", port, request_target(path, "websocket"))


class WebSocketLink:
    """One WebSocket connection: h11 for the handshake, our own framing after it.

    Receiving is the load generator's hot path (every broadcast is a frame),
    so frames are split by `FrameReader` rather than wsproto; frames we send
    are masked by `encode_client_frame`, as RFC 6455 requires of clients.
    """

    def __init__(self, stream: trio.SocketStream, trailing: bytes) -> None:
        self.stream = stream
        self.reader = FrameReader(masked=False)
        self._trailing = trailing
        self.lock = trio.Lock()
        self.closed = False
        # parsed but not yet consumed messages, and control frames owed to the server
        self._ready: deque[str | bytes] = deque()
        self._owed: list[bytes] = []
        self._reactor: Reactor | None = None
        self._on_message: Callable[[str | bytes], bool] | None = None
        self._detached = trio.Event()
        self._spawn: Callable[[bytes], None] | None = None

    @classmethod
    async def open(cls, endpoint: Endpoint, timeout: float) -> WebSocketLink:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(endpoint.host, endpoint.port)
            try:
                trailing = await _handshake(stream, endpoint)
            except BaseException:
                await stream.aclose()
                raise
            return cls(stream, trailing)

    async def send(self, message: str | bytes) -> None:
        if self.closed:
            raise NotConnected("link closed")
        data = encode_client_frame(message, os.urandom(4))
        async with self.lock:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self.closed = True
                raise NotConnected(str(exc)) from None

    def _absorb(self, data: bytes) -> None:
        """Parse received bytes into `_ready` messages; a close or a violation closes the link."""
        try:
            frames = self.reader.feed(data)
        except ProtocolError:
            self.closed = True
            return
        for opcode, payload in frames:
            if opcode in (OPCODE_TEXT, OPCODE_BINARY):
                self._ready.append(payload)  # type: ignore[arg-type]
            elif opcode == OPCODE_PING:
                self._owed.append(encode_client_frame(payload, os.urandom(4), OPCODE_PONG))  # type: ignore[arg-type]
            elif opcode == OPCODE_CLOSE:
                self.closed = True
                return
        if self.reader.error is not None:
            self.closed = True

    async def messages(self) -> AsyncIterator[str | bytes]:
        data, self._trailing = self._trailing, b""
        while True:
            if data:
                self._absorb(data)
            while self._ready:
                yield self._ready.popleft()
            while self._owed:
                await self._send_raw(self._owed.pop(0))
            if self.closed:
                return
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.closed = True
                return

    # -- reactor mode: frames handled synchronously in the reactor's task --
    async def run_with(
        self,
        reactor: Reactor,
        on_message: Callable[[str | bytes], bool],
        spawn: Callable[[bytes], None],
    ) -> None:
        """Hand reading to `reactor` until `on_message` returns False or the link closes."""
        self._reactor, self._on_message, self._spawn = reactor, on_message, spawn
        if self._trailing:
            data, self._trailing = self._trailing, b""
            self._absorb(data)
        self._deliver_ready()
        if not self.closed:
            reactor.add(self.stream.socket.fileno(), self._readable)
        if self.closed:
            self._detach()
        await self._detached.wait()

    def _readable(self) -> None:
        try:
            data = os.read(self.stream.socket.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
        else:
            self._absorb(data)
            self._deliver_ready()
        if self.closed:
            self._detach()

    def _deliver_ready(self) -> None:
        assert self._on_message is not None and self._spawn is not None
        while self._owed:
            self._spawn(self._owed.pop(0))
        while self._ready and not self.closed:
            if not self._on_message(self._ready.popleft()):
                self.closed = True

    def _detach(self) -> None:
        if self._reactor is not None:
            self._reactor.remove(self.stream.socket.fileno())
            self._reactor = None
        self._detached.set()

    async def _send_raw(self, frame: bytes) -> None:
        async with self.lock:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(frame)

    async def _send_control(self, opcode: int, payload: bytes) -> None:
        frame = encode_client_frame(payload, os.urandom(4), opcode)
        async with self.lock:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(frame)

    def abort(self) -> None:
        """Reset the TCP connection at once (SO_LINGER 0): no close frame, no goodbye."""
        self.closed = True
        self._detach()
        sock = self.stream.socket
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    async def aclose(self) -> None:
        self._detach()
        if self.closed and self.stream.socket.fileno() == -1:
            return
        self.closed = True
        with trio.move_on_after(1) as scope:
            scope.shield = True
            with suppress(Exception):
                await self._send_control(OPCODE_CLOSE, (1000).to_bytes(2, "big"))
            await self.stream.aclose()


async def _handshake(stream: trio.SocketStream, endpoint: Endpoint) -> bytes:
    """The HTTP Upgrade exchange; returns bytes the server sent after its 101 response."""
    key = base64.b64encode(os.urandom(16))
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=endpoint.target,
        headers=[
            ("host", f"{endpoint.host}:{endpoint.port}"),
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", key.decode("ascii")),
            ("sec-websocket-version", "13"),
        ],
    )
    await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                raise ClientError("connection closed during the WebSocket handshake")
            conn.receive_data(data)
        elif isinstance(event, h11.InformationalResponse) and event.status_code == 101:
            accept = dict(event.headers).get(b"sec-websocket-accept", b"")
            if accept != generate_accept_token(key):
                raise ClientError("the server's Sec-WebSocket-Accept does not match our key")
            return bytes(conn.trailing_data[0])
        elif isinstance(event, h11.Response):
            raise ClientError(f"WebSocket handshake refused: HTTP {event.status_code}")
