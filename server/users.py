"""Who is connected as whom: users, their sockets, and their status.

A user is a set of sockets (one per tab, and the tutorial opens several per
tab); the user is online while any lives, `away` is the client's word, and
when the last one goes the user is offline and forgotten. The directory is a
service of the server, not a feature: chat lists a room's users, presence
announces status changes, notifications reach every connection of a user,
and none of them owns the others' data.

The server keeps it current: a socket is attached when it becomes a known
user (the hub's identify hook) and detached after every feature's
disconnect hook has run, so a feature's hook still sees the leaving socket
among its user's sockets (see `server.app`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from server.catalogue import PresenceStatus, User
from server.hub import Socket
from server.rooms import is_chat_room


@dataclass(slots=True)
class UserRecord:
    id: str
    name: str
    sockets: set[Socket] = field(default_factory=set)
    away: bool = False
    last_seen: int = 0  # ms since the epoch

    @property
    def status(self) -> PresenceStatus:
        if not self.sockets:
            return PresenceStatus.OFFLINE
        return PresenceStatus.AWAY if self.away else PresenceStatus.ONLINE

    def as_user(self) -> User:
        return User(self.id, self.name, self.status, self.last_seen)

    def chat_rooms(self, *, leaving: Socket | None = None) -> set[str]:
        """The chat rooms that hear this user: those any of its sockets is in."""
        rooms = {r for s in self.sockets for r in s.rooms if is_chat_room(r)}
        if leaving is not None:
            rooms.update(r for r in leaving.rooms if is_chat_room(r))
        return rooms


class UserDirectory:
    def __init__(self, wall_ms: Callable[[], int]) -> None:
        self.users: dict[str, UserRecord] = {}
        self._wall_ms = wall_ms

    def attach(self, sock: Socket) -> UserRecord:
        """Count this socket for its user (idempotent); the user is online from now on."""
        assert sock.user_id is not None, "only an identified socket belongs to a user"
        record = self.users.get(sock.user_id)
        if record is None:
            record = self.users[sock.user_id] = UserRecord(
                sock.user_id, sock.user_name or sock.user_id
            )
        elif sock.user_name:
            record.name = sock.user_name
        if sock not in record.sockets:
            record.sockets.add(sock)
            record.last_seen = self._wall_ms()
        return record

    def detach(self, sock: Socket, reason: str = "") -> None:
        """The socket is gone; a user with no socket left is forgotten (offline)."""
        record = self.users.get(sock.user_id) if sock.user_id is not None else None
        if record is None or sock not in record.sockets:
            return
        record.sockets.discard(sock)
        record.last_seen = self._wall_ms()
        if not record.sockets:
            del self.users[record.id]

    def get(self, user_id: str) -> UserRecord | None:
        return self.users.get(user_id)

    def sockets_of(self, user_id: str) -> list[Socket]:
        record = self.users.get(user_id)
        return [s for s in record.sockets if s.connected] if record else []

    def users_among(self, members: Iterable[Socket]) -> list[User]:
        """The users of these sockets, once each however many tabs they have there."""
        seen: dict[str, User] = {}
        for member in members:
            uid = member.user_id
            if uid is not None and uid not in seen:
                record = self.users.get(uid)
                seen[uid] = (
                    record.as_user()
                    if record
                    else User(uid, uid, PresenceStatus.ONLINE, self._wall_ms())
                )
        return list(seen.values())

    @property
    def online_count(self) -> int:
        return sum(1 for record in self.users.values() if record.sockets)
