"""The hub: namespaces, handlers, and the emit API every feature uses.

Features register handlers here and never see transports or sessions. Every
emit goes through the namespace's adapter (`server.hub.adapter`): a
broadcast is encoded once, whatever the number of recipients, and the same
`Outgoing` objects are queued to each of them (the WebSocket frame is derived
once and cached on them). With the default `LocalAdapter` that is the whole
story; a cluster adapter also carries the same operations to other nodes.

Handlers are registered in one of three styles (`server.hub.handlers`):
typed catalogue events with ``{ok, ...}`` acks, python-socketio's plain
`(sock, *args)` handlers that choose their ack arguments, or the raw
argument list with ``{ok, ...}`` acks.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.engine import EngineSession
from server.errors import ErrorCode, EventError
from server.hub.adapter import Broadcast, BroadcastOptions, Deliver, SocketInfo
from server.hub.connection import Authenticator, ClientConnection
from server.hub.handlers import ParsedEvent, Registration, ServerEvent, Style
from server.hub.sockets import AdapterFactory, Namespace, Socket
from server.transport.base import Outgoing

log = logging.getLogger(__name__)

ConnectHook = Callable[[Socket], object]
IdentifyHook = Callable[[Socket], object]
DisconnectHook = Callable[[Socket, str], object]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


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


@dataclass(frozen=True, slots=True)
class HubOptions:
    """What the Socket.IO layer is configured with (socket.io's names in comments)."""

    namespaces: tuple[str, ...] = ("/",)
    connect_timeout: float = 45.0  # connectTimeout, seconds
    rate_limit: float = 0.0  # events per second per socket (bursts of 2x); 0: no limit
    admin_token: str | None = None  # a handshake `auth.adminToken` equal to it marks an admin


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


class Hub:
    def __init__(
        self, options: HubOptions | None = None, adapter_factory: AdapterFactory | None = None
    ) -> None:
        options = options or HubOptions()
        self.options = options
        self.admin_token = options.admin_token
        self.connect_timeout = options.connect_timeout
        self.rate_limit = options.rate_limit
        deliver: Deliver[Socket] = self._deliver
        self.namespaces = {
            name: Namespace(name, deliver, adapter_factory) for name in options.namespaces
        }
        self._handlers: dict[str, Registration] = {}
        self._scoped: dict[tuple[str, str], Registration] = {}
        self.connect_hooks: list[ConnectHook] = []
        self.disconnect_hooks: list[DisconnectHook] = []
        self.identify_hooks: list[IdentifyHook] = []
        self.authenticate: Authenticator = _accept_anyone
        self.stats = HubStats()
        self.started = time.time()

    # ------------------------------------------------------------ registration
    def on(
        self, event: str | type[ParsedEvent], *, namespace: str | None = None
    ) -> Callable[[H], H]:
        """Register a handler: for a catalogue event type (typed, ``{ok}`` acks), or for an
        event name (python-socketio's `(sock, *args)`; the result is the ack's arguments).
        Without `namespace` it serves every namespace of the hub."""
        if isinstance(event, str):
            return self._register(event, Style.PLAIN, None, namespace)
        return self._register(event.name, Style.TYPED, event.parse, namespace)

    def on_args(self, event: str, *, namespace: str | None = None) -> Callable[[H], H]:
        """Register a handler that gets the raw argument list and answers ``{ok, ...}`` acks
        (the catalogue's convention, for an event it does not declare)."""
        return self._register(event, Style.ARGS, None, namespace)

    def _register(
        self,
        name: str,
        style: Style,
        parse: Callable[[list[Any]], Any] | None,
        namespace: str | None,
    ) -> Callable[[H], H]:
        def register(handler: H) -> H:
            registration = Registration(handler, style, parse)
            if namespace is None:
                table: dict[Any, Registration] = self._handlers
                key: Any = name
            else:
                if namespace not in self.namespaces:
                    raise ValueError(f"unknown namespace {namespace!r}")
                table, key = self._scoped, (namespace, name)
            if key in table:
                raise ValueError(f"two handlers for {name!r}")
            table[key] = registration
            return handler

        return register

    def registration(self, event: str, namespace: str) -> Registration | None:
        if self._scoped:
            scoped = self._scoped.get((namespace, event))
            if scoped is not None:
                return scoped
        return self._handlers.get(event)

    @property
    def events(self) -> list[str]:
        """Every event name with a handler (any namespace)."""
        return sorted({*self._handlers, *(name for _, name in self._scoped)})

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

    def act_as(self, sock: Socket, user_id: str) -> None:
        """A socket speaks for one user: the first id it uses, or the one its token proves;
        any other id is refused (`forbidden`)."""
        if sock.user_id is None:
            self.identify(sock, user_id)
        elif sock.user_id != user_id:
            raise EventError(
                ErrorCode.FORBIDDEN, f"this connection acts as {sock.user_id!r}, not {user_id!r}"
            )

    def identify(self, sock: Socket, user_id: str) -> None:
        if sock.user_id is not None:
            return
        sock.user_id = user_id
        for hook in self.identify_hooks:
            try:
                hook(sock)
            except Exception:
                log.exception("identify hook failed for %s", sock.sid)

    # -------------------------------------------------- the connections' side
    def session_handler(self, session: EngineSession) -> ClientConnection:
        return ClientConnection(self, session)

    def connected(self, sock: Socket, user_id: str | None) -> None:
        self.stats.connects += 1
        for hook in self.connect_hooks:
            try:
                hook(sock)
            except Exception:
                log.exception("connect hook failed for %s", sock.sid)
        if user_id is not None:
            self.identify(sock, user_id)

    def disconnected(self, sock: Socket, reason: str) -> None:
        self.stats.disconnects += 1
        for hook in self.disconnect_hooks:
            try:
                hook(sock, reason)
            except Exception:
                log.exception("disconnect hook failed for %s", sock.sid)

    def take_token(self, sock: Socket, now: float) -> bool:
        """Token bucket per socket: `rate_limit`/s sustained, bursts of twice that."""
        rate = self.rate_limit
        burst = 2 * rate
        if sock._refilled == 0.0:
            sock._tokens, sock._refilled = burst, now
        else:
            sock._tokens = min(burst, sock._tokens + (now - sock._refilled) * rate)
            sock._refilled = now
        if sock._tokens < 1.0:
            return False
        sock._tokens -= 1.0
        return True

    # ------------------------------------------------------------------- emits
    def _deliver(self, items: list[Outgoing], targets: Iterable[Socket], event: str) -> int:
        n = 0
        dropped = 0
        for sock in targets:
            send = sock.client.session.send  # type: ignore[attr-defined]
            for item in items:
                if not send(item):
                    dropped += 1
            n += 1
        stats = self.stats
        stats.dropped += dropped
        stats.deliveries += n
        stats.emits += 1
        stats.events_out[event] += n
        return n

    def namespace(self, namespace: str | Namespace) -> Namespace:
        return self.namespaces[namespace] if isinstance(namespace, str) else namespace

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | Namespace = "/",
        to: str | Iterable[str] = (),
        skip: str | Socket | Iterable[str] = (),
        volatile: bool = False,
        local: bool = False,
        args_json: str | None = None,
    ) -> int:
        """Broadcast to the sockets in any of the `to` rooms (everyone when empty), except
        those in the `skip` rooms (a socket, or its id, skips just it). Encoded once;
        returns the local deliveries. `args_json`: the arguments already JSON
        (comma-separated, no brackets), for a sender that encoded them anyway."""
        ns = self.namespace(namespace)
        if isinstance(skip, Socket):
            skip = skip.sid
        packet = Broadcast(ns.name, event, args, args_json=args_json)
        return ns.broadcast(
            packet, BroadcastOptions.to(to, skip=skip, volatile=volatile, local=local)
        )

    def emit_event(
        self,
        event: ServerEvent,
        *,
        namespace: str | Namespace = "/",
        to: str | Iterable[str] = (),
        skip: str | Socket | Iterable[str] = (),
        volatile: bool = False,
    ) -> int:
        """`emit` for a typed server event (one of `server.catalogue`'s)."""
        return self.emit(
            event.name, *event.to_args(), namespace=namespace, to=to, skip=skip, volatile=volatile
        )

    def emit_to_all(self, event: str, *args: Any, namespace: str | None = None) -> int:
        names = self.namespaces if namespace is None else (namespace,)
        return sum(self.emit(event, *args, namespace=name) for name in names)

    # --------------------------------------------- selections (cluster-wide ops)
    def sockets_join(
        self, rooms: str | Iterable[str], *, namespace: str = "/", to: str | Iterable[str] = ()
    ) -> None:
        """socketsJoin: every selected socket joins `rooms`."""
        names = (rooms,) if isinstance(rooms, str) else tuple(rooms)
        self.namespaces[namespace].adapter.add_sockets(BroadcastOptions.to(to), names)

    def sockets_leave(
        self, rooms: str | Iterable[str], *, namespace: str = "/", to: str | Iterable[str] = ()
    ) -> None:
        """socketsLeave: every selected socket leaves `rooms`."""
        names = (rooms,) if isinstance(rooms, str) else tuple(rooms)
        self.namespaces[namespace].adapter.del_sockets(BroadcastOptions.to(to), names)

    def disconnect_sockets(
        self, *, namespace: str = "/", to: str | Iterable[str] = (), close: bool = False
    ) -> None:
        """disconnectSockets: the selected sockets leave the namespace (`close`: their
        whole connections end)."""
        self.namespaces[namespace].adapter.disconnect_sockets(BroadcastOptions.to(to), close)

    async def fetch_sockets(
        self, *, namespace: str = "/", to: str | Iterable[str] = ()
    ) -> list[SocketInfo]:
        return await self.namespaces[namespace].adapter.fetch_sockets(BroadcastOptions.to(to))

    async def server_side_emit(self, event: str, *args: Any, namespace: str = "/") -> list[Any]:
        """To the other servers of a cluster (none with the local adapter): their answers."""
        return await self.namespaces[namespace].adapter.server_side_emit(event, list(args))

    async def server_count(self, namespace: str = "/") -> int:
        return await self.namespaces[namespace].adapter.server_count()

    # --------------------------------------------------------------- queries
    def sockets_of_user(self, user_id: str) -> list[Socket]:
        return [
            s
            for ns in self.namespaces.values()
            for s in ns.sockets.values()
            if s.user_id == user_id
        ]

    def has_room(self, room: str) -> bool:
        """Whether some socket of this node, in any namespace, is in `room`."""
        return any(ns.has_room(room) for ns in self.namespaces.values())

    @property
    def room_count(self) -> int:
        return sum(sum(1 for _ in ns.adapter.room_names()) for ns in self.namespaces.values())

    @property
    def connection_count(self) -> int:
        return sum(len(ns.sockets) for ns in self.namespaces.values())
