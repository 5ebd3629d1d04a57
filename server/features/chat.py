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
from server.storage.ports import ChatLog, StoredMessage
from server.storage.writes import PendingWrite, StoreBusy, WriteFence

if TYPE_CHECKING:
    from server.app import ReferenceServer

MAX_TEXT = 10_000
# a stored message, encoded: the whole text in 4-byte characters plus room for the rest.
# Join acks carry the history (50 messages by default): 50 × 48 KiB stays well under a
# connection's 4 MiB outbox, so a few fat messages cannot make every joiner a "slow consumer".
MAX_MESSAGE_BYTES = 48 * 1024
# chat rooms one connection may be in at once
MAX_ROOMS_PER_SOCKET = 100


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
        self.chat_log = server.storage.chat_log
        self.presence = presence
        self.history_size = server.config.history_size
        self.users_limit = server.config.room_users_limit
        self.histories: dict[str, RoomHistory] = {}
        # rows of an evicted history may still be queued: its reload waits for them
        self.fence = WriteFence()

    # ---------------------------------------------------------------- events
    async def on_join_room(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        room_id = identifier(arg(args, 0, "roomId"), "roomId")
        user_id = identifier(arg(args, 1, "userId"), "userId")
        bind_user(sock, user_id)
        room = chat_room(room_id)
        if room not in sock.rooms:
            joined = sum(1 for r in sock.rooms if r.startswith("chat:"))
            if joined >= MAX_ROOMS_PER_SOCKET:
                raise EventError(
                    "rate_limited",
                    f"a connection may be in at most {MAX_ROOMS_PER_SOCKET} chat rooms:"
                    " leave one first",
                )
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
        entry = history.find(message["id"], user_id) if message["id"] else None
        if entry is not None:
            # A client retrying after a lost ack: do not deliver twice, and confirm only
            # what is stored — a retry of a message still being saved waits for its commit.
            duplicate = {"seq": entry.message["seq"], "id": message["id"], "duplicate": True}
            if entry.write is None or entry.write.done.is_set():
                return duplicate
            reply = DeferredAck()
            entry.write.on_commit(_settle_with(reply, duplicate))
            return reply
        write, body_json = history.append(message, self.chat_log)
        self.fence.track(room, write)
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
        if not any(room in ns.rooms for ns in self.hub.namespaces.values()):
            # nobody left in the room, in any namespace: its history reloads on the next join
            self.histories.pop(room, None)
        user_id = sock.user_id
        if user_id is None or self._user_in_room(sock, room, user_id):
            return  # another tab of this user is still in the room
        self.presence.left_room(user_id, room)
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
            try:
                await history.load(room, self.chat_log, self.fence)
            except BaseException:
                if self.histories.get(room) is history:
                    del self.histories[room]
                raise
        await history.loaded.wait()
        if self.histories.get(room) is not history:
            raise EventError("internal", f"the history of {room!r} could not be loaded")
        return history


@dataclass(slots=True)
class _Kept:
    """A kept message and the write that stores it (None once read back from the store)."""

    message: dict[str, Any]
    write: PendingWrite | None = None


@dataclass(slots=True)
class RoomHistory:
    size: int
    messages: deque[dict[str, Any]] = field(init=False)
    room: str = ""
    last_seq: int = 0
    loaded: trio.Event = field(default_factory=trio.Event)
    # (userId, id) of the kept messages: retries are recognised in O(1)
    _ids: dict[tuple[str, str], _Kept] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.messages = deque(maxlen=self.size)

    async def load(self, room: str, chat_log: ChatLog, fence: WriteFence | None = None) -> None:
        self.room = room
        try:
            if fence is not None:
                # rows queued by an evicted history of this room land first
                await fence.wait(room)
            for stored in await chat_log.recent(room, self.size):
                message = json.loads(stored.body)
                self.messages.append(message)
                self._ids[(message.get("userId"), message.get("id"))] = _Kept(message)
                self.last_seq = max(self.last_seq, stored.seq)
        finally:
            self.loaded.set()

    def append(self, message: dict[str, Any], chat_log: ChatLog) -> tuple[PendingWrite, str]:
        """Give the message the room's next seq, keep it, queue its row; returns its JSON.

        If the row does not commit, the message is forgotten again: a retry
        of it is then stored anew instead of being confirmed as a duplicate.
        """
        seq = self.last_seq + 1
        generated = message["id"] is None
        if generated:
            message["id"] = f"{self.room.removeprefix('chat:')}#{seq}"
        message["seq"] = seq
        try:
            body = dumps(message)
            if len(body.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
                raise EventError(
                    "too_large", f"the message exceeds {MAX_MESSAGE_BYTES} bytes as JSON"
                )
            write = chat_log.append(self.room, StoredMessage(seq, body))
        except ProtocolError as exc:
            self._unstamp(message, generated)
            raise EventError("bad_request", f"message is not JSON: {exc}") from None
        except StoreBusy:
            self._unstamp(message, generated)
            raise EventError("rate_limited", "the server is saving too many messages") from None
        except EventError:
            self._unstamp(message, generated)
            raise
        self.last_seq = seq
        if len(self.messages) == self.messages.maxlen:
            oldest = self.messages[0]
            self._ids.pop((oldest["userId"], oldest["id"]), None)
        self.messages.append(message)
        key = (message["userId"], message["id"])
        kept = self._ids[key] = _Kept(message, write)

        def stored(error: BaseException | None) -> None:
            if error is None:
                kept.write = None  # committed: nothing to wait for any more
                return
            if self._ids.get(key) is kept:
                del self._ids[key]
            for i, kept_message in enumerate(self.messages):
                if kept_message is message:
                    del self.messages[i]
                    break

        write.on_commit(stored)
        return write, body

    @staticmethod
    def _unstamp(message: dict[str, Any], generated: bool) -> None:
        del message["seq"]
        if generated:
            message["id"] = None

    def find(self, message_id: str, user_id: str) -> _Kept | None:
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
