"""Locust: typing indicators — bursts of `typing` at keystroke pace, then the message.

    locust -f locustfiles/typing_indicators.py --headless -u 100 -r 20 -t 60s \\
        --host http://127.0.0.1:8000

(Not `typing.py`: Locust imports a locustfile under its file name, and a
module registered as `typing` replaces the standard library's for every
later import in the process.)

Keystroke intervals, burst lengths and think times come from
`simulate/scenarios/typing.toml`. Rows: `push typing.delivery` (one-way,
for typists of this process: the broadcast carries no timestamp of ours),
`ack chat.ack`, `push chat.echo`, `push chat.delivery`, `ack room.join`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from locust import task

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.chat_room import ChatRoomUser
from server.catalogue import Typing
from simulate.scenarios import TypistParams


def typing_plan(
    rng: random.Random, params: TypistParams, start_ns: int
) -> Iterator[tuple[int, int]]:
    """Scheduled actions: `(at_ns, 0)` is a keystroke, `(at_ns, n)` the message after n keys.

    The same shape as the bots' typist (simulate/personas.py): think, type a
    burst at keystroke intervals, send the message, think again.
    """
    at = start_ns
    while True:
        at += int(params.think.sample(rng) * 1e9)
        keystrokes = max(1, round(params.burst.sample(rng)))
        for _ in range(keystrokes):
            yield at, 0
            at += int(params.keystroke.sample(rng) * 1e9)
        yield at, keystrokes


class TypistUser(ChatRoomUser):
    scenario_name = "typing"
    persona_kind = "typist"

    def on_start(self) -> None:
        super().on_start()
        start = time.time_ns() + self.dephase_ns(1.0)
        self.plan = typing_plan(self.rng, self.params, start)
        self.next_at_ns, self.next_keystrokes = next(self.plan)

    @task
    def type_or_send(self) -> None:
        if not self.ready_to_act():
            return
        scheduled, keystrokes = self.next_at_ns, self.next_keystrokes
        self.sleep_until(scheduled)
        self.next_at_ns, self.next_keystrokes = next(self.plan)
        if keystrokes:
            self.send_chat_message(scheduled, keystrokes)
            return
        self.rtlab.peers.note("typing", self.user_id, "", scheduled)
        if not self.emit_plain("typing", Typing(self.room, self.user_id)):
            self.rtlab.peers.retract("typing", self.user_id, "", scheduled)
