"""Locust: multiplayer game state — players send inputs against the server's tick loop.

    locust -f locustfiles/game.py --headless -u 48 -r 10 -t 60s --host http://127.0.0.1:8000

Parameters come from `simulate/scenarios/game.toml` (games of 8, inputs at
10/s, the server ticks at 20 Hz). Rows: `ack game.join`, `ack game.input`,
`push game.input_to_state` (input N -> first state with lastSeq >= N),
`push game.tick_jitter`, `push game.skipped_ticks` (one per tick never seen).
"""

from __future__ import annotations

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.catalogue_users import GamePlayerUser


class GamePlayer(GamePlayerUser):
    scenario_name = "game"
