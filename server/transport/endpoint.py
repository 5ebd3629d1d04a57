"""The HTTP face of one Engine.IO server: the rules every transport shares, then its own.

One `EngineEndpoint` serves one Engine.IO path (`/socket.io/` by default;
an application may mount several on one port). It checks what engine.io
checks before any transport sees a request — CORS, the protocol version
(`EIO=4`), a known transport, a known session id — and answers failures
with engine.io's JSON errors (`{"code": n, "message": ...}`, HTTP 400 or
403). Then the transport's endpoint takes over: `PollingEndpoint` (GET/POST
rules) or `WebSocketEndpoint` (the upgrade handshake).
"""

from __future__ import annotations

from server.engine import EngineServer
from server.protocol.engineio import PROTOCOL_VERSION, HttpError
from server.transport.http import HttpConnection, Request
from server.transport.polling import PollingEndpoint
from server.transport.websocket import WebSocketEndpoint


class EngineEndpoint:
    def __init__(
        self,
        engine: EngineServer,
        polling: PollingEndpoint,
        websocket: WebSocketEndpoint,
        cors_origins: tuple[str, ...],
    ) -> None:
        self.engine = engine
        self.polling = polling
        self.websocket = websocket
        self.cors_origins = cors_origins

    def cors_headers(self, request: Request) -> list[tuple[str, str]]:
        origin = request.header("origin")
        if not origin:
            return []
        if origin in self.cors_origins:
            # a named origin may send credentials (cookies); the wildcard may not (CORS rule)
            return [
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true"),
                ("vary", "Origin"),
            ]
        if "*" in self.cors_origins:
            return [("access-control-allow-origin", "*")]
        return []

    async def handle(self, http: HttpConnection, request: Request) -> bool:
        """Serve one request under this path; True when the connection became a WebSocket."""
        headers = self.cors_headers(request)

        async def refuse(error: HttpError) -> None:
            payload = {"code": int(error), "message": error.message}
            await http.respond_json(error.status, payload, headers)

        if request.header("origin") and not headers and request.method != "GET":
            await refuse(HttpError.FORBIDDEN)
            return False
        if request.method == "OPTIONS":
            preflight = [
                *headers,
                ("access-control-allow-methods", "GET, POST, OPTIONS"),
                ("access-control-allow-headers", request.header("access-control-request-headers")),
            ]
            await http.respond(204, b"", headers=preflight)
            return False
        query = request.query
        if query.get("EIO") != PROTOCOL_VERSION:
            await refuse(HttpError.UNSUPPORTED_PROTOCOL_VERSION)
            return False
        transport = query.get("transport")
        if transport not in ("polling", "websocket"):
            await refuse(HttpError.UNKNOWN_TRANSPORT)
            return False
        sid = query.get("sid")
        session = None
        if sid is not None:
            session = self.engine.sessions.get(sid)
            if session is None:
                await refuse(HttpError.UNKNOWN_SID)
                return False
        if transport == "websocket":
            return await self.websocket.handle(http, request, session, refuse, headers)
        await self.polling.handle(http, request, session, refuse, headers)
        return False
