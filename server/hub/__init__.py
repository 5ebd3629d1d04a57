"""The Socket.IO layer: namespaces, sockets, rooms, handlers, emits, and the adapter seam.

- `server.hub.hub`: `Hub`, the API features and applications use;
- `server.hub.sockets`: `Socket` and `Namespace`;
- `server.hub.adapter`: rooms and broadcasts (`LocalAdapter`; a cluster adapter next);
- `server.hub.connection`: one Engine.IO session's Socket.IO side (`ClientConnection`);
- `server.hub.handlers`: handler styles and what their results mean on the wire;
- `server.hub.acks`: `DeferredAck`, a reply known after a commit.
"""

from server.errors import ErrorCode, EventError
from server.hub.acks import DeferredAck
from server.hub.adapter import (
    Adapter,
    Broadcast,
    BroadcastFlags,
    BroadcastOptions,
    LocalAdapter,
    SocketInfo,
)
from server.hub.hub import Hub, HubOptions, HubStats
from server.hub.sockets import Namespace, Socket

__all__ = [
    "Adapter",
    "Broadcast",
    "BroadcastFlags",
    "BroadcastOptions",
    "DeferredAck",
    "ErrorCode",
    "EventError",
    "Hub",
    "HubOptions",
    "HubStats",
    "LocalAdapter",
    "Namespace",
    "Socket",
    "SocketInfo",
]
