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
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from server.features.arguments import identifier, mapping, text
from server.features.presence import chat_room
from server.hub import EventError, Socket
from server.storage.ports import StoredNotification
from server.transport.http import HttpConnection, Request

if TYPE_CHECKING:
    from server.app import ReferenceServer

TYPES = ("info", "success", "warning", "error")
KEEP_PER_USER = 50
MAX_BODY = 64 * 1024


def install(server: ReferenceServer) -> Notifications:
    notifications = Notifications(server)
    server.hub.on("notify")(notifications.on_notify)
    server.hub.on_identify(notifications.on_identify)
    server.hub.on_disconnect(notifications.on_disconnect)
    server.route("POST", "/notify")(notifications.post_notify)
    return notifications


@dataclass(slots=True)
class UserBacklog:
    kept: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP_PER_USER))
    last_seq: int = 0
    delivered_seq: int = 0  # the highest seq some connection of the user has received
    loaded: trio.Event = field(default_factory=trio.Event)


class Notifications:
    def __init__(self, server: ReferenceServer) -> None:
        self.server = server
        self.hub = server.hub
        self.notification_backlog = server.storage.notification_backlog
        self.admin_token = server.config.admin_token
        self.backlogs: dict[str, UserBacklog] = {}
        self.sent = 0

    # ------------------------------------------------------------- triggers
    async def on_notify(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        if not sock.is_admin:
            raise EventError("forbidden", "notify needs an admin connection (auth.adminToken)")
        body = mapping(args[0] if args else None, "notification")
        return await self.notify(body)

    async def post_notify(
        self, server: ReferenceServer, http: HttpConnection, req: Request
    ) -> None:
        if not self.admin_token:
            await http.respond_json(403, _error("forbidden", "start the server with --admin-token"))
            return
        offered = req.header("authorization").removeprefix("Bearer ").strip()
        if not offered or not hmac.compare_digest(offered, self.admin_token):
            await http.respond_json(
                401,
                _error("unauthorized", "send Authorization: Bearer <admin token>"),
                headers=[("www-authenticate", "Bearer")],
            )
            return
        try:
            raw = await http.read_body(MAX_BODY)
            body = json.loads(raw or b"null")
        except ValueError as exc:
            await http.respond_json(400, _error("bad_request", f"body is not JSON: {exc}"))
            return
        try:
            result = await self.notify(mapping(body, "body"))
        except EventError as exc:
            status = 400 if exc.code in ("bad_request", "too_large") else 500
            await http.respond_json(status, _error(exc.code, exc.message))
            return
        await http.respond_json(200, {"ok": True, **result})

    # ------------------------------------------------------------- delivery
    async def notify(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate once, then deliver; returns `{id, delivered}` (sockets reached)."""
        targets = [k for k in ("userId", "roomId", "all") if body.get(k) not in (None, False)]
        if len(targets) != 1:
            raise EventError("bad_request", "name exactly one target: userId, roomId or all")
        kind = body.get("type", "info")
        if kind not in TYPES:
            raise EventError("bad_request", f"type must be one of {', '.join(TYPES)}")
        self.sent += 1
        note = {
            "id": f"n{self.sent}-{time.time_ns():x}",
            "type": kind,
            "title": text(body.get("title", ""), "title", 200),
            "message": text(body.get("message", ""), "message", 4000),
            "timestamp": int(time.time() * 1000),
        }
        if body.get("userId") is not None:
            user_id = identifier(body["userId"], "userId")
            return await self._to_user(user_id, note)
        if body.get("roomId") is not None:
            room = chat_room(identifier(body["roomId"], "roomId"))
            delivered = sum(
                self.hub.emit_to_room(ns, room, "notification", note)
                for ns in self.hub.namespaces.values()
            )
            return {"id": note["id"], "delivered": delivered}
        if body.get("all") is not True:
            raise EventError("bad_request", "all must be true")
        return {"id": note["id"], "delivered": self.hub.emit_to_all("notification", note)}

    async def _to_user(self, user_id: str, note: dict[str, Any]) -> dict[str, Any]:
        backlog = await self._backlog(user_id)
        backlog.last_seq += 1
        note = {**note, "userId": user_id, "seq": backlog.last_seq}
        # kept before the write: while it is undelivered, the backlog is not evicted
        backlog.kept.append(note)
        try:
            body = json.dumps(note, separators=(",", ":"))
            stored = StoredNotification(note["seq"], note["id"], body)
            await self.notification_backlog.append(user_id, stored).committed()
        except Exception as exc:
            # not stored: not kept either (a replay must not hand out what a restart loses)
            with contextlib.suppress(ValueError):
                backlog.kept.remove(note)
            self._evict_if_idle(user_id)
            raise EventError("internal", f"notification not stored: {exc}") from None
        delivered = 0
        for sock in self._sockets_of(user_id):
            delivered += sock.emit("notification", note)
        if delivered:
            backlog.delivered_seq = max(backlog.delivered_seq, note["seq"])
        self._evict_if_idle(user_id)
        return {"id": note["id"], "seq": note["seq"], "delivered": delivered}

    def on_identify(self, sock: Socket) -> None:
        """A connection of a known user appeared: replay what it has not seen."""
        assert sock.user_id is not None
        backlog = self.backlogs.get(sock.user_id)
        if backlog is None or not backlog.loaded.is_set():
            if self.server.nursery is not None:
                self.server.start_task(self._replay_after_load, sock)
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
            if note["seq"] > after:
                sock.emit("notification", {**note, "replayed": True})
        if backlog.kept:
            backlog.delivered_seq = max(backlog.delivered_seq, backlog.kept[-1]["seq"])

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
                backlog.kept.append(json.loads(stored.body))
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
        if backlog.kept and backlog.kept[-1]["seq"] > backlog.delivered_seq:
            return
        if any(s is not leaving for s in self._sockets_of(user_id)):
            return
        del self.backlogs[user_id]

    def _sockets_of(self, user_id: str) -> list[Socket]:
        record = self.server.presence.users.get(user_id)
        return [s for s in record.sockets if s.connected] if record else []


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}
