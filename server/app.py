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

from server.auth import token_authenticator
from server.config import ServerConfig
from server.engine import EngineOptions, EngineServer
from server.features.chat import ChatRooms
from server.features.dashboard import Dashboards
from server.features.documents import Documents
from server.features.game import Games
from server.features.notifications import Notifications
from server.features.presence import PresenceRegistry
from server.features.signaling import Signaling
from server.hub import Hub
from server.protocol.errors import PayloadTooLarge
from server.storage.ports import Storage
from server.storage.sqlite import SqliteStorage
from server.transport.endpoint import EngineEndpoint
from server.transport.http import HttpConnection, Request
from server.transport.memory import ToClient, open_memory_session
from server.transport.outbox import Flusher
from server.transport.polling import PollingEndpoint
from server.transport.websocket import WebSocketEndpoint

log = logging.getLogger("rtlab.server")

IDLE_TIMEOUT = 60.0  # seconds for a request head to arrive on an open connection

HttpRoute = Callable[["ReferenceServer", HttpConnection, Request], Awaitable[None]]


class ReferenceServer:
    def __init__(self, config: ServerConfig, *, inline_store: bool = False) -> None:
        self.config = config
        self.hub = Hub(config)
        if config.auth_secret:
            self.hub.authenticate = token_authenticator(config.auth_secret)
        self.engine = EngineServer(
            EngineOptions(config.ping_interval, config.ping_timeout, config.max_payload),
            self.hub.session_handler,
        )
        self.flusher = Flusher()
        self.endpoint = EngineEndpoint(
            self.engine,
            PollingEndpoint(
                self.engine, self.start_task, config.max_payload, config.outbox_max_bytes
            ),
            WebSocketEndpoint(
                self.engine,
                self.flusher,
                config.max_payload,
                config.outbox_max_bytes,
                self.start_task,
            ),
            config.cors_origins,
        )
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
        return open_memory_session(self.engine, self.start_task, to_client, self.config.max_payload)

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
            return await self.endpoint.handle(http, request)
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
