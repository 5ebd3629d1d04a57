"""The public API for building a Socket.IO (or raw Engine.IO) application on rtlab.

    from server.api import EngineApp, Hub, HubOptions, Server, ServerConfig

    server = Server(ServerConfig(port=3000))
    hub = Hub(HubOptions(namespaces=("/", "/chat")))

    @hub.on("message")                 # python-socketio's convention: (sock, *args)
    async def message(sock, *args):
        sock.emit("message-back", *args)
        return args                    # the ack's arguments, if the client asked for one

    server.mount("/socket.io/", hub)
    server.mount("/engine.io/", EngineApp(on_message=lambda sock, data: sock.send(data)))
    trio.run(server.serve)

What each piece is:

- `Server`: one TCP port; Engine.IO applications mounted at paths
  (`mount`), plain HTTP routes (`route`), background tasks (`start_task`,
  `run_alongside`), `serve()` (or `serve_in_memory()` for simulations);
- `Hub`: a Socket.IO application: namespaces, handlers (`on(name)` plain,
  `on(EventType)` typed with ``{ok}`` acks, `on_args(name)`), connection
  hooks (`on_connect`, `on_disconnect`), `authenticate`, emits to rooms
  (`emit(event, *args, to=..., skip=...)`), and the adapter operations
  (`sockets_join`, `sockets_leave`, `disconnect_sockets`, `fetch_sockets`,
  `server_side_emit`, `server_count`);
- `Socket`: one client in one namespace (`emit`, `call`, `join`, `leave`,
  `disconnect`, `rooms`, `auth`, `state`);
- `EngineApp` / `EngineSocket`: raw Engine.IO messages, no Socket.IO;
- `EventError(ErrorCode.X, message)`: refuse an event (an ``{ok: false}`` ack
  or an `error` event); `DeferredAck`: answer later;
- `ReferenceServer`: the catalogue's reference server, assembled from the same
  pieces (`ReferenceServer(config, features=["chat", "presence"])` for a subset).

docs/build-your-own-app.md walks through a complete example.
"""

from server.app import ReferenceServer
from server.config import ServerConfig
from server.engine import EngineOptions
from server.engine_app import EngineApp, EngineSocket
from server.errors import ErrorCode, EventError
from server.hub import (
    BroadcastOptions,
    DeferredAck,
    Hub,
    HubOptions,
    Namespace,
    Socket,
    SocketInfo,
)
from server.serving import Server

__all__ = [
    "BroadcastOptions",
    "DeferredAck",
    "EngineApp",
    "EngineOptions",
    "EngineSocket",
    "ErrorCode",
    "EventError",
    "Hub",
    "HubOptions",
    "Namespace",
    "ReferenceServer",
    "Server",
    "ServerConfig",
    "Socket",
    "SocketInfo",
]
