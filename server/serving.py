"""rtlab's server as a library: Engine.IO applications mounted at paths, on one TCP port.

`Server` owns the listener and one nursery for everything: the broadcast
flusher, each mounted path's Engine.IO heartbeat, the tasks the application
asks for, and every connection. It routes each HTTP request by its head:
a mounted Engine.IO path (`/socket.io/` for a Socket.IO `Hub`, `/engine.io/`
for a raw `EngineApp`, as many as wanted), `GET /healthz`, the application's
HTTP routes, and a `GET *` fallback (static files) — nothing more. What the
application is (features, storage, auth) is decided by whoever builds it:
`server.app.ReferenceServer` assembles the catalogue's reference server this
same way.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import h11
import trio

from server.config import ServerConfig
from server.engine import EngineOptions, EngineServer, EngineSession, SessionHandler
from server.protocol.errors import PayloadTooLarge
from server.transport.endpoint import EngineEndpoint
from server.transport.http import HttpConnection, Request
from server.transport.memory import ToClient, open_memory_session
from server.transport.outbox import Flusher
from server.transport.polling import PollingEndpoint
from server.transport.websocket import WebSocketEndpoint

log = logging.getLogger("rtlab.server")

IDLE_TIMEOUT = 60.0  # seconds for a request head to arrive on an open connection

HttpRoute = Callable[[HttpConnection, Request], Awaitable[None]]
Task = Callable[..., Awaitable[Any]]


class EngineApplication(Protocol):
    """What can be mounted: anything that makes a handler for each new Engine.IO session
    (a Socket.IO `Hub`, an `EngineApp`)."""

    def session_handler(self, session: EngineSession) -> SessionHandler: ...


class Mount:
    """One Engine.IO path: its sessions (`engine`) and its HTTP endpoint."""

    def __init__(self, path: str, engine: EngineServer, endpoint: EngineEndpoint) -> None:
        self.path = path
        self.engine = engine
        self.endpoint = endpoint

    def matches(self, path: str) -> bool:
        base = self.path.rstrip("/")
        return path == base or path.startswith(base + "/")


class Server:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.flusher = Flusher()
        self.mounts: list[Mount] = []
        self.routes: dict[tuple[str, str], HttpRoute] = {}
        self.started = time.time()
        self.port: int | None = None
        self.nursery: trio.Nursery | None = None
        # run for the server's whole life, in memory too (a storage writer)
        self._companions: list[Task] = []
        # asked for before serving: started with the server (off in memory unless asked)
        self._background: list[tuple[Task, tuple[Any, ...]]] = []
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []

    # ------------------------------------------------------------ composition
    def mount(
        self, path: str, app: EngineApplication, options: EngineOptions | None = None
    ) -> EngineServer:
        """Serve Engine.IO sessions under `path`, each handled by `app`."""
        if any(m.path.rstrip("/") == path.rstrip("/") for m in self.mounts):
            raise ValueError(f"{path!r} is mounted already")
        config = self.config
        engine = EngineServer(
            options
            or EngineOptions(
                config.ping_interval,
                config.ping_timeout,
                config.max_payload,
                upgrade_timeout=config.ping_timeout,
            ),
            app.session_handler,
        )
        max_payload = engine.options.max_payload
        endpoint = EngineEndpoint(
            engine,
            PollingEndpoint(engine, self.start_task, max_payload, config.outbox_max_bytes),
            WebSocketEndpoint(engine, self.flusher, max_payload, config.outbox_max_bytes),
            config.cors_origins,
        )
        self.mounts.append(Mount(path, engine, endpoint))
        # the longest path first: /socket.io/admin/ before /socket.io/
        self.mounts.sort(key=lambda m: len(m.path.rstrip("/")), reverse=True)
        return engine

    def route(self, method: str, path: str) -> Callable[[HttpRoute], HttpRoute]:
        """An HTTP route; `("GET", "*")` answers every GET nothing else did."""

        def register(handler: HttpRoute) -> HttpRoute:
            if (method, path) in self.routes:
                raise ValueError(f"two routes for {method} {path}")
            self.routes[(method, path)] = handler
            return handler

        return register

    def run_alongside(self, task: Task) -> None:
        """A task that lives exactly as long as the server (in memory too)."""
        self._companions.append(task)

    def on_startup(self, step: Callable[[], Awaitable[None]]) -> None:
        self._startup.append(step)

    def on_shutdown(self, step: Callable[[], Awaitable[None]]) -> None:
        self._shutdown.append(step)

    def start_task(self, fn: Task, *args: Any) -> None:
        """Run background work in the server's nursery, fenced; before serving, once it starts.

        A child that raises would cancel the whole server: a bug in an
        application's task must cost that task only, so the exception is
        logged and dropped.
        """
        if self.nursery is None:
            self._background.append((fn, args))
            return

        async def fenced() -> None:
            try:
                await fn(*args)
            except Exception:
                log.exception("background task %s failed", getattr(fn, "__qualname__", fn))

        self.nursery.start_soon(fenced)

    # ---------------------------------------------------------------- serving
    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        raise_open_files_limit()
        listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.port = listeners[0].socket.getsockname()[1]
        async with self._lifetime(heartbeat=True, background=True) as nursery:
            nursery.start_soon(self.flusher.run)
            await nursery.start(trio.serve_listeners, self._handle_tcp, listeners)
            log.info(
                "rtlab server listening on http://%s:%d (Engine.IO %s)",
                self.config.host,
                self.port,
                ", ".join(m.path for m in self.mounts) or "none",
            )
            task_status.started(self.port)

    async def serve_in_memory(
        self,
        *,
        heartbeat: bool = True,
        background: bool = False,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve connections made with `connect_in_memory` only: no socket, no thread.

        For virtual-time simulation. Periodic publishers own deadlines of
        their own: they stay off unless asked for, so that a simulation's
        scheduler stays the only one (see simulate.network).
        """
        async with self._lifetime(heartbeat=heartbeat, background=background):
            task_status.started()

    def connect_in_memory(
        self, to_client: ToClient, path: str | None = None
    ) -> Callable[[str | bytes | None], None]:
        """Open a simulated connection; returns the function that delivers client packets."""
        assert self.nursery is not None, "serve_in_memory first"
        mount = self._mount_for(path) if path is not None else self.mounts[0]
        assert mount is not None, f"nothing is mounted at {path!r}"
        return open_memory_session(
            mount.engine, self.start_task, to_client, mount.engine.options.max_payload
        )

    @asynccontextmanager
    async def _lifetime(self, *, heartbeat: bool, background: bool) -> AsyncIterator[trio.Nursery]:
        """The server's nursery, with the startup steps before it and the shutdown after."""
        for step in self._startup:
            await step()
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                for task in self._companions:
                    nursery.start_soon(task)
                if heartbeat:
                    for mount in self.mounts:
                        nursery.start_soon(mount.engine.run_heartbeat)
                pending, self._background = self._background, []
                if background:
                    for fn, args in pending:
                        self.start_task(fn, *args)
                yield nursery
        finally:
            self.nursery = None
            self.close_all("server shutting down")
            with trio.CancelScope(shield=True):
                for step in self._shutdown:
                    await step()

    def close_all(self, reason: str) -> None:
        for mount in self.mounts:
            mount.engine.close_all(reason)

    # ---------------------------------------------------------------- routing
    def _mount_for(self, path: str) -> Mount | None:
        for mount in self.mounts:
            if mount.matches(path):
                return mount
        return None

    async def _handle_tcp(self, stream: trio.SocketStream) -> None:
        http = HttpConnection(stream)
        try:
            while True:
                # an idle keep-alive connection, or a request head that never ends, is dropped
                request = None
                with trio.move_on_after(IDLE_TIMEOUT):
                    request = await http.next_request()
                if request is None:
                    return
                if await self._dispatch(http, request):
                    return  # the connection is a WebSocket now
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
        mount = self._mount_for(path)
        if mount is not None:
            return await mount.endpoint.handle(http, request)
        if request.method == "GET" and path == "/healthz":
            await http.respond_json(200, self.health())
            return False
        handler = self.routes.get((request.method, path))
        if handler is None and request.method == "GET":
            handler = self.routes.get(("GET", "*"))
        if handler is None:
            await http.respond_json(404, {"error": {"code": "not_found", "message": path}})
            return False
        await handler(http, request)
        return False

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "uptime_s": round(time.time() - self.started, 3),
            "sessions": sum(len(m.engine.sessions) for m in self.mounts),
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
