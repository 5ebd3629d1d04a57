"""Live notifications: to one user (all their connections), to a room, or to everyone.

Triggered over HTTP (`POST /notify`, admin bearer token) or by a `notify`
event from an admin connection. Notifications to a user are numbered per
user (`seq`) and the last 50 are kept in the store; when a connection of
that user appears, it receives what it has not seen: everything after the
`lastNotificationSeq` it names in its handshake auth, or else everything
after what the server last delivered to that user — so a user who was
offline gets the backlog once, and a second tab does not get it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio

from server.catalogue import Notification, Notify, NotifyReply
from server.errors import ErrorCode, EventError
from server.hub import Hub, Socket
from server.rooms import chat_room
from server.services import Services
from server.storage.ports import StoredNotification
from server.transport.http import HttpConnection, Request

KEEP_PER_USER = 50
MAX_BODY = 64 * 1024


def install(hub: Hub, services: Services) -> Notifications:
    notifications = Notifications(hub, services)
    hub.on(Notify)(notifications.on_notify)
    hub.on_identify(notifications.on_identify)
    hub.on_disconnect(notifications.on_disconnect)
    services.route("POST", "/notify")(notifications.post_notify)
    return notifications


@dataclass(slots=True)
class UserBacklog:
    kept: deque[Notification] = field(default_factory=lambda: deque(maxlen=KEEP_PER_USER))
    last_seq: int = 0
    delivered_seq: int = 0  # the highest seq some connection of the user has received
    loaded: trio.Event = field(default_factory=trio.Event)
    # kept, still being stored: delivered live to every connection then, never replayed
    storing: set[int] = field(default_factory=set)


class Notifications:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.users = services.users
        self.clock = services.clock
        self.start_task = services.start_task
        self.notification_backlog = services.storage.notification_backlog
        self.admin_token = services.config.admin_token
        self.backlogs: dict[str, UserBacklog] = {}
        self.sent = 0

    # ------------------------------------------------------------- triggers
    async def on_notify(self, sock: Socket, notify: Notify) -> NotifyReply:
        if not sock.is_admin:
            raise EventError(
                ErrorCode.FORBIDDEN, "notify needs an admin connection (auth.adminToken)"
            )
        return await self.notify(notify)

    async def post_notify(self, http: HttpConnection, req: Request) -> None:
        if not self.admin_token:
            await http.respond_json(
                403, _error(ErrorCode.FORBIDDEN, "start the server with --admin-token")
            )
            return
        offered = req.header("authorization").removeprefix("Bearer ").strip()
        if not offered or not hmac.compare_digest(offered, self.admin_token):
            await http.respond_json(
                401,
                _error(ErrorCode.UNAUTHORIZED, "send Authorization: Bearer <admin token>"),
                headers=[("www-authenticate", "Bearer")],
            )
            return
        try:
            raw = await http.read_body(MAX_BODY)
            body = json.loads(raw or b"null")
        except ValueError as exc:
            await http.respond_json(400, _error(ErrorCode.BAD_REQUEST, f"body is not JSON: {exc}"))
            return
        try:
            reply = await self.notify(Notify.from_body(body))
        except EventError as exc:
            status = 400 if exc.code in (ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE) else 500
            await http.respond_json(status, _error(exc.code, exc.message))
            return
        await http.respond_json(200, {"ok": True, **reply.to_json()})

    # ------------------------------------------------------------- delivery
    async def notify(self, notify: Notify) -> NotifyReply:
        """Deliver; the reply says how many sockets it reached."""
        self.sent += 1
        note = Notification(
            f"n{self.sent}-{time.time_ns():x}",
            notify.type,
            notify.title,
            notify.message,
            self.clock.wall_ms(),
        )
        if notify.user_id is not None:
            return await self._to_user(notify.user_id, note)
        if notify.room_id is not None:
            room = chat_room(notify.room_id)
            delivered = sum(
                self.hub.emit_event(note, namespace=ns, to=room) for ns in self.hub.namespaces
            )
            return NotifyReply(note.id, delivered)
        delivered = sum(self.hub.emit_event(note, namespace=ns) for ns in self.hub.namespaces)
        return NotifyReply(note.id, delivered)

    async def _to_user(self, user_id: str, note: Notification) -> NotifyReply:
        backlog = await self._backlog(user_id)
        backlog.last_seq += 1
        note = dataclasses.replace(note, user_id=user_id, seq=backlog.last_seq)
        seq = backlog.last_seq
        # kept before the write: while it is undelivered, the backlog is not evicted
        backlog.kept.append(note)
        backlog.storing.add(seq)
        try:
            body = json.dumps(note.to_json(), separators=(",", ":"))
            stored = StoredNotification(seq, note.id, body)
            await self.notification_backlog.append(user_id, stored).committed()
        except Exception as exc:
            # not stored: not kept either (a replay must not hand out what a restart loses)
            with contextlib.suppress(ValueError):
                backlog.kept.remove(note)
            self._evict_if_idle(user_id)
            raise EventError(ErrorCode.INTERNAL, f"notification not stored: {exc}") from None
        finally:
            backlog.storing.discard(seq)
        delivered = sum(sock.emit_event(note) for sock in self.users.sockets_of(user_id))
        if delivered:
            backlog.delivered_seq = max(backlog.delivered_seq, seq)
        self._evict_if_idle(user_id)
        return NotifyReply(note.id, delivered, seq)

    def on_identify(self, sock: Socket) -> None:
        """A connection of a known user appeared: replay what it has not seen."""
        assert sock.user_id is not None
        backlog = self.backlogs.get(sock.user_id)
        if backlog is None or not backlog.loaded.is_set():
            self.start_task(self._replay_after_load, sock)
            return
        self._replay(sock, backlog)

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        if sock.user_id is not None:
            self._evict_if_idle(sock.user_id, leaving=sock)

    async def _replay_after_load(self, sock: Socket) -> None:
        assert sock.user_id is not None
        backlog = await self._backlog(sock.user_id)
        if sock.connected:
            self._replay(sock, backlog)
        self._evict_if_idle(sock.user_id)

    def _replay(self, sock: Socket, backlog: UserBacklog) -> None:
        seen = sock.auth.get("lastNotificationSeq")
        after = seen if isinstance(seen, int) and not isinstance(seen, bool) else None
        if after is None:
            after = backlog.delivered_seq
        for note in backlog.kept:
            # one being stored reaches this socket live once stored: a replay would be twice
            if note.seq is not None and note.seq > after and note.seq not in backlog.storing:
                sock.emit_event(dataclasses.replace(note, replayed=True))
        newest = _seq(backlog)
        if newest:
            backlog.delivered_seq = max(backlog.delivered_seq, newest)

    # ------------------------------------------------------------------ state
    async def _backlog(self, user_id: str) -> UserBacklog:
        backlog = self.backlogs.get(user_id)
        while backlog is not None:
            await backlog.loaded.wait()
            current = self.backlogs.get(user_id)
            if current is backlog:
                return backlog
            backlog = current  # evicted meanwhile (its user left): use, or make, the new one
        backlog = self.backlogs[user_id] = UserBacklog()
        try:
            for stored in await self.notification_backlog.recent(user_id, KEEP_PER_USER):
                backlog.kept.append(Notification.from_json(json.loads(stored.body)))
                backlog.last_seq = max(backlog.last_seq, stored.seq)
            # Read back after an eviction, everything was delivered (see _evict_if_idle).
            # After a restart we cannot know what was delivered: replay then needs the
            # client's `lastNotificationSeq`, rather than risk duplicates.
            backlog.delivered_seq = backlog.last_seq
        except BaseException:
            if self.backlogs.get(user_id) is backlog:
                del self.backlogs[user_id]
            raise
        finally:
            backlog.loaded.set()
        return backlog

    def _evict_if_idle(self, user_id: str, leaving: Socket | None = None) -> None:
        """Forget a backlog nobody needs in memory: the user has no connection left and was
        handed everything kept. It reloads from the store, where `delivered_seq = last_seq`
        is then exactly right. A backlog with undelivered notes stays: that is the mailbox
        the user's next connection replays from (once)."""
        backlog = self.backlogs.get(user_id)
        if backlog is None or not backlog.loaded.is_set():
            return
        if _seq(backlog) > backlog.delivered_seq:
            return
        if any(s is not leaving for s in self.users.sockets_of(user_id)):
            return
        del self.backlogs[user_id]


def _seq(backlog: UserBacklog) -> int:
    """The newest kept notification's seq (0 when nothing is kept)."""
    return (backlog.kept[-1].seq or 0) if backlog.kept else 0


def _error(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code.value, "message": message}}
