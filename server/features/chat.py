"""Chat rooms, as in the tutorial: join, leave, messages with history, typing.

Messages are committed to the store before they are broadcast and acked,
so an acknowledged message survives a restart and appears in the history
that later joiners receive. Each room keeps its recent history in memory
(read once from the store), and hands out a per-room `seq`.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from server.features.arguments import arg, bind_user, identifier, mapping, text
from server.features.presence import PresenceRegistry, chat_room, now_ms
from server.hub import DeferredAck, EventError, Socket
from server.protocol.errors import ProtocolError
from server.protocol.socketio import dumps
from server.store import PendingWrite, Store, StoreBusy

if TYPE_CHECKING:
    from server.app import ReferenceServer

MAX_TEXT = 10_000


def install(server: ReferenceServer, presence: PresenceRegistry) -> ChatRooms:
    rooms = ChatRooms(server, presence)
    hub = server.hub
    hub.on("join-room")(rooms.on_join_room)
    hub.on("leave-room")(rooms.on_leave_room)
    hub.on("send-message")(rooms.on_send_message)
    hub.on("typing")(rooms.on_typing)
    hub.on_disconnect(rooms.on_disconnect)
    return rooms


class ChatRooms:
    def __init__(self, server: ReferenceServer, presence: PresenceRegistry) -> None:
        self.hub = server.hub
        self.store = server.store
        self.presence = presence
        self.history_size = server.config.history_size
        self.users_limit = server.config.room_users_limit
        self.histories: dict[str, RoomHistory] = {}

    # ---------------------------------------------------------------- events
    async def on_join_room(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        bind_user(sock, user_id)
        room = chat_room(room_id)
        history = await self._history(room)
        first_tab = not self._user_in_room(sock, room, user_id)
        record = self.presence.attach(sock)
        record.rooms.add(room)
        sock.join(room)
        users = self.presence.users_in(sock.namespace, room)
        if first_tab:
            self.hub.emit_to_room(
                sock.namespace, room, "user-joined", self._membership(user_id, users), skip=sock
            )
        return {
            "roomId": room_id,
            "users": users,
            "userCount": len(users),
            "history": list(history.messages),
        }

    async def on_leave_room(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        bind_user(sock, user_id)
        room = chat_room(room_id)
        if room not in sock.rooms:
            raise EventError("not_found", f"not in room {room_id!r}")
        self._leave(sock, room)
        return {"roomId": room_id}

    async def on_send_message(self, sock: Socket, args: list[Any]) -> DeferredAck | dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        body = mapping(arg(args, 1, "message"), "message")
        room = chat_room(room_id)
        if room not in sock.rooms:
            raise EventError("forbidden", f"join room {room_id!r} before sending to it")
        user_id = identifier(body.get("userId", sock.user_id), "message.userId")
        bind_user(sock, user_id)
        message = {
            **{k: v for k, v in body.items() if k not in ("seq",)},
            # no id from the client: the room's seq makes one (append fills it in)
            "id": identifier(body["id"], "message.id") if body.get("id") else None,
            "userId": user_id,
            "userName": text(body.get("userName", sock.user_name or user_id), "userName", 200),
            "text": text(body.get("text"), "message.text", MAX_TEXT),
            "timestamp": body.get("timestamp", now_ms()),
        }
        history = await self._history(room)
        duplicate = history.find(message["id"], user_id) if message["id"] else None
        if duplicate is not None:
            # A client retrying after a lost ack: confirm, but do not deliver twice.
            return {"seq": duplicate["seq"], "id": message["id"], "duplicate": True}
        write, body_json = history.append(message, self.store)
        # the stored row's JSON is the broadcast's argument: encoded once for both
        self.hub.emit_to_room_encoded(sock.namespace, room, "receive-message", body_json)
        # Broadcast now, ack once committed: the ack is the durability promise,
        # and this connection's next message need not wait for the disk.
        reply = DeferredAck()
        write.on_commit(_settle_with(reply, {"seq": message["seq"], "id": message["id"]}))
        return reply

    async def on_typing(self, sock: Socket, args: list[Any]) -> None:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        bind_user(sock, user_id)
        room = chat_room(room_id)
        if room not in sock.rooms:
            raise EventError("forbidden", f"join room {room_id!r} before typing in it")
        self.hub.emit_to_room(
            sock.namespace, room, "user-typing", user_id, skip=sock, volatile=True
        )
        return None

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for room in [r for r in sock.rooms if r.startswith("chat:")]:
            self._leave(sock, room)

    # ------------------------------------------------------------------ state
    def _leave(self, sock: Socket, room: str) -> None:
        sock.leave(room)
        user_id = sock.user_id
        if user_id is None or self._user_in_room(sock, room, user_id):
            return  # another tab of this user is still in the room
        users = self.presence.users_in(sock.namespace, room)
        self.hub.emit_to_room(
            sock.namespace, room, "user-left", self._membership(user_id, users), skip=sock
        )

    def _membership(self, user_id: str, users: list[dict[str, Any]]) -> dict[str, Any]:
        """The user-joined/user-left payload; large rooms get a truncated `users` list."""
        payload: dict[str, Any] = {"userId": user_id, "users": users, "userCount": len(users)}
        if len(users) > self.users_limit:
            payload["users"] = users[: self.users_limit]
            payload["usersTruncated"] = True
        return payload

    def _user_in_room(self, sock: Socket, room: str, user_id: str) -> bool:
        return any(m.user_id == user_id for m in sock.namespace.members(room) if m is not sock)

    async def _history(self, room: str) -> RoomHistory:
        history = self.histories.get(room)
        if history is not None and history.loaded.is_set():
            return history  # the common case: no checkpoint, no task switch per message
        if history is None:
            history = RoomHistory(self.history_size)
            self.histories[room] = history
            await history.load(room, self.store)
        await history.loaded.wait()
        return history


@dataclass(slots=True)
class RoomHistory:
    size: int
    messages: deque[dict[str, Any]] = field(init=False)
    room: str = ""
    last_seq: int = 0
    loaded: trio.Event = field(default_factory=trio.Event)
    # (userId, id) of the kept messages: retries are recognised in O(1)
    _ids: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.messages = deque(maxlen=self.size)

    async def load(self, room: str, store: Store) -> None:
        self.room = room
        try:
            rows = await store.query(
                "SELECT seq, body FROM messages WHERE room = ? ORDER BY seq DESC LIMIT ?",
                (room, self.size),
            )
            for seq, body in reversed(rows):
                message = json.loads(body)
                self.messages.append(message)
                self._ids[(message.get("userId"), message.get("id"))] = message
                self.last_seq = max(self.last_seq, seq)
        finally:
            self.loaded.set()

    def append(self, message: dict[str, Any], store: Store) -> tuple[PendingWrite, str]:
        """Give the message the room's next seq, keep it, queue its row; returns its JSON."""
        seq = self.last_seq + 1
        if message["id"] is None:
            message["id"] = f"{self.room.removeprefix('chat:')}#{seq}"
        message["seq"] = seq
        try:
            body = dumps(message)
        except ProtocolError as exc:
            del message["seq"]
            raise EventError("bad_request", f"message is not JSON: {exc}") from None
        try:
            write = store.submit(
                "INSERT INTO messages (room, seq, body) VALUES (?, ?, ?)", (self.room, seq, body)
            )
        except StoreBusy:
            del message["seq"]
            raise EventError("rate_limited", "the server is saving too many messages") from None
        self.last_seq = seq
        if len(self.messages) == self.messages.maxlen:
            oldest = self.messages[0]
            self._ids.pop((oldest["userId"], oldest["id"]), None)
        self.messages.append(message)
        self._ids[(message["userId"], message["id"])] = message
        return write, body

    def find(self, message_id: str, user_id: str) -> dict[str, Any] | None:
        return self._ids.get((user_id, message_id))


def _settle_with(
    reply: DeferredAck, payload: dict[str, Any]
) -> Callable[[BaseException | None], None]:
    """A commit callback that acks with `payload`, or with an error if the row was not saved."""

    def settle(error: BaseException | None) -> None:
        if error is None:
            reply.resolve(payload)
        else:
            reply.reject(EventError("internal", f"not stored: {error}"))

    return settle
