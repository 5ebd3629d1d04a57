"""Locust: chat rooms — every user sends `send-message` at the scenario's rate (open model).

    locust -f locustfiles/chat.py --headless -u 200 -r 20 -t 60s --host http://127.0.0.1:8000

Parameters (rate, arrival, message size, room size, seed) come from
`simulate/scenarios/chat.toml`, the bots' own definition; `--rtlab-scenario`
picks another. Rows in Locust: `ack chat.ack` / `ack room.join` (request to
ack), `push chat.echo` (own message back) and `push chat.delivery` (someone
else's, one-way on the same host clock), `connect connect`.
"""

from __future__ import annotations

import time

from locust import task

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.chat_room import ChatRoomUser
from locustfiles.rtlab_user import FAR_FUTURE_NS
from simulate.schedule import arrival_times


class ChatUser(ChatRoomUser):
    scenario_name = "chat"
    persona_kind = "chatter"

    def on_start(self) -> None:
        super().on_start()
        params = self.params
        start = time.time_ns() + self.dephase_ns(1.0 / params.rate)
        self.schedule = arrival_times(self.rng, params.rate, params.arrival, start, FAR_FUTURE_NS)
        self.next_at_ns = next(self.schedule)

    @task
    def send_message(self) -> None:
        if self.rtlab.stopping:
            return
        if not self.joined:
            self.retry_join()
            return
        scheduled = self.next_at_ns
        self.sleep_until(scheduled)
        self.next_at_ns = next(self.schedule)
        self.send_chat_message(scheduled, self.params.message_bytes)
