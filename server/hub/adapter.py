"""The adapter: who is in which room, and how a broadcast reaches its sockets.

This is the seam socket.io calls an adapter (socket.io-adapter; see
../shared/CLUSTER.md): every namespace has one, and every room operation and
broadcast goes through it, never straight to sessions. `LocalAdapter`, the
default, keeps the rooms of this process and delivers to its sockets; a
cluster adapter (Redis Streams, the next step) implements the same
operations by also publishing them to the other nodes, in socket.io's wire
format, and applying theirs locally.

The operations are socket.io's: add/remove a socket to/from rooms;
broadcast to rooms minus except-rooms with flags; join/leave/disconnect the
sockets a selection names (`socketsJoin`, `socketsLeave`,
`disconnectSockets`); fetch them (`fetchSockets`); emit to the other servers
(`serverSideEmit`); count the servers. A selection is a `BroadcastOptions`:
the union of the sockets in `rooms` (all sockets of the namespace when
empty), minus every socket in any `except_rooms` room. Every socket is in a
room named by its own id, as in socket.io, so "everyone but the sender" is
`except_rooms={sender.sid}` on every node.

A broadcast's packet is encoded once (`Broadcast.items`): the same
`Outgoing` objects are queued to every local recipient, whatever their number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from server.protocol.engineio import encode_message
from server.protocol.errors import LocalProtocolError
from server.protocol.socketio import (
    SioPacket,
    SioType,
    encode,
    encode_event_text,
    encode_event_text_json,
)
from server.transport.base import Outgoing


class Socket(Protocol):
    """What an adapter needs of a socket (`server.hub.sockets.Socket` is one)."""

    sid: str
    rooms: set[str]
    user_id: str | None
    auth: dict[str, Any]

    def disconnect(self, reason: str = ...) -> None: ...

    def close_connection(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    volatile: bool = False  # may be dropped for a congested recipient
    local: bool = False  # this node's sockets only (never published to a cluster)


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """A selection of sockets: in any of `rooms` (all when empty), in none of `except_rooms`."""

    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    flags: BroadcastFlags = field(default_factory=BroadcastFlags)

    @classmethod
    def to(
        cls,
        rooms: str | Iterable[str] = (),
        *,
        skip: str | Iterable[str] = (),
        volatile: bool = False,
        local: bool = False,
    ) -> BroadcastOptions:
        return cls(
            frozenset((rooms,) if isinstance(rooms, str) else rooms),
            frozenset((skip,) if isinstance(skip, str) else skip),
            BroadcastFlags(volatile, local) if volatile or local else _PLAIN,
        )


_PLAIN = BroadcastFlags()


class Broadcast:
    """One event on its way to many sockets of a namespace; encoded at most once.

    `args_json` is for a sender that encoded its arguments anyway (to store
    them): the broadcast then costs no second encoding.
    """

    __slots__ = ("_items", "args", "args_json", "event", "namespace")

    def __init__(
        self,
        namespace: str,
        event: str,
        args: tuple[Any, ...] = (),
        *,
        args_json: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.event = event
        self.args = args
        self.args_json = args_json
        self._items: tuple[list[Outgoing], bool] | None = None

    def items(self, volatile: bool) -> list[Outgoing]:
        cached = self._items
        if cached is not None and cached[1] == volatile:
            return cached[0]
        items = self._encode(volatile)
        self._items = (items, volatile)
        return items

    def _encode(self, volatile: bool) -> list[Outgoing]:
        if self.args_json is not None:
            text = encode_event_text_json(self.namespace, self.event, self.args_json)
            return [Outgoing(encode_message(text), volatile)]
        try:
            text = encode_event_text(self.namespace, self.event, self.args)
            return [Outgoing(encode_message(text), volatile)]
        except LocalProtocolError:
            if not _has_bytes(self.args):
                raise
        parts = encode(SioPacket(SioType.EVENT, self.namespace, [self.event, *self.args]))
        return [Outgoing(encode_message(part), volatile) for part in parts]


@dataclass(frozen=True, slots=True)
class SocketInfo:
    """What `fetch_sockets` tells about a socket, wherever it lives (socket.io's RemoteSocket)."""

    id: str
    namespace: str
    rooms: frozenset[str]
    user_id: str | None
    auth: dict[str, Any]


S = TypeVar("S", bound=Socket)


class Adapter(Protocol[S]):
    """The room registry and broadcast path of one namespace."""

    def add_all(self, sock: S, rooms: Iterable[str]) -> None: ...

    def remove(self, sock: S, room: str) -> None: ...

    def remove_all(self, sock: S) -> None: ...

    def members(self, room: str) -> Iterable[S]:
        """This node's sockets in `room`."""

    def room_names(self) -> Iterable[str]:
        """This node's rooms, without the per-socket id rooms."""

    def has_room(self, room: str) -> bool: ...

    def broadcast(self, packet: Broadcast, opts: BroadcastOptions) -> int:
        """Deliver to every selected socket; the local deliveries made."""

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """socketsJoin: the selected sockets join `rooms`."""

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        """socketsLeave: the selected sockets leave `rooms`."""

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """The selected sockets leave the namespace (`close`: their connections end too)."""

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketInfo]: ...

    async def server_side_emit(self, event: str, args: list[Any]) -> list[Any]:
        """Emit to the *other* servers of the cluster; their answers."""

    async def server_count(self) -> int: ...


