"""The Socket.IO layer: namespaces, sockets, rooms, emits and acks.

Features register handlers here and never see transports. Every emit
encodes its packet once (`Outgoing`), whatever the number of recipients, and
queues that same object to each of them; the WebSocket frame is derived once
and cached on it.

Handlers run inline in the reading task of their connection, so the events
of one connection are handled in the order they were sent. A handler
returns the ack payload (merged into ``{"ok": true, ...}``) or raises
`EventError`, which becomes ``{"ok": false, "error": {code, message}}`` in
the ack, or an `error` event when the client asked for no ack.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio

from server.config import ServerConfig
from server.engine import EngineSession
from server.errors import EventError
from server.protocol.engineio import encode_message
from server.protocol.errors import LocalProtocolError, ProtocolError
from server.protocol.events import (
    AckReceived,
    ConnectRequested,
    Disconnected,
    EventReceived,
)
from server.protocol.socketio import (
    SioPacket,
    SioType,
    encode,
    encode_event_text,
    encode_event_text_json,
)
from server.protocol.socketio_session import INVALID_NAMESPACE, SocketIOServerConnection
from server.transport.base import Outgoing

log = logging.getLogger(__name__)


class DeferredAck:
    """A reply that is known only later (after a commit); the connection reads on meanwhile.

    The feature resolves it synchronously from the place where the outcome
    becomes known (the store's commit callback, which runs in commit order),
    so replies keep their order relative to broadcasts made at the same
    point: OT clients rely on seeing their ack before any later broadcast.
    """

    __slots__ = ("_outcome", "_send")

    def __init__(self) -> None:
        self._outcome: tuple[dict[str, Any] | None, EventError | None] | None = None
        self._send: Callable[[dict[str, Any] | None, EventError | None], None] | None = None

    def resolve(self, reply: dict[str, Any] | None = None) -> None:
        self._settle(reply, None)

    def reject(self, error: EventError) -> None:
        self._settle(None, error)

    def _settle(self, reply: dict[str, Any] | None, error: EventError | None) -> None:
        if self._outcome is not None:
            return
        self._outcome = (reply, error)
        if self._send is not None:
            self._send(reply, error)

    def _bind(self, send: Callable[[dict[str, Any] | None, EventError | None], None]) -> None:
        self._send = send
        if self._outcome is not None:
            send(*self._outcome)


Handler = Callable[["Socket", list[Any]], Awaitable[dict[str, Any] | DeferredAck | None]]
ConnectHook = Callable[["Socket"], None]
IdentifyHook = Callable[["Socket"], None]
DisconnectHook = Callable[["Socket", str], None]
Authenticator = Callable[[dict[str, Any] | None], dict[str, Any]]


@dataclass(eq=False, slots=True)
class Socket:
    """One client connection in one namespace."""

    sid: str
    namespace: Namespace
    client: ClientConnection
    user_id: str | None = None
    user_name: str | None = None
    is_admin: bool = False
    rooms: set[str] = field(default_factory=set)
    # the handshake's auth payload, for features (e.g. lastNotificationSeq)
    auth: dict[str, Any] = field(default_factory=dict)
    # per-feature state, keyed by feature name
    state: dict[str, Any] = field(default_factory=dict)
    connected: bool = True
    _acks: dict[int, Callable[[list[Any]], None]] = field(default_factory=dict)
    # token bucket for --rate-limit (events per second per socket)
    _tokens: float = 0.0
    _refilled: float = 0.0

    @property
    def hub(self) -> Hub:
        return self.namespace.hub

    def emit(self, event: str, *args: Any, volatile: bool = False) -> bool:
        return self.hub.emit_to_socket(self, event, *args, volatile=volatile)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> list[Any]:
        """Emit with an ack request and wait for the client's answer."""
        done = trio.Event()
        result: list[Any] = []

        def resolve(args: list[Any]) -> None:
            result.extend(args)
            done.set()

        ack_id = self.client.emit_with_ack(self, event, args, resolve)
        try:
            with trio.fail_after(timeout):
                await done.wait()
        finally:
            self.client.forget_ack(self, ack_id)
        return result

    def emit_with_ack(self, event: str, *args: Any, callback: Callable[[list[Any]], None]) -> None:
        """Emit with an ack request; `callback(args)` runs when the client answers.

        It is also called with [] if the socket disconnects first.
        """
        self.client.emit_with_ack(self, event, args, callback)

    def join(self, room: str) -> None:
        self.namespace.join(self, room)

    def leave(self, room: str) -> None:
        self.namespace.leave(self, room)

    def disconnect(self, reason: str = "server disconnect") -> None:
        self.client.disconnect_socket(self, reason, notify=True)


class Namespace:
    def __init__(self, hub: Hub, name: str) -> None:
        self.hub = hub
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self.rooms: dict[str, dict[Socket, None]] = {}

    def join(self, sock: Socket, room: str) -> None:
        self.rooms.setdefault(room, {})[sock] = None
        sock.rooms.add(room)

    def leave(self, sock: Socket, room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.pop(sock, None)
            if not members:
                del self.rooms[room]
        sock.rooms.discard(room)

    def members(self, room: str) -> Iterable[Socket]:
        return self.rooms.get(room, {}).keys()


@dataclass
class HubStats:
    """Counters the dashboard publishes; cheap enough for the hot path."""

    events_in: Counter[str] = field(default_factory=Counter)
    events_out: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    emits: int = 0
    dropped: int = 0
    errors: int = 0
    connects: int = 0
    disconnects: int = 0
    handling_seconds: list[float] = field(default_factory=list)


class Hub:
    """Namespaces, handlers and the emit API used by every feature."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.namespaces = {name: Namespace(self, name) for name in config.namespaces}
        self.handlers: dict[str, Handler] = {}
        self.connect_hooks: list[ConnectHook] = []
        self.disconnect_hooks: list[DisconnectHook] = []
        self.identify_hooks: list[IdentifyHook] = []
        self.authenticate: Authenticator = _accept_anyone
        self.stats = HubStats()
        self.started = time.time()
        self.rate_limit = config.rate_limit

    # ------------------------------------------------------------ registration
    def on(self, event: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if event in self.handlers:
                raise ValueError(f"two handlers for {event!r}")
            self.handlers[event] = handler
            return handler

        return register

    def on_connect(self, hook: ConnectHook) -> ConnectHook:
        self.connect_hooks.append(hook)
        return hook

    def on_disconnect(self, hook: DisconnectHook) -> DisconnectHook:
        self.disconnect_hooks.append(hook)
        return hook

    def on_identify(self, hook: IdentifyHook) -> IdentifyHook:
        """Called once per socket when it becomes a known user (handshake or first event)."""
        self.identify_hooks.append(hook)
        return hook

    def identify(self, sock: Socket, user_id: str) -> None:
        if sock.user_id is not None:
            return
        sock.user_id = user_id
        for hook in self.identify_hooks:
            try:
                hook(sock)
            except Exception:
                log.exception("identify hook failed for %s", sock.sid)

    def session_handler(self, session: EngineSession) -> ClientConnection:
        return ClientConnection(self, session)

    # ------------------------------------------------------------------- emits
    def _encode(
        self, namespace: str, event: str, args: tuple[Any, ...], volatile: bool
    ) -> list[Outgoing]:
        try:
            return [Outgoing(encode_message(encode_event_text(namespace, event, args)), volatile)]
        except LocalProtocolError:
            if not _has_bytes(args):
                raise
        parts = encode(SioPacket(SioType.EVENT, namespace, [event, *args]))
        return [Outgoing(encode_message(part), volatile) for part in parts]

    def _deliver(self, items: list[Outgoing], targets: Iterable[Socket], event: str) -> int:
        n = 0
        dropped = 0
        for sock in targets:
            send = sock.client.session.send
            for item in items:
                if not send(item):
                    dropped += 1
            n += 1
        self.stats.dropped += dropped
        self.stats.deliveries += n
        self.stats.emits += 1
        self.stats.events_out[event] += n
        return n

    def emit_to_socket(self, sock: Socket, event: str, *args: Any, volatile: bool = False) -> bool:
        if not sock.connected:
            return False
        items = self._encode(sock.namespace.name, event, args, volatile)
        return self._deliver(items, (sock,), event) == 1

    def emit_to_room(
        self,
        namespace: str | Namespace,
        room: str,
        event: str,
        *args: Any,
        skip: Socket | None = None,
        volatile: bool = False,
    ) -> int:
        ns = self.namespaces[namespace] if isinstance(namespace, str) else namespace
        members = ns.rooms.get(room)
        if not members:
            return 0
        items = self._encode(ns.name, event, args, volatile)
        targets = members.keys() if skip is None else [s for s in members if s is not skip]
        return self._deliver(items, targets, event)

    def emit_to_room_encoded(
        self,
        namespace: str | Namespace,
        room: str,
        event: str,
        args_json: str,
        *,
        skip: Socket | None = None,
        volatile: bool = False,
    ) -> int:
        """Like emit_to_room, with the arguments already JSON (comma-separated, no brackets).

        For a handler that has encoded its payload anyway (to store it): the
        broadcast then costs no second encoding.
        """
        ns = self.namespaces[namespace] if isinstance(namespace, str) else namespace
        members = ns.rooms.get(room)
        if not members:
            return 0
        items = [
            Outgoing(encode_message(encode_event_text_json(ns.name, event, args_json)), volatile)
        ]
        targets = members.keys() if skip is None else [s for s in members if s is not skip]
        return self._deliver(items, targets, event)

    def emit_to_all(self, event: str, *args: Any, namespace: str | None = None) -> int:
        total = 0
        for ns in self.namespaces.values():
            if namespace is not None and ns.name != namespace:
                continue
            if ns.sockets:
                items = self._encode(ns.name, event, args, False)
                total += self._deliver(items, ns.sockets.values(), event)
        return total

    def take_token(self, sock: Socket, now: float) -> bool:
        """Token bucket per socket: `rate_limit`/s sustained, bursts of twice that."""
        burst = 2 * self.rate_limit
        if sock._refilled == 0.0:
            sock._tokens, sock._refilled = burst, now
        else:
            sock._tokens = min(burst, sock._tokens + (now - sock._refilled) * self.rate_limit)
            sock._refilled = now
        if sock._tokens < 1.0:
            return False
        sock._tokens -= 1.0
        return True

    def sockets_of_user(self, user_id: str) -> list[Socket]:
        return [
            s
            for ns in self.namespaces.values()
            for s in ns.sockets.values()
            if s.user_id == user_id
        ]

    @property
    def connection_count(self) -> int:
        return sum(len(ns.sockets) for ns in self.namespaces.values())


UNKNOWN_EVENT = "<unknown>"


def _shorten(name: str, limit: int = 100) -> str:
    return name if len(name) <= limit else name[:limit] + "…"


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False


def _accept_anyone(auth: dict[str, Any] | None) -> dict[str, Any]:
    """Auth disabled: identity, if any, comes from the handshake payload or later events."""
    auth = auth or {}
    identity: dict[str, Any] = {}
    user_id = auth.get("userId")
    if isinstance(user_id, str) and user_id:
        identity["user_id"] = user_id[:200]
    name = auth.get("name") or auth.get("userName")
    if isinstance(name, str) and name:
        identity["user_name"] = name[:200]
    return identity


class ClientConnection:
    """The Socket.IO side of one Engine.IO session: drives its sans-io connection and
    owns its sockets, one per joined namespace."""

    def __init__(self, hub: Hub, session: EngineSession) -> None:
        self.hub = hub
        self.session = session
        self.conn = SocketIOServerConnection(session.conn.opened_at, hub.config.connect_timeout)
        self.sockets: dict[str, Socket] = {}
        self._acks: dict[tuple[str, int], Callable[[list[Any]], None]] = {}

    # ------------------------------------------------------- SessionHandler
    @property
    def deadline(self) -> float | None:
        return self.conn.connect_deadline

    def expire(self, now: float) -> str | None:
        if self.conn.expire(now):
            return "no Socket.IO connect within connectTimeout"
        return None

    def _send(self, payloads: list[str | bytes]) -> None:
        send = self.session.send
        for payload in payloads:
            send(Outgoing(encode_message(payload)))

    async def on_message(self, data: str | bytes) -> None:
        try:
            event = self.conn.receive(data)
        except ProtocolError as exc:
            self.hub.stats.errors += 1
            log.info("closing session %s: %s", self.session.sid, exc)
            self.session.close(f"parse error: {exc}")
            return
        replies = self.conn.data_to_send()
        if replies:
            self._send(replies)
        if event is None:
            return
        if isinstance(event, EventReceived):
            await self._on_event(event)
        elif isinstance(event, AckReceived):
            sock = self.sockets.get(event.namespace)
            resolve = self._acks.pop((event.namespace, event.ack_id), None)
            if resolve is not None:
                if sock is not None:
                    sock._acks.pop(event.ack_id, None)
                resolve(event.args)
        elif isinstance(event, ConnectRequested):
            self._on_connect(event)
        elif isinstance(event, Disconnected):
            sock = self.sockets.get(event.namespace)
            if sock is not None:
                self.disconnect_socket(sock, "client namespace disconnect", notify=False)

    # ------------------------------------------------------------ acks out
    def emit_with_ack(
        self,
        sock: Socket,
        event: str,
        args: tuple[Any, ...] | list[Any],
        callback: Callable[[list[Any]], None],
    ) -> int:
        ns = sock.namespace.name
        ack_id, payloads = self.conn.emit(ns, event, list(args), want_ack=True)
        assert ack_id is not None
        self._acks[(ns, ack_id)] = callback
        sock._acks[ack_id] = callback
        self._send(payloads)
        return ack_id

    def forget_ack(self, sock: Socket, ack_id: int) -> None:
        ns = sock.namespace.name
        self._acks.pop((ns, ack_id), None)
        sock._acks.pop(ack_id, None)
        if sock.connected:
            self.conn.forget_ack(ns, ack_id)

    # ------------------------------------------------------------- connect
    def _on_connect(self, request: ConnectRequested) -> None:
        name = request.namespace
        ns = self.hub.namespaces.get(name)
        if ns is None:
            self._send(self.conn.refuse(name, INVALID_NAMESPACE))
            return
        try:
            identity = self.hub.authenticate(request.auth)
        except EventError as exc:
            refusal = {"message": exc.message, "data": {"code": exc.code.value}}
            self._send(self.conn.refuse(name, refusal))
            return
        user_id = identity.pop("user_id", None)
        auth = request.auth or {}
        admin_token = self.hub.config.admin_token
        offered = auth.get("adminToken")
        if admin_token and isinstance(offered, str) and hmac.compare_digest(offered, admin_token):
            identity["is_admin"] = True
        sock = Socket(secrets.token_urlsafe(15), ns, self, auth=auth, **identity)
        self.sockets[name] = sock
        ns.sockets[sock.sid] = sock
        self.hub.stats.connects += 1
        self._send(self.conn.accept(name, sock.sid))
        for hook in self.hub.connect_hooks:
            try:
                hook(sock)
            except Exception:
                log.exception("connect hook failed for %s", sock.sid)
        if user_id is not None:
            self.hub.identify(sock, user_id)

    # -------------------------------------------------------------- events
    async def _on_event(self, request: EventReceived) -> None:
        sock = self.sockets.get(request.namespace)
        if sock is None:
            return
        event = request.name
        stats = self.hub.stats
        handler = self.hub.handlers.get(event)
        # client-chosen names are not counted one by one: a flood of made-up names
        # must not grow the server's memory (or every dashboard update)
        stats.events_in[event if handler is not None else UNKNOWN_EVENT] += 1
        started = time.perf_counter()
        try:
            if handler is None:
                raise EventError("not_found", f"unknown event {_shorten(event)!r}")
            if self.hub.rate_limit and not self.hub.take_token(sock, started):
                raise EventError("rate_limited", f"more than {self.hub.rate_limit:g} events/s")
            result = await handler(sock, request.args)
        except EventError as exc:
            stats.errors += 1
            self._refuse(sock, request, exc)
            return
        except Exception:
            stats.errors += 1
            log.exception("handler for %r failed", event)
            self._refuse(sock, request, EventError("internal", "internal server error"))
            return
        finally:
            samples = stats.handling_seconds
            if len(samples) < 100_000:
                samples.append(time.perf_counter() - started)
        if isinstance(result, DeferredAck):
            result._bind(lambda reply, error: self._settle(sock, request, reply, error))
            return
        self._reply(sock, request, result)

    def _reply(self, sock: Socket, request: EventReceived, result: Any) -> None:
        if request.ack_id is not None and sock.connected:
            reply = {"ok": True}
            if result:
                reply.update(result)
            self._ack(sock, request.ack_id, reply)

    def _settle(
        self,
        sock: Socket,
        request: EventReceived,
        reply: dict[str, Any] | None,
        error: EventError | None,
    ) -> None:
        if error is not None:
            self.hub.stats.errors += 1
            self._refuse(sock, request, error)
        else:
            self._reply(sock, request, reply)

    def _ack(self, sock: Socket, ack_id: int, reply: dict[str, Any]) -> None:
        """Send an ack; one that cannot be encoded becomes an `internal` error, never a crash."""
        ns = sock.namespace.name
        if not self.conn.owes(ns, ack_id):
            return  # the namespace was left meanwhile: nobody waits for this answer
        try:
            payloads = self.conn.ack(ns, ack_id, [reply])
        except LocalProtocolError:
            log.exception("ack of socket %s cannot be encoded", sock.sid)
            error = {"ok": False, "error": {"code": "internal", "message": "bad reply"}}
            payloads = self.conn.ack(ns, ack_id, [error])
        self._send(payloads)

    def _refuse(self, sock: Socket, request: EventReceived, exc: EventError) -> None:
        if not sock.connected:
            return
        if request.ack_id is not None:
            self._ack(sock, request.ack_id, {"ok": False, "error": exc.as_dict()})
        else:
            payload = {
                "code": exc.code.value,
                "message": exc.message,
                "event": _shorten(request.name),
            }
            sock.emit("error", payload)

    # ---------------------------------------------------------- disconnect
    def disconnect_socket(self, sock: Socket, reason: str, notify: bool) -> None:
        if not sock.connected:
            return
        sock.connected = False
        ns = sock.namespace
        self.sockets.pop(ns.name, None)
        ns.sockets.pop(sock.sid, None)
        self.hub.stats.disconnects += 1
        for hook in self.hub.disconnect_hooks:
            try:
                hook(sock, reason)
            except Exception:
                log.exception("disconnect hook failed for %s", sock.sid)
        for room in list(sock.rooms):
            ns.leave(sock, room)
        if notify and not self.session.closed:
            self._send(self.conn.leave(ns.name))
        else:
            self.conn.forget(ns.name)
        for ack_id, resolve in list(sock._acks.items()):
            self._acks.pop((ns.name, ack_id), None)
            resolve([])
        sock._acks.clear()

    def on_close(self, reason: str) -> None:
        for sock in list(self.sockets.values()):
            self.disconnect_socket(sock, reason, notify=False)
        self.conn.forget_all()
