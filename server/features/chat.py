"""Chat rooms, as in the tutorial: join, leave, messages with history, typing.

Messages are committed to the store before they are acked, so an
acknowledged message survives a restart and appears in the history that
later joiners receive. Each room keeps its recent history in memory (read
once from the store) and hands out a per-room `seq`: while a room lives in
one process, that process owns its order (see docs/protocol.md for who owns
it in a cluster).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from server.catalogue import (
    ChatMessage,
    JoinRoom,
    JoinRoomReply,
    LeaveRoom,
    Ok,
    RoomReply,
    SendMessage,
    SendMessageReply,
    Typing,
    UserJoined,
    UserLeft,
    UserTyping,
)
from server.errors import ErrorCode, EventError
from server.hub import DeferredAck, Hub, Socket
from server.rooms import chat_room, is_chat_room
from server.services import Services
from server.storage.ports import ChatLog, StoredMessage
from server.storage.writes import PendingWrite, StoreBusy, WriteFence

# chat rooms one connection may be in at once
MAX_ROOMS_PER_SOCKET = 100


def install(hub: Hub, services: Services) -> ChatRooms:
    rooms = ChatRooms(hub, services)
    hub.on(JoinRoom)(rooms.on_join_room)
    hub.on(LeaveRoom)(rooms.on_leave_room)
    hub.on(SendMessage)(rooms.on_send_message)
    hub.on(Typing)(rooms.on_typing)
    hub.on_disconnect(rooms.on_disconnect)
    return rooms


class ChatRooms:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.users = services.users
        self.clock = services.clock
        self.chat_log = services.storage.chat_log
        self.history_size = services.config.history_size
        self.users_limit = services.config.room_users_limit
        self.histories: dict[str, RoomHistory] = {}
        # rows of an evicted history may still be queued: its reload waits for them
        self.fence = WriteFence()

    # ---------------------------------------------------------------- events
    async def on_join_room(self, sock: Socket, join: JoinRoom) -> JoinRoomReply:
        self.hub.act_as(sock, join.user_id)
        room = chat_room(join.room_id)
        if room not in sock.rooms:
            joined = sum(1 for r in sock.rooms if is_chat_room(r))
            if joined >= MAX_ROOMS_PER_SOCKET:
                raise EventError(
                    ErrorCode.RATE_LIMITED,
                    f"a connection may be in at most {MAX_ROOMS_PER_SOCKET} chat rooms:"
                    " leave one first",
                )
        history = await self._history(room)
        first_tab = not self._user_in_room(sock, room, join.user_id)
        sock.join(room)
        users = self.users.users_among(sock.namespace.members(room))
        if first_tab:
            joined_event = UserJoined.listing(join.user_id, users, self.users_limit)
            self.hub.emit_event(joined_event, namespace=sock.namespace, to=room, skip=sock)
        return JoinRoomReply(join.room_id, tuple(users), len(users), tuple(history.messages))

    async def on_leave_room(self, sock: Socket, leave: LeaveRoom) -> RoomReply:
        self.hub.act_as(sock, leave.user_id)
        room = chat_room(leave.room_id)
        if room not in sock.rooms:
            raise EventError(ErrorCode.NOT_FOUND, f"not in room {leave.room_id!r}")
        self._leave(sock, room)
        return RoomReply(leave.room_id)

    async def on_send_message(
        self, sock: Socket, send: SendMessage
    ) -> DeferredAck | SendMessageReply:
        room = chat_room(send.room_id)
        if room not in sock.rooms:
            raise EventError(
                ErrorCode.FORBIDDEN, f"join room {send.room_id!r} before sending to it"
            )
        user_id = send.sender(sock.user_id)
        self.hub.act_as(sock, user_id)
        history = await self._history(room)
        entry = history.find(send.id, user_id) if send.id is not None else None
        if entry is not None:
            # A client retrying after a lost ack: do not deliver twice, and confirm only
            # what is stored — a retry of a message still being saved waits for its commit.
            duplicate = SendMessageReply(entry.message.seq, entry.message.id, duplicate=True)
            if entry.write is None or entry.write.done.is_set():
                return duplicate
            deferred = DeferredAck()
            entry.write.on_commit(_settle_with(deferred, duplicate))
            return deferred
        message, body, write = history.append(
            send, user_id, sock.user_name or user_id, self.clock.wall_ms(), self.chat_log
        )
        self.fence.track(room, write)
        # the stored row's JSON is the broadcast's argument: encoded once for both;
        # broadcast now, ack once committed (the ack is the durability promise)
        self.hub.emit(ChatMessage.name, namespace=sock.namespace, to=room, args_json=body)
        deferred = DeferredAck()
        write.on_commit(_settle_with(deferred, SendMessageReply(message.seq, message.id)))
        return deferred

    async def on_typing(self, sock: Socket, typing: Typing) -> Ok:
        self.hub.act_as(sock, typing.user_id)
        room = chat_room(typing.room_id)
        if room not in sock.rooms:
            raise EventError(
                ErrorCode.FORBIDDEN, f"join room {typing.room_id!r} before typing in it"
            )
        self.hub.emit_event(
            UserTyping(typing.user_id), namespace=sock.namespace, to=room, skip=sock, volatile=True
        )
        return Ok()

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for room in [r for r in sock.rooms if is_chat_room(r)]:
            self._leave(sock, room)

    # ------------------------------------------------------------------ state
    def _leave(self, sock: Socket, room: str) -> None:
        sock.leave(room)
        if not self.hub.has_room(room):
            # nobody left in the room, in any namespace: its history reloads on the next join
            self.histories.pop(room, None)
        user_id = sock.user_id
        if user_id is None or self._user_in_room(sock, room, user_id):
            return  # another tab of this user is still in the room
        users = self.users.users_among(sock.namespace.members(room))
        left = UserLeft.listing(user_id, users, self.users_limit)
        self.hub.emit_event(left, namespace=sock.namespace, to=room, skip=sock)

    @staticmethod
    def _user_in_room(sock: Socket, room: str, user_id: str) -> bool:
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
            raise EventError(ErrorCode.INTERNAL, f"the history of {room!r} could not be loaded")
        return history


@dataclass(slots=True)
class _Kept:
    """A kept message and the write that stores it (None once read back from the store)."""

    message: ChatMessage
    write: PendingWrite | None = None


@dataclass(slots=True)
class RoomHistory:
    """The last messages of one room, and its sequence: the room's next `seq` is decided here."""

    size: int
    messages: deque[ChatMessage] = field(init=False)
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
                message = ChatMessage.from_json(json.loads(stored.body))
                self.messages.append(message)
                self._ids[(message.user_id, message.id)] = _Kept(message)
                self.last_seq = max(self.last_seq, stored.seq)
        finally:
            self.loaded.set()

    def append(
        self, send: SendMessage, user_id: str, user_name: str, now_ms: int, chat_log: ChatLog
    ) -> tuple[ChatMessage, str, PendingWrite]:
        """Give the message the room's next seq, keep it, queue its row.

        Returns the message, its JSON (the row and the broadcast) and the write.
        If the row does not commit, the message is forgotten again: a retry of
        it is then stored anew instead of being confirmed as a duplicate.
        """
        seq = self.last_seq + 1
        message_id = send.id if send.id is not None else f"{self.room.removeprefix('chat:')}#{seq}"
        message = send.to_message(
            id=message_id, seq=seq, user_id=user_id, default_user_name=user_name, now_ms=now_ms
        )
        body = message.encode()  # too_large over the limit: nothing changed yet
        try:
            write = chat_log.append(self.room, StoredMessage(seq, body))
        except StoreBusy:
            raise EventError(
                ErrorCode.RATE_LIMITED, "the server is saving too many messages"
            ) from None
        self.last_seq = seq
        if len(self.messages) == self.messages.maxlen:
            oldest = self.messages[0]
            self._ids.pop((oldest.user_id, oldest.id), None)
        self.messages.append(message)
        key = (user_id, message_id)
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
        return message, body, write

    def find(self, message_id: str, user_id: str) -> _Kept | None:
        return self._ids.get((user_id, message_id))


def _settle_with(
    deferred: DeferredAck, reply: SendMessageReply
) -> Callable[[BaseException | None], None]:
    """A commit callback that acks with `reply`, or with an error if the row was not saved."""

    def settle(error: BaseException | None) -> None:
        if error is None:
            deferred.resolve(reply)
        else:
            deferred.reject(EventError(ErrorCode.INTERNAL, f"not stored: {error}"))

    return settle
