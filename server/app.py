"""The reference server: one TCP port for WebSocket, long-polling, health and static files.

`ReferenceServer.serve` runs everything in one nursery: the listener, the
broadcast flusher, the shared heartbeat, the storage's writer and every
connection. Routing reads the request head with h11: Engine.IO requests
under `config.path`, `GET /healthz`, feature HTTP routes (e.g. `POST
/notify`), then static files.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Awaitable, Callable

import h11
import trio
from wsproto.utilities import generate_accept_token

from server.auth import token_authenticator
from server.config import ServerConfig
from server.engine import EngineServer, EngineSession
from server.features.chat import ChatRooms
from server.features.dashboard import Dashboards
from server.features.documents import Documents
from server.features.game import Games
from server.features.notifications import Notifications
from server.features.presence import PresenceRegistry
from server.features.signaling import Signaling
from server.hub import Hub
from server.protocol.engineio import decode_payload
from server.protocol.errors import PayloadTooLarge, ProtocolError
from server.storage.ports import Storage
from server.storage.sqlite import SqliteStorage
from server.transport.http import HttpConnection, Request
from server.transport.memory import MemoryTransport, ToClient
from server.transport.outbox import Flusher
from server.transport.polling import ConcurrentPoll, PollingTransport
from server.transport.websocket import WebSocketTransport

log = logging.getLogger("rtlab.server")

# Engine.IO's HTTP error codes (engine.io/lib/server.ts)
UNKNOWN_TRANSPORT, UNKNOWN_SID, BAD_HANDSHAKE_METHOD, BAD_REQUEST, FORBIDDEN, UNSUPPORTED = range(6)
_ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED: "Unsupported protocol version",
}

IDLE_TIMEOUT = 60.0  # seconds for a request head to arrive on an open connection
BODY_TIMEOUT = 30.0  # seconds for a POST body

HttpRoute = Callable[["ReferenceServer", HttpConnection, Request], Awaitable[None]]


class ReferenceServer:
    def __init__(self, config: ServerConfig, *, inline_store: bool = False) -> None:
        self.config = config
        self.hub = Hub(config)
        if config.auth_secret:
            self.hub.authenticate = token_authenticator(config.auth_secret)
        self.engine = EngineServer(config, self.hub.session_handler)
        self.flusher = Flusher()
        self.storage: Storage = SqliteStorage(config.db_path, inline=inline_store)
        self.routes: dict[tuple[str, str], HttpRoute] = {}
        self.started = time.time()
        self.port: int | None = None
        self.nursery: trio.Nursery | None = None
        self.background_tasks: list[Callable[[], Awaitable[None]]] = []
        # the features, set by install_features (typed here so callers can find them)
        self.presence: PresenceRegistry
        self.chat: ChatRooms
        self.documents: Documents
        self.notifications: Notifications
        self.dashboards: Dashboards
        self.games: Games
        self.signaling: Signaling
        from server.features import install_features

        install_features(self)

    def start_task(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run a feature's background work in the server's nursery, fenced.

        A child that raises would cancel the whole server: a feature's bug
        must cost its own task only, so the exception is logged and dropped.
        """
        assert self.nursery is not None, "the server is not serving"

        async def fenced() -> None:
            try:
                await fn(*args)
            except Exception:
                log.exception("background task %s failed", getattr(fn, "__qualname__", fn))

        self.nursery.start_soon(fenced)

    def route(self, method: str, path: str) -> Callable[[HttpRoute], HttpRoute]:
        def register(handler: HttpRoute) -> HttpRoute:
            self.routes[(method, path)] = handler
            return handler

        return register

    # --------------------------------------------------------------- serving
    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        raise_open_files_limit()
        listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.port = listeners[0].socket.getsockname()[1]
        await self.storage.open()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self.storage.run)
                nursery.start_soon(self.flusher.run)
                nursery.start_soon(self.engine.run_heartbeat)
                for feature_task in self.background_tasks:
                    nursery.start_soon(feature_task)
                await nursery.start(trio.serve_listeners, self._handle_tcp, listeners)
                log.info(
                    "rtlab server listening on http://%s:%d (Engine.IO path %s)",
                    self.config.host,
                    self.port,
                    self.config.path,
                )
                task_status.started(self.port)
        finally:
            self.engine.close_all("server shutting down")
            await self.storage.close()

    async def serve_in_memory(
        self,
        *,
        heartbeat: bool = True,
        background: bool = False,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve connections made with `connect_in_memory` only: no socket, no thread.

        For virtual-time simulation: with inline storage nothing here leaves
        the trio thread, so a run under MockClock is deterministic.
        """
        await self.storage.open()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self.storage.run)
                if heartbeat:
                    nursery.start_soon(self.engine.run_heartbeat)
                # periodic publishers own deadlines of their own: off unless asked for,
                # so that a simulation's Scheduler stays the only one (see simulate.network)
                if background:
                    for feature_task in self.background_tasks:
                        nursery.start_soon(feature_task)
                task_status.started()
        finally:
            self.engine.close_all("server shutting down")
            await self.storage.close()

    def connect_in_memory(self, to_client: ToClient) -> Callable[[str | bytes | None], None]:
        """Open a simulated connection; returns the function that delivers client packets."""
        assert self.nursery is not None, "serve_in_memory first"
        transport = MemoryTransport(to_client, self.config.max_payload)

        async def run() -> None:
            session = self.engine.open_session(transport)
            reason = "transport failed"
            try:
                reason = await transport.run(
                    lambda packet: session.receive(packet, transport),
                    on_ready=lambda: to_client(session.open_packet([])),
                )
            finally:
                session.transport_lost(transport, reason)

        self.nursery.start_soon(run)
        return transport.deliver

    async def _handle_tcp(self, stream: trio.SocketStream) -> None:
        http = HttpConnection(stream)
        try:
            while True:
                # an idle keep-alive connection, or a request head that never ends, is dropped
                with trio.move_on_after(IDLE_TIMEOUT):
                    request = await http.next_request()
                    if request is None:
                        return
                if request is None:
                    return
                upgraded = await self._dispatch(http, request)
                if upgraded:
                    return
                # keep-alive: consume what is left of the request (a GET's end of message)
                if not await http.finish_request(self.config.max_payload):
                    return
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except PayloadTooLarge:
            pass
        except Exception:
            # A bug must cost one connection, never the whole server.
            log.exception("connection handler failed")
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()

    async def _dispatch(self, http: HttpConnection, request: Request) -> bool:
        path = request.path
        eio_path = self.config.path.rstrip("/")
        if path == eio_path or path.startswith(eio_path + "/"):
            return await self._engineio(http, request)
        if request.method == "GET" and path == "/healthz":
            await http.respond_json(200, self.health())
            return False
        handler = self.routes.get((request.method, path))
        if handler is None and request.method == "GET":
            handler = self.routes.get(("GET", "*"))
        if handler is None:
            await http.respond_json(404, {"error": {"code": "not_found", "message": path}})
            return False
        await handler(self, http, request)
        return False

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.started, 3),
            "connections": self.hub.connection_count,
            "sessions": len(self.engine.sessions),
        }

    # ------------------------------------------------------------- Engine.IO
    def _cors_headers(self, request: Request) -> list[tuple[str, str]]:
        origin = request.header("origin")
        if not origin:
            return []
        allowed = self.config.cors_origins
        if origin in allowed:
            # a named origin may send credentials (cookies); the wildcard may not (CORS rule)
            return [
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("vary", "Origin"),
            ]
        if "*" in allowed:
            return [("access-control-allow-origin", "*")]
        return []

    async def _engine_error(self, http: HttpConnection, request: Request, code: int) -> None:
        payload = {"code": code, "message": _ERROR_MESSAGES[code]}
        status = 403 if code == FORBIDDEN else 400
        await http.respond_json(status, payload, self._cors_headers(request))

    async def _engineio(self, http: HttpConnection, request: Request) -> bool:
        q = request.query
        origin = request.header("origin")
        if origin and not self._cors_headers(request) and request.method != "GET":
            await self._engine_error(http, request, FORBIDDEN)
            return False
        if request.method == "OPTIONS":
            headers = [
                *self._cors_headers(request),
                ("access-control-allow-methods", "GET, POST, OPTIONS"),
                ("access-control-allow-headers", request.header("access-control-request-headers")),
            ]
            await http.respond(204, b"", headers=headers)
            return False
        if q.get("EIO") != "4":
            await self._engine_error(http, request, UNSUPPORTED)
            return False
        transport = q.get("transport")
        sid = q.get("sid")
        if transport == "websocket":
            if not request.wants_websocket or request.method != "GET":
                await self._engine_error(http, request, BAD_REQUEST)
                return False
            session = None
            if sid is not None:
                session = self.engine.sessions.get(sid)
                if session is None or session.transport.name != "polling" or session.probing:
                    await self._engine_error(http, request, UNKNOWN_SID)
                    return False
            await self._websocket(http, request, session)
            return True
        if transport != "polling":
            await self._engine_error(http, request, UNKNOWN_TRANSPORT)
            return False
        if sid is None:
            if request.method != "GET":
                await self._engine_error(http, request, BAD_HANDSHAKE_METHOD)
                return False
            polling = PollingTransport(self.config.outbox_max_bytes)
            session = self.engine.open_session(polling)
            await http.respond(
                200, session.open_packet(["websocket"]), headers=self._cors_headers(request)
            )
            return False
        session = self.engine.sessions.get(sid)
        if session is None or session.transport.name != "polling":
            await self._engine_error(http, request, UNKNOWN_SID)
            return False
        polling = session.transport
        assert isinstance(polling, PollingTransport)
        if request.method == "GET":
            try:
                payload = await self._long_poll(http, polling)
            except ConcurrentPoll:
                session.close("concurrent polling request")
                await self._engine_error(http, request, BAD_REQUEST)
                return False
            if payload is None:
                # like engine.io: a client that hangs up on its pending poll is gone
                session.close("polling connection closed prematurely")
                return False
            await http.respond(200, payload, headers=self._cors_headers(request))
            return False
        if request.method == "POST":
            if polling.posting:
                session.close("overlapping POST from the client")  # as engine.io does
                await self._engine_error(http, request, BAD_REQUEST)
                return False
            polling.posting = True
            try:
                return await self._polling_post(http, request, session, polling)
            finally:
                polling.posting = False
        await self._engine_error(http, request, BAD_HANDSHAKE_METHOD)
        return False

    async def _polling_post(
        self,
        http: HttpConnection,
        request: Request,
        session: EngineSession,
        polling: PollingTransport,
    ) -> bool:
        cors = self._cors_headers(request)
        try:
            with trio.fail_after(BODY_TIMEOUT):
                body = await http.read_body(self.config.max_payload)
            packets = decode_payload(body, self.config.max_payload)
        except trio.TooSlowError:
            session.close("polling POST body too slow")
            await http.respond(408, "request timeout", headers=cors)
            return False
        except PayloadTooLarge:
            session.close("payload exceeds maxPayload")
            await http.respond(413, "payload too large", headers=cors)
            return False
        except ProtocolError as exc:
            session.close(f"parse error: {exc}")
            await self._engine_error(http, request, BAD_REQUEST)
            return False
        for packet in packets:
            if session.closed:
                break
            await session.receive(packet, polling)
        await http.respond(200, "ok", headers=cors)
        return False

    async def _long_poll(self, http: HttpConnection, polling: PollingTransport) -> str | None:
        """Wait for packets, watching the connection meanwhile: None if the client hung up."""
        if polling.polling:
            raise ConcurrentPoll  # before the nursery: it must not arrive as an ExceptionGroup
        result: list[str] = []
        async with trio.open_nursery() as nursery:

            async def poll() -> None:
                result.append(await polling.poll())
                nursery.cancel_scope.cancel()

            nursery.start_soon(poll)
            if await http.wait_for_hangup():
                nursery.cancel_scope.cancel()
        return result[0] if result else None

    async def _websocket(
        self, http: HttpConnection, request: Request, session: EngineSession | None
    ) -> None:
        key = request.header("sec-websocket-key").encode()
        if not key:
            await self._engine_error(http, request, BAD_REQUEST)
            return
        trailing = await http.accept_upgrade(
            [
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-accept", generate_accept_token(key)),
            ]
        )
        ws = WebSocketTransport(
            http.stream,
            trailing,
            self.flusher,
            self.config.max_payload,
            self.config.outbox_max_bytes,
        )
        if session is None:
            session = self.engine.open_session(ws)
            opened = session
            await self._run_transport(
                session, ws, lambda: ws.outbox.push(_frame_text(opened.open_packet([])))
            )
            return
        # an upgrade: the client must probe soon, or this socket is an orphan
        session.attach(ws)
        self.start_task(_expect_probe, session, ws, self.config.ping_timeout)
        await self._run_transport(session, ws, None)

    async def _run_transport(
        self, session: EngineSession, ws: WebSocketTransport, on_ready: Callable[[], None] | None
    ) -> None:
        reason = "transport failed"
        try:
            reason = await ws.run(lambda packet: session.receive(packet, ws), on_ready=on_ready)
        finally:
            session.transport_lost(ws, reason)


async def _expect_probe(session: EngineSession, ws: WebSocketTransport, within: float) -> None:
    await trio.sleep(within)
    if session.probing is not ws and session.transport is not ws:
        ws.close("no upgrade probe")


def _frame_text(text: str) -> bytes:
    from server.protocol.wsframe import encode_frame

    return encode_frame(text)


def raise_open_files_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit: each connection is one fd."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit: %s", exc)
    return soft
