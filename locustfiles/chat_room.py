"""`ChatRoomUser`: a seat in a chat room — join, rejoin after a reconnect, time what it hears.

Chatters, typists and presence churners all sit in chat rooms (the fleet's
`room` family), so they share this base: rooms of `room_size` users, the
same event names as the bots (`room.join`, `room.rejoin`, `chat.ack`,
`chat.echo`, `chat.delivery`, `typing.delivery`, `presence.delivery`) and
the same delivery bookkeeping (`DeliveryLog` from simulate/recording.py),
so `delivery.json` says whether every message reached every member.

Handlers run in python-socketio's reading greenlet: they must not block
(no `call` there), so a rejoin after a reconnect runs in its own greenlet.
"""

from __future__ import annotations

import time
from typing import Any

import gevent.event

from locustfiles.rtlab_user import SeatedUser, filler
from simulate.measurement import chat_message, membership_start
from simulate.recording import BotDelivery, Membership, RoomLedger


class ChatRoomUser(SeatedUser):
    abstract = True
    join_labels = ("room.join", "room.rejoin")

    def on_start(self) -> None:
        self.room = self.rtlab.take_seat("room")
        self.ledger: RoomLedger = self.rtlab.delivery.room(self.room)
        self.record: BotDelivery = self.rtlab.delivery.bot(self.room)
        self.rejoined = gevent.event.Event()
        self.sent_messages = 0
        self.sio.on("receive-message", self._on_message)
        self.sio.on("user-typing", self._on_user_typing)
        self.sio.on("presence-update", self._on_presence)
        self.connect_and_join()

    # ---------------------------------------------------------------- room
    def join(self, label: str = "room.join", since_ns: int | None = None) -> bool:
        began = time.time_ns() if since_ns is None else since_ns
        reply = self.call_measured(label, "join-room", (self.room, self.user_id), began)
        if reply is None:
            return False
        self.record.memberships.append(Membership(membership_start(reply), time.time_ns()))
        # broadcasts of acts from the join request on reach this user (PeerClock)
        self.rtlab.peers.listen(self.user_id, began)
        return True

    def leave_membership(self) -> None:
        """End the current membership here (before a deliberate or abrupt disconnect)."""
        if self.record.memberships and self.record.memberships[-1].end_ns is None:
            current = self.record.memberships[-1]
            current.end_ns = time.time_ns()
            current.end_seq = self.record.last_seq if current.start_seq is not None else None

    def rejoin(self) -> None:
        """python-socketio reconnected on its own (after a drop): a new membership."""
        self.leave_membership()
        if self.join(self.join_labels[1]):
            self.rejoined.set()

    # ---------------------------------------------------------------- sending
    def send_chat_message(self, scheduled_ns: int, size: int) -> None:
        ledger = self.ledger
        text = filler(self.rng, size)
        message = chat_message(
            self.user_id, self.sent_messages, text, scheduled_ns, self.rtlab.run_tag
        )
        self.sent_messages += 1
        ledger.note_sent(time.time_ns())
        if self.emit_acked(
            "chat.ack", "send-message", (self.room, message), scheduled_ns, ledger.note_ack
        ):
            self.rtlab.recorder.sent()  # counted only once it left: the series and the ledger agree
        else:
            ledger.unsend()

    # ---------------------------------------------------------------- incoming
    def _on_message(self, message: Any = None, *_: Any) -> None:
        if not isinstance(message, dict) or message.get("run") != self.rtlab.run_tag:
            return
        now = time.time_ns()
        self.rtlab.recorder.received()
        if not self.record.take(self.ledger, message.get("seq")):
            return
        sent_at = message.get("sentAt")
        if isinstance(sent_at, int):
            own = message.get("userId") == self.user_id
            text = message.get("text")
            length = len(text) if isinstance(text, str) else 0
            self.rtlab.latency(
                "push", "chat.echo" if own else "chat.delivery", sent_at, length, now_ns=now
            )

    def _on_user_typing(self, user_id: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        if isinstance(user_id, str):
            since = self.rtlab.peers.since("typing", user_id, "", now, receiver=self.user_id)
            if since is not None:
                self.rtlab.latency("push", "typing.delivery", since, now_ns=now)

    def _on_presence(self, update: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        if isinstance(update, dict) and isinstance(update.get("userId"), str):
            status = str(update.get("status"))
            since = self.rtlab.peers.since(
                "presence", update["userId"], status, now, receiver=self.user_id
            )
            if since is not None:
                self.rtlab.latency("push", "presence.delivery", since, now_ns=now)
