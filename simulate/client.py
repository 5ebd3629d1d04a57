"""A trio Socket.IO v5 client on the same sans-io codec as the server.

Bots, tests and the virtual-time runner use it. It speaks Engine.IO v4 over
WebSocket (wsproto for the framing, one `send_all` under a lock), answers
the server's pings, resolves acks in both directions, and reconnects with
exponential backoff and jitter when the link drops, calling `on_reconnect`
hooks so that a bot can rejoin its rooms.

Usage::

    async with connect("http://127.0.0.1:8000", auth={"userId": "u1"}) as client:
        client.on("receive-message", print)
        reply = await client.call("join-room", "lobby", "u1")
        await client.emit("typing", "lobby", "u1")
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import h11
import trio
from wsproto.utilities import generate_accept_token

from server.protocol.engineio import PacketType, decode_packet
from server.protocol.errors import ProtocolError
from server.protocol.socketio import SioDecoder, SioPacket, SioType, encode
from server.protocol.socketio import loads as sio_loads
from server.protocol.wsframe import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    encode_client_frame,
)
from simulate.reactor import Reactor

log = logging.getLogger(__name__)


class ClientError(Exception):
    """Base of the client's errors."""


class NotConnected(ClientError):
    """An emit while the link is down (the client does not buffer: bots count it as an error)."""


class ConnectionLost(ClientError):
    """The link dropped while we waited for an ack."""


class ConnectRefused(ClientError):
    """The server answered the Socket.IO CONNECT with CONNECT_ERROR."""

    def __init__(self, data: Any) -> None:
        super().__init__(data.get("message") if isinstance(data, dict) else str(data))
        self.data = data


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
        base = path if path.endswith("/") else path + "/"
        return cls(parts.hostname or "127.0.0.1", port, f"{base}?EIO=4&transport=websocket")


class Link(Protocol):
    """One transport connection carrying Engine.IO packets (WebSocket, or in-memory)."""

    closed: bool

    async def send(self, message: str | bytes) -> None: ...

    def messages(self) -> AsyncIterator[str | bytes]: ...

    async def aclose(self) -> None: ...

    def abort(self) -> None:
        """Drop the connection without a goodbye (an abrupt disconnect)."""


LinkFactory = Callable[[], Awaitable[Link]]


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
            ("sec-websocket-key", key),
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


EventHandler = Callable[..., Any]