class LocalAdapter(Generic[S]):
    """The rooms of this process: `room -> sockets` here, `socket -> rooms` on the socket."""

    def __init__(self, namespace: str, deliver: Deliver[S]) -> None:
        self.namespace = namespace
        self.rooms: dict[str, dict[S, None]] = {}
        self.sids: dict[str, S] = {}  # every socket of the namespace on this node
        self._deliver = deliver

    # ------------------------------------------------------------ rooms
    def add_all(self, sock: S, rooms: Iterable[str]) -> None:
        self.sids[sock.sid] = sock
        for room in rooms:
            members = self.rooms.get(room)
            if members is None:
                members = self.rooms[room] = {}
            members[sock] = None
            sock.rooms.add(room)

    def remove(self, sock: S, room: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.pop(sock, None)
            if not members:
                del self.rooms[room]
        sock.rooms.discard(room)

    def remove_all(self, sock: S) -> None:
        for room in list(sock.rooms):
            self.remove(sock, room)
        self.sids.pop(sock.sid, None)

    def members(self, room: str) -> Iterable[S]:
        return self.rooms.get(room, {}).keys()

    def room_names(self) -> Iterator[str]:
        sids = self.sids
        return (room for room in self.rooms if room not in sids)

    def has_room(self, room: str) -> bool:
        return room in self.rooms

    # -------------------------------------------------------- selections
    def select(self, opts: BroadcastOptions) -> Iterable[S]:
        """The local sockets `opts` names, each once."""
        rooms = self.rooms
        if opts.rooms:
            if len(opts.rooms) == 1:
                (room,) = opts.rooms
                chosen: Iterable[S] = rooms.get(room, {}).keys()
            else:
                union: dict[S, None] = {}
                for room in opts.rooms:
                    union.update(rooms.get(room, {}))
                chosen = union.keys()
        else:
            chosen = self.sids.values()
        if not opts.except_rooms:
            return chosen
        excluded: set[S] = set()
        for room in opts.except_rooms:
            excluded.update(rooms.get(room, ()))
        return [s for s in chosen if s not in excluded]

    def broadcast(self, packet: Broadcast, opts: BroadcastOptions) -> int:
        targets = self.select(opts)
        if not targets:
            return 0
        return self._deliver(packet.items(opts.flags.volatile), targets, packet.event)

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        names = list(rooms)
        for sock in list(self.select(opts)):
            self.add_all(sock, names)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        names = list(rooms)
        for sock in list(self.select(opts)):
            for room in names:
                self.remove(sock, room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for sock in list(self.select(opts)):
            if close:
                sock.close_connection("server disconnect")
            else:
                sock.disconnect()

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketInfo]:
        return [
            SocketInfo(s.sid, self.namespace, frozenset(s.rooms), s.user_id, dict(s.auth))
            for s in self.select(opts)
        ]

    async def server_side_emit(self, event: str, args: list[Any]) -> list[Any]:
        return []  # no other server to hear it

    async def server_count(self) -> int:
        return 1


S_contra = TypeVar("S_contra", bound=Socket, contravariant=True)


class Deliver(Protocol[S_contra]):
    def __call__(self, items: list[Outgoing], targets: Iterable[S_contra], event: str) -> int: ...


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False
