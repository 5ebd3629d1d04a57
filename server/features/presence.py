"""Presence: who is online, away or offline, across tabs and heartbeats.

A user is a set of sockets (one per tab and per component, as the tutorial
opens several connections). The user is online while any socket lives;
`away` is the client's word; when the last socket goes (clean close, abrupt
disconnect or missed Engine.IO heartbeat) the user is offline and every room
they were seen in hears it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.features.arguments import arg, bind_user, identifier, mapping
from server.hub import EventError, Socket

if TYPE_CHECKING:
    from server.app import ReferenceServer

STATUSES = ("online", "away", "offline")


def install(server: ReferenceServer) -> PresenceRegistry:
    registry = PresenceRegistry(server)
    server.hub.on("presence-update")(registry.on_presence_update)
    server.hub.on_disconnect(registry.on_disconnect)
    server.hub.on_identify(registry.attach)
    return registry


@dataclass(slots=True)
class UserRecord:
    id: str
    name: str
    sockets: set[Socket] = field(default_factory=set)
    away: bool = False
    last_seen: int = 0
    # rooms (hub room names) that hear about this user's status changes
    rooms: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        if not self.sockets:
            return "offline"
        return "away" if self.away else "online"

    def as_user(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "lastSeen": self.last_seen}


class PresenceRegistry:
    def __init__(self, server: ReferenceServer) -> None:
        self.hub = server.hub
        self.users: dict[str, UserRecord] = {}

    # ---------------------------------------------------------------- events
    async def on_presence_update(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        body = mapping(arg(args, 0, "presence"), "presence")
        user_id = identifier(body.get("userId"), "userId")
        status = body.get("status")
        if status not in STATUSES:
            raise EventError("bad_request", f"status must be one of {', '.join(STATUSES)}")
        room_id = body.get("roomId")
        room = None if room_id is None else chat_room(identifier(room_id, "roomId"))
        bind_user(sock, user_id)
        record = self.attach(sock)
        if room is not None:
            # only a room the user is in hears from them (one of their tabs must be a member)
            if not any(room in s.rooms for s in record.sockets):
                raise EventError("forbidden", f"join room {room_id!r} before updating it")
            record.rooms.add(room)
        if status == "offline":
            # A client announcing offline while connected means "appear offline": treat as away
            # for its own sockets but tell the room what it asked for.
            record.away = True
        else:
            record.away = status == "away"
        record.last_seen = now_ms()
        update = {"userId": user_id, "status": status, "lastSeen": record.last_seen}
        for target in record.rooms if room is None else (room,):
            self.hub.emit_to_room(sock.namespace, target, "presence-update", update, skip=sock)
        return {"user": record.as_user()}

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        if sock.user_id is None:
            return
        record = self.users.get(sock.user_id)
        if record is None or sock not in record.sockets:
            return
        record.sockets.discard(sock)
        record.last_seen = now_ms()
        if not record.sockets:
            record.away = False
            update = {"userId": record.id, "status": "offline", "lastSeen": record.last_seen}
            for room in record.rooms:
                for ns in self.hub.namespaces.values():
                    self.hub.emit_to_room(ns, room, "presence-update", update, skip=sock)
            record.rooms.clear()
            # an offline user is nobody's business any more: the next socket starts afresh
            if self.users.get(record.id) is record:
                del self.users[record.id]

    def left_room(self, user_id: str, room: str) -> None:
        """The user's last socket in `room` left it: the room stops hearing their status."""
        record = self.users.get(user_id)
        if record is not None and not any(room in s.rooms for s in record.sockets):
            record.rooms.discard(room)

    # ------------------------------------------------------------------ state
    def attach(self, sock: Socket) -> UserRecord:
        """Count this socket for its user (idempotent); the user is online from now on."""
        assert sock.user_id is not None
        record = self.users.get(sock.user_id)
        if record is None:
            record = self.users[sock.user_id] = UserRecord(
                sock.user_id, sock.user_name or sock.user_id
            )
        elif sock.user_name:
            record.name = sock.user_name
        if sock not in record.sockets:
            record.sockets.add(sock)
            record.last_seen = now_ms()
        return record

    def users_in(self, sock_namespace: Any, room: str) -> list[dict[str, Any]]:
        """User objects of a room, one per user however many tabs they have there."""
        seen: dict[str, dict[str, Any]] = {}
        for member in self.hub.namespaces[sock_namespace.name].members(room):
            uid = member.user_id
            if uid is not None and uid not in seen:
                record = self.users.get(uid)
                seen[uid] = (
                    record.as_user()
                    if record
                    else {"id": uid, "name": uid, "status": "online", "lastSeen": now_ms()}
                )
        return list(seen.values())


def chat_room(room_id: str) -> str:
    """Hub room of a chat room: features share the hub, so their rooms are prefixed."""
    return f"chat:{room_id}"


def now_ms() -> int:
    return int(time.time() * 1000)
