"""The Socket.IO side of one Engine.IO session: namespace joins, events, acks.

`ClientConnection` drives the session's sans-io
`SocketIOServerConnection` (which decides what every packet means) and owns
the session's sockets, one per joined namespace. Handlers run inline in the
reading task of their connection, so the events of one connection are
handled in the order they were sent; a handler that must wait answers with
a `DeferredAck` and the connection reads on.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from server.engine import EngineSession
from server.errors import ErrorCode, EventError
from server.hub.acks import DeferredAck
from server.hub.handlers import Registration, ack_arguments, envelope
from server.hub.sockets import Namespace, Socket
from server.protocol.engineio import encode_message
from server.protocol.errors import LocalProtocolError, ProtocolError
from server.protocol.events import AckReceived, ConnectRequested, Disconnected, EventReceived
from server.protocol.socketio_session import INVALID_NAMESPACE, SocketIOServerConnection
from server.transport.base import Outgoing

log = logging.getLogger(__name__)

UNKNOWN_EVENT = "<unknown>"
Authenticator = Callable[[dict[str, Any] | None], dict[str, Any]]


class Stats(Protocol):
    events_in: Counter[str]
    errors: int
    connects: int
    disconnects: int
    handling_seconds: list[float]


class HubContext(Protocol):
    """What a connection needs of its hub (`server.hub.hub.Hub` is one)."""

    @property
    def namespaces(self) -> dict[str, Namespace]: ...

    @property
    def stats(self) -> Stats: ...

    @property
    def authenticate(self) -> Authenticator: ...

    @property
    def admin_token(self) -> str | None: ...

    @property
    def connect_timeout(self) -> float: ...

    @property
    def rate_limit(self) -> float: ...

    def registration(self, event: str, namespace: str) -> Registration | None: ...

    def take_token(self, sock: Socket, now: float) -> bool: ...

    def connected(self, sock: Socket, user_id: str | None) -> None: ...

    def disconnected(self, sock: Socket, reason: str) -> None: ...


class ClientConnection:
    def __init__(self, hub: HubContext, session: EngineSession) -> None:
        self.hub = hub
        self.session = session
        self.conn = SocketIOServerConnection(session.conn.opened_at, hub.connect_timeout)
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

    def on_close(self, reason: str) -> None:
        for sock in list(self.sockets.values()):
            self.disconnect_socket(sock, reason, notify=False)
        self.conn.forget_all()

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
            resolve = self._acks.pop((event.namespace, event.ack_id), None)
            if resolve is not None:
                sock = self.sockets.get(event.namespace)
                if sock is not None:
                    sock._acks.pop(event.ack_id, None)
                resolve(event.args)
        elif isinstance(event, ConnectRequested):
            self._on_connect(event)
        elif isinstance(event, Disconnected):
            sock = self.sockets.get(event.namespace)
            if sock is not None:
                self.disconnect_socket(sock, "client namespace disconnect", notify=False)

    # ------------------------------------------------- Connection (sockets')
    @property
    def pending_bytes(self) -> int:
        return self.session.pending_bytes

    def close(self, reason: str) -> None:
        self.session.close(reason)

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

    def disconnect_socket(self, sock: Socket, reason: str, notify: bool) -> None:
        if not sock.connected:
            return
        sock.connected = False
        ns = sock.namespace
        self.sockets.pop(ns.name, None)
        self.hub.disconnected(sock, reason)  # hooks run while the socket is still in its rooms
        ns.remove(sock)
        if notify and not self.session.closed:
            self._send(self.conn.leave(ns.name))
        else:
            self.conn.forget(ns.name)
        for ack_id, resolve in list(sock._acks.items()):
            self._acks.pop((ns.name, ack_id), None)
            resolve([])
        sock._acks.clear()

    # -------------------------------------------------------------- connect
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
        admin_token = self.hub.admin_token
        offered = auth.get("adminToken")
        if admin_token and isinstance(offered, str) and hmac.compare_digest(offered, admin_token):
            identity["is_admin"] = True
        sock = Socket(secrets.token_urlsafe(15), ns, self, auth=auth, **identity)
        self.sockets[name] = sock
        ns.add(sock)
        self._send(self.conn.accept(name, sock.sid))
        self.hub.connected(sock, user_id)

    # --------------------------------------------------------------- events
    async def _on_event(self, request: EventReceived) -> None:
        sock = self.sockets.get(request.namespace)
        if sock is None:
            return
        hub = self.hub
        stats = hub.stats
        event = request.name
        registration = hub.registration(event, sock.namespace.name)
        # client-chosen names are not counted one by one: a flood of made-up names
        # must not grow the server's memory (or every dashboard update)
        stats.events_in[event if registration is not None else UNKNOWN_EVENT] += 1
        started = time.perf_counter()
        wraps = registration is None or registration.wraps
        try:
            if registration is None:
                raise EventError(ErrorCode.NOT_FOUND, f"unknown event {_shorten(event)!r}")
            if hub.rate_limit and not hub.take_token(sock, started):
                raise EventError(ErrorCode.RATE_LIMITED, f"more than {hub.rate_limit:g} events/s")
            result = await registration.call(sock, request.args)
        except EventError as exc:
            stats.errors += 1
            self._refuse(sock, request, exc)
            return
        except Exception:
            stats.errors += 1
            log.exception("handler for %r failed", event)
            self._refuse(sock, request, EventError(ErrorCode.INTERNAL, "internal server error"))
            return
        finally:
            samples = stats.handling_seconds
            if len(samples) < 100_000:
                samples.append(time.perf_counter() - started)
        if isinstance(result, DeferredAck):
            result.bind(lambda reply, error: self._settle(sock, request, reply, error, wraps))
            return
        self._reply(sock, request, result, wraps)

    def _reply(self, sock: Socket, request: EventReceived, result: Any, wraps: bool) -> None:
        if request.ack_id is not None and sock.connected:
            self._ack(sock, request.ack_id, [envelope(result)] if wraps else ack_arguments(result))

    def _settle(
        self,
        sock: Socket,
        request: EventReceived,
        reply: Any,
        error: EventError | None,
        wraps: bool,
    ) -> None:
        if error is not None:
            self.hub.stats.errors += 1
            self._refuse(sock, request, error)
        else:
            self._reply(sock, request, reply, wraps)

    def _ack(self, sock: Socket, ack_id: int, args: list[Any]) -> None:
        """Send an ack; one that cannot be encoded becomes an `internal` error, never a crash."""
        ns = sock.namespace.name
        if not self.conn.owes(ns, ack_id):
            return  # the namespace was left meanwhile: nobody waits for this answer
        try:
            payloads = self.conn.ack(ns, ack_id, args)
        except LocalProtocolError:
            log.exception("ack of socket %s cannot be encoded", sock.sid)
            error = {"ok": False, "error": {"code": "internal", "message": "bad reply"}}
            payloads = self.conn.ack(ns, ack_id, [error])
        self._send(payloads)

    def _refuse(self, sock: Socket, request: EventReceived, exc: EventError) -> None:
        if not sock.connected:
            return
        if request.ack_id is not None:
            self._ack(sock, request.ack_id, [{"ok": False, "error": exc.as_dict()}])
        else:
            payload = {
                "code": exc.code.value,
                "message": exc.message,
                "event": _shorten(request.name),
            }
            sock.emit("error", payload)

    def _send(self, payloads: Iterable[str | bytes]) -> None:
        send = self.session.send
        for payload in payloads:
            send(Outgoing(encode_message(payload)))


def _shorten(name: str, limit: int = 100) -> str:
    return name if len(name) <= limit else name[:limit] + "…"