class SocketIOClient:
    def __init__(
        self,
        url: str,
        *,
        namespace: str = "/",
        auth: dict[str, Any] | None = None,
        path: str = "/socket.io/",
        reconnect: bool = True,
        reconnect_delay: float = 0.5,
        reconnect_delay_max: float = 5.0,
        reconnect_attempts: int = 20,
        connect_timeout: float = 10.0,
        seed: int | None = None,
        link_factory: LinkFactory | None = None,
        transport: str = "websocket",
        reactor: Reactor | None = None,
    ) -> None:
        self.endpoint = Endpoint.parse(url, path)
        if transport not in ("websocket", "polling"):
            raise ValueError("transport is 'websocket' or 'polling'")
        # how to open a transport connection: a WebSocket by default, in-memory in simulations
        if link_factory is None and transport == "polling":
            from simulate.polling_link import PollingLink

            link_factory = lambda: PollingLink.open(  # noqa: E731
                self.endpoint.host, self.endpoint.port, path, self.connect_timeout
            )
        self.link_factory = link_factory or (
            lambda: WebSocketLink.open(self.endpoint, self.connect_timeout)
        )
        self.namespace = namespace
        self.auth = auth
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = reconnect_delay_max
        self.reconnect_attempts = reconnect_attempts
        self.connect_timeout = connect_timeout
        self.random = random.Random(seed)
        # how the client waits between reconnect attempts; a simulation injects its clock
        self.sleep: Callable[[float], Awaitable[None]] = trio.sleep
        # a fleet's shared epoll (simulate.reactor): WebSocket frames are then read and
        # handled in its task instead of a task per client
        self.reactor = reactor
        self._tasks: trio.Nursery | None = None
        self._stop_reason: str | None = None
        self._event_prefix = "42" + ("" if namespace == "/" else namespace + ",") + "["
        self._event_cut = len(self._event_prefix) - 1
        self.sid: str | None = None
        self.engine_sid: str | None = None
        self.connected = False
        self.reconnects = 0
        self.pings = 0
        self.disconnect_reason: str | None = None
        self._link: Link | None = None
        self._handlers: dict[str, list[EventHandler]] = {}
        self._any: list[Callable[[str, list[Any]], None]] = []
        self._reconnect_hooks: list[Callable[[SocketIOClient], Any]] = []
        self._acks: dict[int, Callable[[list[Any] | None], None]] = {}
        self._next_ack = 0
        self._closing = False

    # ------------------------------------------------------------ handlers
    def on(self, event: str, handler: EventHandler | None = None) -> Any:
        """Call `handler(*args)` for every `event`; its return value answers an ack request."""

        def register(fn: EventHandler) -> EventHandler:
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register(handler) if handler is not None else register

    def on_any(self, handler: Callable[[str, list[Any]], None]) -> None:
        self._any.append(handler)

    def on_reconnect(self, hook: Callable[[SocketIOClient], Any]) -> None:
        """Called (sync or async) after every successful reconnect."""
        self._reconnect_hooks.append(hook)

    @asynccontextmanager
    async def subscribe(
        self, *events: str, buffer: int = 10_000
    ) -> AsyncIterator[trio.MemoryReceiveChannel]:
        """An async iterator of `(event, args)` for the given events (all if none)."""
        send, receive = trio.open_memory_channel[tuple[str, list[Any]]](buffer)
        wanted = set(events)

        def push(event: str, args: list[Any]) -> None:
            if not wanted or event in wanted:
                try:
                    send.send_nowait((event, args))
                except trio.WouldBlock:
                    log.warning("subscriber buffer full; dropping %s", event)

        self._any.append(push)
        try:
            yield receive
        finally:
            self._any.remove(push)

    # --------------------------------------------------------------- emits
    async def emit(self, event: str, *args: Any, ack: Callable[[Any], None] | None = None) -> None:
        """Send an event; with `ack`, call `ack(reply)` when the server acks it.

        `ack` runs synchronously in the reading task, in the order packets
        arrive, so its effects are ordered with the event handlers' (OT
        replicas need their ack before any later broadcast). On a lost
        connection it is called with `None`.
        """
        if ack is None:
            await self._send_packet(SioPacket(SioType.EVENT, self.namespace, [event, *args]))
            return
        ack_id = self._next_ack
        self._next_ack += 1
        self._acks[ack_id] = lambda result: ack(None if result is None else _first(result))
        try:
            await self._send_packet(
                SioPacket(SioType.EVENT, self.namespace, [event, *args], ack_id)
            )
        except BaseException:
            self._acks.pop(ack_id, None)
            raise

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> Any:
        """Emit with an ack request; return the server's first ack argument (or the list)."""
        ack_id = self._next_ack
        self._next_ack += 1
        done = trio.Event()
        box: list[list[Any] | None] = []

        def resolve(result: list[Any] | None) -> None:
            box.append(result)
            done.set()

        self._acks[ack_id] = resolve
        try:
            await self._send_packet(
                SioPacket(SioType.EVENT, self.namespace, [event, *args], ack_id)
            )
            with trio.fail_after(timeout):
                await done.wait()
        finally:
            self._acks.pop(ack_id, None)
        result = box[0]
        if result is None:
            raise ConnectionLost(f"connection lost while waiting for the ack of {event!r}")
        return _first(result)

    async def _send_packet(self, packet: SioPacket) -> None:
        link = self._link
        if link is None or not self.connected:
            raise NotConnected("not connected")
        parts = encode(packet)
        await link.send("4" + parts[0])
        for attachment in parts[1:]:
            await link.send(attachment)

    # -------------------------------------------------------- connect / run
    async def _connect_once(self) -> Link:
        link = await self.link_factory()
        try:
            with trio.fail_after(self.connect_timeout):
                messages = link.messages()
                first = await anext(messages)
                packet = decode_packet(first)
                if packet.type is not PacketType.OPEN:
                    raise ClientError(f"expected an Engine.IO OPEN, got {packet.type.name}")
                self.engine_sid = json.loads(packet.data)["sid"]
                connect = SioPacket(SioType.CONNECT, self.namespace, self.auth)
                await link.send("4" + encode(connect)[0])
                decoder = SioDecoder()
                async for message in messages:
                    ep = decode_packet(message)
                    if ep.type is PacketType.PING:
                        await link.send("3")
                        continue
                    if ep.type is not PacketType.MESSAGE:
                        continue
                    sp = decoder.feed(ep.data)
                    if sp is None or sp.namespace != self.namespace:
                        continue
                    if sp.type is SioType.CONNECT:
                        self.sid = sp.data.get("sid") if isinstance(sp.data, dict) else None
                        self._messages = messages
                        self._decoder = decoder
                        return link
                    if sp.type is SioType.CONNECT_ERROR:
                        raise ConnectRefused(sp.data)
                raise ClientError("connection closed before the Socket.IO CONNECT answer")
        except BaseException:
            await link.aclose()
            raise

    async def open(self) -> None:
        """The first connection attempt; raises its error as is (no retry)."""
        if self._link is None or not self.connected:
            self._link = await self._connect_once()
            self.connected = True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect (unless `open` did), then read until closed; reconnect on loss if enabled.

        Reconnect hooks run in tasks of their own, so a hook may await acks:
        the reading loop goes on meanwhile.
        """
        await self.open()
        task_status.started()
        async with trio.open_nursery() as tasks:
            self._tasks = tasks
            try:
                await self._read_and_reconnect(tasks)
            finally:
                self._tasks = None
            tasks.cancel_scope.cancel()

    async def _read_and_reconnect(self, hooks: trio.Nursery) -> None:
        attempt = 0
        while True:
            assert self._link is not None
            reason = await self._read(self._link)
            self._lost(reason)
            if self._closing or not self.reconnect:
                return
            while True:
                attempt += 1
                if attempt > self.reconnect_attempts:
                    log.warning("giving up reconnecting after %d attempts", attempt - 1)
                    return
                delay = min(self.reconnect_delay_max, self.reconnect_delay * 2 ** (attempt - 1))
                await self.sleep(delay * (0.5 + self.random.random() / 2))
                try:
                    self._link = await self._connect_once()
                except (OSError, ClientError, trio.TooSlowError, ProtocolError) as exc:
                    log.debug("reconnect attempt %d failed: %s", attempt, exc)
                    continue
                break
            attempt = 0
            self.connected = True
            self.reconnects += 1
            for hook in self._reconnect_hooks:
                hooks.start_soon(self._run_hook, hook)

    async def _run_hook(self, hook: Callable[[SocketIOClient], Any]) -> None:
        try:
            result = hook(self)
            if hasattr(result, "__await__"):
                await result
        except (ClientError, trio.TooSlowError) as exc:
            log.warning("reconnect hook %r failed: %s", hook, exc)

    def _lost(self, reason: str) -> None:
        self.connected = False
        self.disconnect_reason = reason
        for resolve in list(self._acks.values()):
            resolve(None)
        self._acks.clear()

    async def _read(self, link: Link) -> str:
        self._stop_reason = None
        try:
            if self.reactor is not None and isinstance(link, WebSocketLink):
                await self._messages.aclose()  # the handshake's reader; what it parsed stays queued
                await link.run_with(self.reactor, self._on_message, self._send_frame_soon)
            else:
                async for message in self._messages:
                    if not self._on_message(message):
                        break
            return self._stop_reason or "transport closed"
        finally:
            await link.aclose()

    def _on_message(self, message: str | bytes) -> bool:
        """Handle one Engine.IO message, synchronously; False to stop reading.

        Synchronous on purpose: handlers, acks and broadcasts then run in
        arrival order, and the same code serves the reactor's callbacks.
        Replies (pongs, acks the server asked for) go out from a task.
        """
        try:
            # Fast path for the bulk of traffic, a plain event on our namespace with no
            # ack request ("42[...]" / "42/ns,[...]"): skip the general decoder.
            if (
                message.__class__ is str
                and message.startswith(self._event_prefix)  # type: ignore[union-attr]
                and not self._decoder.expecting_binary
            ):
                data = sio_loads(message[self._event_cut :])  # type: ignore[index]
                if isinstance(data, list) and data and isinstance(data[0], str):
                    self._deliver_event(data[0], data[1:])
                    return True
            ep = decode_packet(message)
            if ep.type is PacketType.PING:
                self.pings += 1
                self._send_soon("3")
            elif ep.type is PacketType.MESSAGE:
                packet = self._decoder.feed(ep.data)
                if packet is not None:
                    return self._dispatch(packet)
            elif ep.type is PacketType.CLOSE:
                self._stop_reason = "server closed the session"
                return False
        except ProtocolError as exc:
            log.warning("bad packet from server: %s", exc)
            self._stop_reason = f"protocol error: {exc}"
            return False
        return True

    def _dispatch(self, packet: SioPacket) -> bool:
        if packet.namespace != self.namespace:
            return True
        if packet.type is SioType.EVENT:
            results = self._deliver_event(packet.data[0], packet.data[1:])
            if packet.id is not None:
                reply = [r for r in results if r is not None][:1]
                parts = encode(SioPacket(SioType.ACK, self.namespace, reply, packet.id))
                self._send_soon("4" + parts[0], *parts[1:])
        elif packet.type is SioType.ACK:
            resolve = self._acks.pop(packet.id, None) if packet.id is not None else None
            if resolve is not None:
                resolve(packet.data)
        elif packet.type is SioType.DISCONNECT:
            self._stop_reason = "the server disconnected this namespace"
            return False
        return True

    def _send_soon(self, *messages: str | bytes) -> None:
        """Send from a task of the client's own (the caller cannot await)."""
        link = self._link
        if self._tasks is None or link is None:
            return

        async def send() -> None:
            with suppress(NotConnected):
                for message in messages:
                    await link.send(message)

        self._tasks.start_soon(send)

    def _send_frame_soon(self, frame: bytes) -> None:
        link = self._link
        if self._tasks is not None and isinstance(link, WebSocketLink):
            self._tasks.start_soon(link._send_raw, frame)

    def _deliver_event(self, event: str, args: list[Any]) -> list[Any]:
        results = [handler(*args) for handler in self._handlers.get(event, ())]
        for hook in self._any:
            hook(event, args)
        return results

    def abort(self) -> None:
        """Drop the connection abruptly, as a crashed tab would; reconnect logic stays active."""
        if self._link is not None:
            self._link.abort()

    async def close(self) -> None:
        self._closing = True
        link = self._link
        if link is not None and self.connected:
            with suppress(NotConnected):
                await link.send("4" + encode(SioPacket(SioType.DISCONNECT, self.namespace))[0])
            await link.aclose()
        self.connected = False


def _first(args: list[Any]) -> Any:
    """Acks carry a list of arguments; ours carry one, which is what callers want."""
    return args[0] if len(args) == 1 else args


@asynccontextmanager
async def connect(
    url: str,
    *,
    setup: Callable[[SocketIOClient], None] | None = None,
    **options: Any,
) -> AsyncIterator[SocketIOClient]:
    """Connect (raising if the first attempt fails) and keep the client running inside the block.

    `setup(client)` runs before connecting: register handlers there for events the
    server sends right after the handshake (replayed notifications, for example).
    """
    client = SocketIOClient(url, **options)
    if setup is not None:
        setup(client)
    await client.open()  # outside the nursery: a refused connect raises plainly
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        try:
            yield client
        finally:
            await client.close()
            nursery.cancel_scope.cancel()
