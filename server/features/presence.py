"""Presence: who is online, away or offline, heard in the rooms the user is in.

The users themselves (their sockets, names, away flag) live in the server's
user directory (`server.users`); this feature is what clients see of it:
`presence-update` from a client (away, back online, "appear offline"), and
the offline notice every room of a user hears when their last socket goes —
a clean close, an abrupt disconnect or a missed Engine.IO heartbeat alike.
"""

from __future__ import annotations

from server.catalogue import PresenceChanged, PresenceStatus, PresenceUpdate, PresenceUpdateReply
from server.errors import ErrorCode, EventError
from server.hub import Hub, Socket
from server.rooms import chat_room
from server.services import Services


def install(hub: Hub, services: Services) -> Presence:
    presence = Presence(hub, services)
    hub.on(PresenceUpdate)(presence.on_presence_update)
    hub.on_disconnect(presence.on_disconnect)
    return presence


class Presence:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.users = services.users
        self.clock = services.clock

    # ---------------------------------------------------------------- events
    async def on_presence_update(self, sock: Socket, update: PresenceUpdate) -> PresenceUpdateReply:
        self.hub.act_as(sock, update.user_id)
        record = self.users.attach(sock)
        room = None if update.room_id is None else chat_room(update.room_id)
        if room is not None and not any(room in s.rooms for s in record.sockets):
            # only a room the user is in hears from them (one of their tabs must be a member)
            raise EventError(
                ErrorCode.FORBIDDEN, f"join room {update.room_id!r} before updating it"
            )
        # A client announcing offline while connected means "appear offline": away for
        # its own sockets, and the rooms hear what it asked for.
        record.away = update.status is not PresenceStatus.ONLINE
        record.last_seen = self.clock.wall_ms()
        changed = PresenceChanged(update.user_id, update.status, record.last_seen)
        targets = record.chat_rooms() if room is None else {room}
        if targets:  # one broadcast to all of them: a member of several hears it once
            self.hub.emit_event(changed, namespace=sock.namespace, to=targets, skip=sock)
        return PresenceUpdateReply(record.as_user())

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        """The user's last socket is going: every room it was in hears "offline".

        Runs while the socket is still in its rooms and before the directory
        forgets it (the server installs the directory's hook after every feature's).
        """
        record = self.users.get(sock.user_id) if sock.user_id is not None else None
        if record is None or record.sockets - {sock}:
            return
        changed = PresenceChanged(record.id, PresenceStatus.OFFLINE, self.clock.wall_ms())
        rooms = record.chat_rooms(leaving=sock)
        if not rooms:
            return
        for namespace in self.hub.namespaces.values():
            self.hub.emit_event(changed, namespace=namespace, to=rooms, skip=sock)
