"""Sockets and namespaces: one client connection in one namespace, and its rooms.

A `Socket` is what handlers see of a client. Its rooms live in the
namespace's adapter (`server.hub.adapter`), never in a feature; a socket is
always in the room named by its own id, as in socket.io, so a broadcast can
leave its sender out on every node of a cluster.

Nothing here knows the hub: a namespace gets the function that delivers
encoded packets (with the hub's counters) and its adapter, a socket gets
the connection that owns it, as the small `Connection` protocol below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from server.hub.adapter import Adapter, Broadcast, BroadcastOptions, Deliver, LocalAdapter
from server.hub.handlers import ServerEvent


class Connection(Protocol):
    """The Socket.IO side of an Engine.IO session, as one of its sockets sees it."""

    def emit_with_ack(
        self,
        sock: Socket,
        event: str,
        args: tuple[Any, ...] | list[Any],
        callback: Callable[[list[Any]], None],
    ) -> int: ...

    def forget_ack(self, sock: Socket, ack_id: int) -> None: ...

    def disconnect_socket(self, sock: Socket, reason: str, notify: bool) -> None: ...

    def close(self, reason: str) -> None:
        """End the whole Engine.IO session (every namespace of it)."""

    @property
    def pending_bytes(self) -> int: ...


@dataclass(eq=False, slots=True)
class Socket:
    """One client connection in one namespace."""

    sid: str
    namespace: Namespace
    client: Connection
    user_id: str | None = None
    user_name: str | None = None
    is_admin: bool = False
    rooms: set[str] = field(default_factory=set)  # kept by the adapter
    # the handshake's auth payload, for features (e.g. lastNotificationSeq)
    auth: dict[str, Any] = field(default_factory=dict)
    # per-feature state, keyed by feature name
    state: dict[str, Any] = field(default_factory=dict)
    connected: bool = True
    _acks: dict[int, Callable[[list[Any]], None]] = field(default_factory=dict)
    # token bucket for --rate-limit (events per second per socket)
    _tokens: float = 0.0
    _refilled: float = 0.0

    def emit(self, event: str, *args: Any, volatile: bool = False) -> bool:
        """To this socket only; False if it is gone or the packet was dropped."""
        if not self.connected:
            return False
        packet = Broadcast(self.namespace.name, event, args)
        return self.namespace.deliver(packet.items(volatile), (self,), event) == 1

    def emit_event(self, event: ServerEvent, *, volatile: bool = False) -> bool:
        """`emit` for a typed server event (one of `server.catalogue`'s)."""
        return self.emit(event.name, *event.to_args(), volatile=volatile)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> list[Any]:
        """Emit with an ack request and wait for the client's answer."""
        done = trio.Event()
        result: list[Any] = []

        def resolve(answer: list[Any]) -> None:
            result.extend(answer)
            done.set()

        ack_id = self.client.emit_with_ack(self, event, args, resolve)
        try:
            with trio.fail_after(timeout):
                await done.wait()
        finally:
            self.client.forget_ack(self, ack_id)
        return result

    def emit_with_ack(self, event: str, *args: Any, callback: Callable[[list[Any]], None]) -> None:
        """Emit with an ack request; `callback(args)` runs when the client answers.

        It is also called with [] if the socket disconnects first.
        """
        self.client.emit_with_ack(self, event, args, callback)

    def join(self, room: str) -> None:
        self.namespace.adapter.add_all(self, (room,))

    def leave(self, room: str) -> None:
        self.namespace.adapter.remove(self, room)

    def disconnect(self, reason: str = "server disconnect") -> None:
        """This namespace only: the client hears DISCONNECT, its other namespaces stay."""
        self.client.disconnect_socket(self, reason, notify=True)

    def close_connection(self, reason: str) -> None:
        """The whole Engine.IO session ends (every namespace of the client)."""
        self.client.close(reason)

    @property
    def pending_bytes(self) -> int:
        """Bytes queued towards this client and not yet taken by it (its whole connection)."""
        return self.client.pending_bytes


class Namespace:
    """A namespace: its sockets on this node, its adapter (rooms, broadcasts)."""

    def __init__(
        self, name: str, deliver: Deliver[Socket], adapter_factory: AdapterFactory | None = None
    ) -> None:
        self.name = name
        self.deliver = deliver
        self.sockets: dict[str, Socket] = {}
        self.adapter: Adapter[Socket] = (adapter_factory or LocalAdapter)(name, deliver)

    def add(self, sock: Socket) -> None:
        self.sockets[sock.sid] = sock
        self.adapter.add_all(sock, (sock.sid,))

    def remove(self, sock: Socket) -> None:
        self.sockets.pop(sock.sid, None)
        self.adapter.remove_all(sock)

    def members(self, room: str) -> Iterable[Socket]:
        """This node's sockets in `room`."""
        return self.adapter.members(room)

    def has_room(self, room: str) -> bool:
        return self.adapter.has_room(room)

    def broadcast(self, packet: Broadcast, opts: BroadcastOptions) -> int:
        return self.adapter.broadcast(packet, opts)


AdapterFactory = Callable[[str, Deliver[Socket]], Adapter[Socket]]
