"""The demo page: static files served on the server's own port.

`GET /` is the live demo (chat room + the `server` dashboard); `/static/*`
its assets; `/vendor/socket.io.min.js` the published browser bundle of the
npm `socket.io-client`, copied into server/static/vendor/ at install time
(`make`), never committed. Paths are resolved inside their folder only.
"""

from __future__ import annotations

from pathlib import Path

import trio

from server.hub import Hub
from server.services import Services
from server.transport.http import HttpConnection, Request

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor"
NODE_BUNDLE = STATIC.parent.parent / "node_modules" / "socket.io-client" / "dist"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def install(hub: Hub, services: Services) -> None:
    services.route("GET", "*")(serve_static)


async def serve_static(http: HttpConnection, request: Request) -> None:
    path = request.path
    candidates: list[Path | None]
    if path in ("/", "/index.html"):
        candidates = [STATIC / "index.html"]
    elif path.startswith("/static/"):
        candidates = [_inside(STATIC, path.removeprefix("/static/"))]
    elif path.startswith("/vendor/"):
        name = path.removeprefix("/vendor/")
        candidates = [_inside(VENDOR, name), _inside(NODE_BUNDLE, name)]
    else:
        candidates = []
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            body = await trio.Path(candidate).read_bytes()
            content_type = TYPES.get(candidate.suffix, "application/octet-stream")
            await http.respond(200, body, content_type, headers=[("cache-control", "no-cache")])
            return
    hint = (
        " (run `make` to install the socket.io-client bundle)"
        if path.startswith("/vendor/")
        else ""
    )
    await http.respond_json(404, {"error": {"code": "not_found", "message": path + hint}})


def _inside(folder: Path, name: str) -> Path | None:
    candidate = (folder / name).resolve()
    return candidate if candidate.is_relative_to(folder.resolve()) else None
