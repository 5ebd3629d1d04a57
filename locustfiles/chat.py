"""Locust: chat rooms — every user sends `send-message` at the scenario's rate (open model).

    locust -f locustfiles/chat.py --headless -u 200 -r 20 -t 60s --host http://127.0.0.1:8000

Parameters (rate, arrival, message size, room size, seed) come from
`simulate/scenarios/chat.toml`, the bots' own definition; `--rtlab-scenario`
picks another. Rows in Locust: `ack chat.ack` / `ack room.join` (request to
ack), `push chat.echo` (own message back) and `push chat.delivery` (someone
else's, one-way on the same host clock), `connect connect`.
"""

from __future__ import annotations

from locust import task

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.chat_room import ChatRoomUser


class ChatUser(ChatRoomUser):
    scenario_name = "chat"
    persona_kind = "chatter"

    def on_start(self) -> None:
        super().on_start()
        self.start_schedule()

    @task
    def send_message(self) -> None:
        if self.ready_to_act():
            self.send_chat_message(self.wait_for_turn(), self.params.message_bytes)
