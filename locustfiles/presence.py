"""Locust: presence under churn — away/online, clean reconnects, abrupt TCP drops.

    locust -f locustfiles/presence.py --headless -u 100 -r 20 -t 60s --host http://127.0.0.1:8000

Follows `simulate/scenarios/presence-churn.toml`: churners (weight 4) and a
few chatters (weight 1) in rooms of 10, so that deliveries cross the churn.
Between seeded think times a churner toggles away/online (`presence-update`
with an ack: `ack presence.ack`; peers of this process time
`push presence.delivery`), reconnects cleanly (`connect reconnect.clean`:
from the close to the rejoin's ack) or vanishes with a TCP reset and lets
python-socketio reconnect by itself (`connect reconnect.abrupt`: from the
drop to the rejoin's ack).
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator

from locust import task

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles import chat
from locustfiles.chat_room import ChatRoomUser
from server.catalogue import PresenceStatus, PresenceUpdate
from simulate.schedule import Distribution
from simulate.vocabulary import Metric

REJOIN_WAIT_S = 15.0  # CALL_TIMEOUT + python-socketio's longest backoff, with margin


class PresenceChurnUser(ChatRoomUser):
    scenario_name = "presence-churn"
    persona_kind = "presence-churner"
    weight_from_scenario = True  # 4 : 1 in presence-churn.toml

    def on_start(self) -> None:
        super().on_start()
        self.away = False
        start = time.time_ns() + self.dephase_ns(self.params.think.sample(self.rng))
        self.schedule = think_paced(self.rng, self.params.think, start)
        self.next_at_ns = next(self.schedule)

    @task
    def churn(self) -> None:
        if not self.ready_to_act():
            return
        scheduled = self.wait_for_turn()
        p = self.params
        action = self.rng.choices(
            ("away", "reconnect", "drop"), (p.away_weight, p.reconnect_weight, p.drop_weight)
        )[0]
        if action == "away" and not self.rtlab.acked:
            # no presence-update on the tutorial's server: leave and come back
            self.leave_room()
            self.joined = self.join(self.join_labels[0])
        elif action == "away":
            self.toggle_away(scheduled)
        elif action == "reconnect":
            self.reconnect_cleanly()
        else:
            self.drop_and_recover()

    def toggle_away(self, scheduled_ns: int) -> None:
        self.away = not self.away
        status = PresenceStatus.AWAY if self.away else PresenceStatus.ONLINE
        self.rtlab.peers.note("presence", self.user_id, status.value, scheduled_ns)
        update = PresenceUpdate(self.user_id, status, room_id=self.room)
        self.rtlab.recorder.sent()
        self.call_measured(Metric.PRESENCE_ACK, update, scheduled_ns)

    def reconnect_cleanly(self) -> None:
        """Close like a closed tab, open a new connection, rejoin: timed from the close."""
        self.rejoin_on_reconnect = False
        if self.rtlab.acked:
            self.leave_membership(announced=True)  # rtlab: the close makes user-left
        else:
            self.leave_room()  # the tutorial's chat panel, when it closes
        closed_at = time.time_ns()
        self.disconnect()
        self.away = False
        self.joined = self.connect() and self.join("reconnect.clean", since_ns=closed_at)
        if self.joined and not self.rtlab.acked:  # no ack timed it: the rejoin was sent
            self.rtlab.latency("connect", "reconnect.clean", closed_at)
        self.rejoin_on_reconnect = self.joined

    def drop_and_recover(self) -> None:
        """Vanish like a crashed tab (RST, no close frame); python-socketio reconnects."""
        # rtlab tells the room a dropped user left; the tutorial never does
        self.leave_membership(announced=self.rtlab.acked)
        self.rejoined.clear()
        dropped_at = time.time_ns()
        if not drop_connection(self.sio):
            return
        if self.rejoined.wait(REJOIN_WAIT_S):
            self.rtlab.latency("connect", "reconnect.abrupt", dropped_at)
            self.away = False
        else:
            self.rtlab.error("connect", "reconnect.abrupt", "timeout", dropped_at)
            self.joined = False


def think_paced(rng: random.Random, think: Distribution, start_ns: int) -> Iterator[int]:
    """Instants a seeded think time apart from `start_ns`; each drawn when the last is taken."""
    at = start_ns
    while True:
        yield at
        at += int(think.sample(rng) * 1e9)


def drop_connection(sio: object) -> bool:
    """SO_LINGER 0 turns the close into a reset; the reading greenlet sees the link die.

    Reaches into python-engineio's websocket (`eio.ws.sock`): the client has
    no public abort.
    """
    ws = getattr(getattr(sio, "eio", None), "ws", None)
    sock = getattr(ws, "sock", None)
    if sock is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        return False
    return True


class PresenceChatter(chat.ChatUser):
    """The scenario's chatters: messages that must cross the churn."""

    scenario_name = "presence-churn"
    weight_from_scenario = True
