"""`ChatRoomUser`: a seat in a chat room — join, rejoin after a reconnect, time what it hears.

Chatters, typists and presence churners all sit in chat rooms (the fleet's
`room` family), so they share this base: rooms of `room_size` users, the
same event names as the bots (`room.join`, `room.rejoin`, `chat.ack`,
`chat.echo`, `chat.delivery`, `typing.delivery`, `presence.delivery`) and
the same delivery bookkeeping (`DeliveryLog` from simulate/recording.py),
so `delivery.json` says whether every message reached every member.

Handlers run in python-socketio's reading greenlet: they must not block
(no `call` there), so a rejoin after a reconnect runs in its own greenlet.

Against a server without acks (the tutorial profile) joins and messages
are fire-and-forget, memberships are settled by broadcasts
(simulate/roster.py), and messages are told apart by the sender, number and
`sentAt` they carry — as the bots do (simulate/personas.py).
"""

from __future__ import annotations

import time
from typing import Any

import gevent.event

from locustfiles.rtlab_user import SeatedUser, filler
from server.catalogue import EventName, JoinRoom, LeaveRoom
from simulate.measurement import chat_message, membership_start
from simulate.recording import BotDelivery, Membership, RoomLedger
from simulate.roster import heard_membership_change, heard_unnumbered_message
from simulate.vocabulary import Metric


class ChatRoomUser(SeatedUser):
    abstract = True
    join_labels = ("room.join", "room.rejoin")

    def on_start(self) -> None:
        self.room = self.rtlab.take_seat("room")
        self.ledger: RoomLedger = self.rtlab.delivery.room(self.room)
        self.record: BotDelivery = self.rtlab.delivery.bot(self.room)
        self.rejoined = gevent.event.Event()
        self.sent_messages = 0
        self.sio.on(EventName.RECEIVE_MESSAGE, self._on_message)
        self.sio.on(EventName.USER_TYPING, self._on_user_typing)
        self.sio.on(EventName.PRESENCE_UPDATE, self._on_presence)
        self.sio.on(EventName.USER_JOINED, self._on_user_joined)
        self.sio.on(EventName.USER_LEFT, self._on_user_left)
        self.connect_and_join()

    # ---------------------------------------------------------------- room
    def join(self, label: str = "room.join", since_ns: int | None = None) -> bool:
        if not self.rtlab.acked:
            return self._join_without_ack(label)
        began = time.time_ns() if since_ns is None else since_ns
        emitted = time.time_ns()
        # noted before the call: the others hear user-joined before the ack comes back
        self.rtlab.roster.note_act("joined", self.user_id, emitted)
        reply = self.call_measured(label, JoinRoom(self.room, self.user_id), began)
        if reply is None:
            return False
        now = time.time_ns()
        self.record.memberships.append(Membership(membership_start(reply), now))
        self.rtlab.roster.join_sent(self.room, self.user_id, emitted)
        self.rtlab.roster.confirm(self.room, self.user_id, now, "ack")
        # broadcasts of acts from the join request on reach this user (PeerClock)
        self.rtlab.peers.listen(self.user_id, began)
        return True

    def _join_without_ack(self, label: str) -> bool:
        """Fire-and-forget join: the window opens when a broadcast shows it took effect."""
        emitted = time.time_ns()
        if not self.emit_plain(label, JoinRoom(self.room, self.user_id)):
            return False
        membership = Membership(None, emitted, acked=False)
        self.record.memberships.append(membership)
        self.rtlab.roster.join_sent(self.room, self.user_id, emitted, membership)
        self.rtlab.roster.note_act("joined", self.user_id, emitted)
        self.rtlab.peers.listen(self.user_id, emitted)
        return True

    def leave_room(self) -> None:
        """`leave-room`, as the tutorial's chat panel does when it closes (user-left follows)."""
        if self.emit_plain(Metric.PRESENCE_LEFT, LeaveRoom(self.room, self.user_id)):
            self.leave_membership(announced=True)
        else:
            self.leave_membership()

    def leave_membership(self, *, announced: bool = False) -> None:
        """End the current membership here (before a deliberate or abrupt disconnect).

        `announced`: the server will tell the room (`user-left`), so the
        others time it from now.
        """
        if self.record.memberships and self.record.memberships[-1].end_ns is None:
            current = self.record.memberships[-1]
            current.end_ns = now = time.time_ns()
            current.end_seq = self.record.last_seq if current.start_seq is not None else None
            self.rtlab.roster.left(self.room, self.user_id, now)
            if announced:
                self.rtlab.roster.note_act("left", self.user_id, now)

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
            self.room, self.user_id, self.sent_messages, text, scheduled_ns, self.rtlab.run_tag
        )
        self.sent_messages += 1
        if not self.rtlab.acked:
            # fire-and-forget; the ledger counts by the sentAt the message carries
            if self.emit_plain(Metric.CHAT_ECHO, message):
                ledger.note_sent(scheduled_ns)
            return
        ledger.note_sent(time.time_ns())
        if self.emit_acked(Metric.CHAT_ACK, message, scheduled_ns, ledger.note_ack):
            self.rtlab.recorder.sent()  # counted only once it left: the series and the ledger agree
        else:
            ledger.unsend()

    # ---------------------------------------------------------------- incoming
    def _on_message(self, message: Any = None, *_: Any) -> None:
        if not isinstance(message, dict) or message.get("run") != self.rtlab.run_tag:
            return
        now = time.time_ns()
        self.rtlab.recorder.received()
        if self.rtlab.acked:
            taken = self.record.take(self.ledger, message.get("seq"))
        else:
            taken = heard_unnumbered_message(
                self.rtlab.roster, self.record, self.ledger, self.room, self.user_id, message, now
            )
        if not taken:
            return
        sent_at = message.get("sentAt")
        if isinstance(sent_at, int):
            own = message.get("userId") == self.user_id
            text = message.get("text")
            length = len(text) if isinstance(text, str) else 0
            self.rtlab.latency(
                "push", "chat.echo" if own else "chat.delivery", sent_at, length, now_ns=now
            )

    def _on_user_joined(self, payload: Any = None, *_: Any) -> None:
        self._on_membership_change(payload, joined=True)

    def _on_user_left(self, payload: Any = None, *_: Any) -> None:
        self._on_membership_change(payload, joined=False)

    def _on_membership_change(self, payload: Any, *, joined: bool) -> None:
        """`user-joined`/`user-left`: confirm the join, time it, judge the users list."""
        now = time.time_ns()
        run = self.rtlab
        run.recorder.received()
        since = heard_membership_change(
            run.roster, run.presence, self.room, self.user_id, payload, joined=joined, now_ns=now
        )
        if since is not None:
            metric = Metric.PRESENCE_JOINED if joined else Metric.PRESENCE_LEFT
            run.latency("push", metric, since, now_ns=now)

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
