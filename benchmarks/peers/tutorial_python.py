"""The tutorial's socket.io server ported to python-socketio (ASGI, under uvicorn).

    python -m benchmarks.peers.tutorial_python --port 3001   # prints "listening 3001" when ready
    python -m benchmarks.peers.tutorial_python --rename send-message=chat:send,...

The same handlers as `tutorial_node.mjs` (the tutorial's route handler, plus
the editor's document events relayed to the document's room), written the
way a Python user of the tutorial would: python-socketio's `AsyncServer`
with its defaults (each event handled in its own task), `socketio.ASGIApp`,
and uvicorn. No acks; `user_rooms` is never cleaned on disconnect, as in the
tutorial. Any other GET answers "WebSocket server running".

`--rename OURS=THEIRS,...` gives events other names on the wire, the way a
user's own server might call `send-message` `chat:send`: the tests load it
with the matching `--event-map`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
user_rooms: dict[str, dict[str, None]] = {}  # room -> user ids in join order (a JS Set)
renamed: dict[str, str] = {}  # --rename: our event name -> the one on the wire
handlers: dict[str, Any] = {}


def on(event: str) -> Any:
    """Collect a handler; `main` registers it under its (possibly renamed) event."""

    def register(handler: Any) -> Any:
        handlers[event] = handler
        return handler

    return register


async def emit(event: str, *args: Any, **kwargs: Any) -> None:
    await sio.emit(renamed.get(event, event), *args, **kwargs)


@on("join-room")
async def join_room(sid: str, room_id: str, user_id: str) -> None:
    await sio.enter_room(sid, room_id)
    users = user_rooms.setdefault(room_id, {})
    users[user_id] = None
    await emit("user-joined", {"userId": user_id, "users": list(users)}, room=room_id, skip_sid=sid)


@on("leave-room")
async def leave_room(sid: str, room_id: str, user_id: str) -> None:
    await sio.leave_room(sid, room_id)
    users = user_rooms.get(room_id, {})
    users.pop(user_id, None)
    await emit("user-left", {"userId": user_id, "users": list(users)}, room=room_id, skip_sid=sid)


@on("send-message")
async def send_message(sid: str, room_id: str, message: Any) -> None:
    await emit("receive-message", message, room=room_id)


@on("typing")
async def typing(sid: str, room_id: str, user_id: str) -> None:
    await emit("user-typing", user_id, room=room_id, skip_sid=sid)


@on("join-document")
async def join_document(sid: str, document_id: str, user_id: str) -> None:
    await sio.enter_room(sid, document_id)


@on("leave-document")
async def leave_document(sid: str, document_id: str, user_id: str) -> None:
    await sio.leave_room(sid, document_id)


@on("document-change")
async def document_change(sid: str, document_id: str, change: Any) -> None:
    await emit("document-change", change, room=document_id, skip_sid=sid)


@on("cursor-update")
async def cursor_update(sid: str, document_id: str, data: Any) -> None:
    await emit("cursor-update", data, room=document_id, skip_sid=sid)


async def running(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every other HTTP request: the tutorial route's GET answer."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"WebSocket server running"})


app = socketio.ASGIApp(sio, other_asgi_app=running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.tutorial_python")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument("--rename", default="", help="OURS=THEIRS,... (other event names)")
    args = parser.parse_args(argv)
    for item in filter(None, args.rename.split(",")):
        ours, _, theirs = item.partition("=")
        renamed[ours.strip()] = theirs.strip()
    for event, handler in handlers.items():
        sio.on(renamed.get(event, event), handler)
    config = uvicorn.Config(app, host=args.host, port=args.port, ws="wsproto", log_level="warning")
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        print(f"listening {args.port}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
