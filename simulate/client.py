"""A trio Socket.IO v5 client on the same sans-io sessions as the server.

Bots, tests and the virtual-time runner use it. The protocol is
`server.protocol`'s: an `EngineClientSession` (handshake, answering pings)
and a `SocketIOClientConnection` (namespace CONNECT, events, acks both
ways) decide what every packet means and what to write; this module only
carries bytes over a `simulate.link.Link` (WebSocket by default, polling,
or in-memory in simulations), dispatches events to handlers, and reconnects
with exponential backoff and jitter when the link drops, calling
`on_reconnect` hooks so that a bot can rejoin its rooms.

Requests are built from the catalogue's types (`server/catalogue.py`):
`emit_event` and `call_event` send an event's wire name and arguments;
`emit` and `call` take a name and raw arguments. Usage::

    async with connect("http://127.0.0.1:8000", auth={"userId": "u1"}) as client:
        client.on(EventName.RECEIVE_MESSAGE, print)
        reply = JoinRoomReply.parse(await client.call_event(JoinRoom("lobby", "u1")))
        await client.emit_event(Typing("lobby", "u1"))
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import trio

from server.catalogue import ClientEvent
from server.protocol.engine_session import EngineClientSession
from server.protocol.errors import LocalProtocolError, ProtocolError
from server.protocol.events import (
    AckReceived,
    Connected,
    Disconnected,
    EngineClosed,
    EngineOpened,
    EventReceived,
    MessageReceived,
    PingReceived,
)
from server.protocol.events import ConnectRefused as RefusedByServer
from server.protocol.socketio_session import SocketIOClientConnection
from simulate.link import (
    ClientError,
    ConnectionLost,
    ConnectRefused,
    Link,
    LinkFactory,
    NotConnected,
)
from simulate.polling_link import PollingLink
from simulate.reactor import Reactor
from simulate.websocket_link import Endpoint, WebSocketLink

__all__ = [
    "ClientError",
    "ConnectRefused",
    "ConnectionLost",
    "Endpoint",
    "Link",
    "LinkFactory",
    "NotConnected",
    "SocketIOClient",
    "WebSocketLink",
    "connect",
]

log = logging.getLogger(__name__)

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
        self.connect_timeout = connect_timeout
        if transport not in ("websocket", "polling"):
            raise ValueError("transport is 'websocket' or 'polling'")
        # how to open a transport connection: a WebSocket by default, in-memory in simulations
        if link_factory is None and transport == "polling":
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
        self.random = random.Random(seed)
        # how the client waits between reconnect attempts; a simulation injects its clock
        self.sleep: Callable[[float], Awaitable[None]] = trio.sleep
        # a fleet's shared epoll (simulate.reactor): WebSocket frames are then read and
        # handled in its task instead of a task per client
        self.reactor = reactor
        self.transport = transport
        self._tasks: trio.Nursery | None = None
        self._stop_reason: str | None = None
        # the protocol sessions of the current link (new ones for every connection)
        self._engine = EngineClientSession(transport)
        self._sio = SocketIOClientConnection()
        self._messages: AsyncIterator[str | bytes] | None = None
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
            await self._emit(event, args, None)
            return
        callback = ack
        await self._emit(
            event, args, lambda result: callback(None if result is None else _first(result))
        )

    async def emit_event(
        self, event: ClientEvent, *, ack: Callable[[Any], None] | None = None
    ) -> None:
        """`emit` a catalogue event: its wire name, its arguments (`event.to_args()`)."""
        await self.emit(event.name, *event.to_args(), ack=ack)

    async def call_event(self, event: ClientEvent, *, timeout: float = 10.0) -> Any:
        """`call` with a catalogue event; the raw ack (`type(event).reply.parse` reads it)."""
        return await self.call(event.name, *event.to_args(), timeout=timeout)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> Any:
        """Emit with an ack request; return the server's first ack argument (or the list)."""
        done = trio.Event()
        box: list[list[Any] | None] = []

        def resolve(result: list[Any] | None) -> None:
            box.append(result)
            done.set()

        ack_id = await self._emit(event, args, resolve)
        try:
            with trio.fail_after(timeout):
                await done.wait()
        finally:
            if ack_id is not None and self._acks.pop(ack_id, None) is not None:
                self._sio.forget_ack(self.namespace, ack_id)
        result = box[0]
        if result is None:
            raise ConnectionLost(f"connection lost while waiting for the ack of {event!r}")
        return _first(result)

    async def _emit(
        self,
        event: str,
        args: tuple[Any, ...],
        resolve: Callable[[list[Any] | None], None] | None,
    ) -> int | None:
        """Encode through the session (registering the ack id first), then send."""
        link = self._link
        if link is None or not self.connected:
            raise NotConnected("not connected")
        try:
            ack_id, payloads = self._sio.emit(
                self.namespace, event, list(args), want_ack=resolve is not None
            )
        except LocalProtocolError as exc:
            if not self._sio.connected:
                raise NotConnected(str(exc)) from None
            raise
        if ack_id is not None:
            assert resolve is not None
            self._acks[ack_id] = resolve
        try:
            for payload in payloads:
                await link.send(self._engine.send_message(payload))
        except BaseException:
            if ack_id is not None:
                self._acks.pop(ack_id, None)
            raise
        return ack_id

    # -------------------------------------------------------- connect / run
    async def _connect_once(self) -> Link:
        """Open a link and take it through the Engine.IO and Socket.IO handshakes."""
        link = await self.link_factory()
        engine = EngineClientSession(self.transport)
        sio = SocketIOClientConnection()
        try:
            with trio.fail_after(self.connect_timeout):
                messages = link.messages()
                async for message in messages:
                    events = engine.receive_frame(message, trio.current_time())
                    for _channel, data in engine.data_to_send():
                        await link.send(data)
                    for event in events:
                        if isinstance(event, EngineOpened):
                            self.engine_sid = event.sid
                            for payload in sio.connect(self.namespace, self.auth):
                                await link.send(engine.send_message(payload))
                        elif isinstance(event, EngineClosed):
                            raise ClientError(f"the server closed the session ({event.reason})")
                        elif isinstance(event, MessageReceived):
                            answer = sio.receive(event.data)
                            if isinstance(answer, Connected) and answer.namespace == self.namespace:
                                self.sid = answer.sid
                                self._engine, self._sio, self._messages = engine, sio, messages
                                return link
                            if isinstance(answer, RefusedByServer):
                                raise ConnectRefused(answer.data)
                            if isinstance(answer, EventReceived):
                                # a recovering server replays missed events before its answer
                                self._deliver_event(answer.name, answer.args)
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
        messages = self._messages
        try:
            if self.reactor is not None and isinstance(link, WebSocketLink):
                if messages is not None:
                    # the handshake's reader; what it parsed stays queued in the link
                    await messages.aclose()  # type: ignore[attr-defined]
                await link.run_with(self.reactor, self._on_message, self._send_frame_soon)
            elif messages is not None:
                async for message in messages:
                    if not self._on_message(message):
                        break
            return self._stop_reason or "transport closed"
        finally:
            await link.aclose()

    def _on_message(self, message: str | bytes) -> bool:
        """Handle one Engine.IO packet, synchronously; False to stop reading.

        Synchronous on purpose: handlers, acks and broadcasts then run in
        arrival order, and the same code serves the reactor's callbacks.
        Replies (pongs, acks the server asked for) go out from a task.
        """
        engine = self._engine
        if engine.closed:
            return False  # frames still in flight after the session ended (our own close)
        try:
            data = engine.message_data(message)
            if data is not None:  # the bulk of traffic: a message on the open session
                answer = self._sio.receive(data)
                return answer is None or self._dispatch(answer)
            events = engine.receive_frame(message, trio.current_time())
            replies = self._engine.data_to_send()
            if replies:
                self._send_soon(*(data for _channel, data in replies))
            for event in events:
                if isinstance(event, MessageReceived):
                    answer = self._sio.receive(event.data)
                    if answer is not None and not self._dispatch(answer):
                        return False
                elif isinstance(event, PingReceived):
                    self.pings += 1
                elif isinstance(event, EngineClosed):
                    self._stop_reason = "server closed the session"
                    return False
        except ProtocolError as exc:
            log.warning("bad packet from server: %s", exc)
            self._stop_reason = f"protocol error: {exc}"
            return False
        return True

    def _dispatch(self, event: object) -> bool:
        if type(event) is EventReceived:
            if event.namespace != self.namespace:
                return True
            results = self._deliver_event(event.name, event.args)
            if event.ack_id is not None:
                reply = [r for r in results if r is not None][:1]
                payloads = self._sio.ack(self.namespace, event.ack_id, reply)
                self._send_soon(*(self._engine.send_message(p) for p in payloads))
        elif isinstance(event, AckReceived):
            resolve = self._acks.pop(event.ack_id, None)
            if resolve is not None:
                resolve(event.args)
        elif isinstance(event, Disconnected) and event.namespace == self.namespace:
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
        """Leave the namespace and end the Engine.IO session, then drop the link."""
        self._closing = True
        link = self._link
        if link is not None and self.connected:
            goodbye: list[str | bytes] = []
            with suppress(LocalProtocolError):
                goodbye += [self._engine.send_message(p) for p in self._sio.leave(self.namespace)]
            writes, _events = self._engine.close()
            goodbye += [data for _channel, data in writes]
            with suppress(NotConnected):
                for message in goodbye:
                    await link.send(message)
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
