"""Small run directories written through the producers' own writer (RunDirectory.write).

Each event gets the latencies given (ms) and the errors given; meta says
which target profile ran. Enough for budgets and comparisons to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulate.recording import Recorder, RunDirectory
from simulate.target_profile import RTLAB, TUTORIAL

START = 1_700_000_000_000_000_000
S = 1_000_000_000


def write_run(
    path: Path,
    latencies_ms: dict[str, list[float]],
    *,
    errors: dict[str, dict[str, int]] | None = None,
    profile: str = "rtlab",
    scenario: str = "smoke",
    users: int = 12,
    duration: float = 3.0,
    server: dict[str, Any] | None = None,
    delivery_lost: int | None = 0,
) -> Path:
    recorder = Recorder(START, "chat.echo")
    for event, values in latencies_ms.items():
        for value in values:
            recorder.latency(event, START + S, START + S + int(value * 1e6))
    for event, kinds in (errors or {}).items():
        for kind, n in kinds.items():
            for _ in range(n):
                recorder.error(event, kind)
    recorder.tick(START + S, 20.0)
    choice = {"rtlab": RTLAB, "tutorial": TUTORIAL}[profile]
    meta = {
        "run_id": path.name,
        "producer": "tests",
        "scenario": {"name": scenario, "users": users, "duration": duration},
        "target": "ws://127.0.0.1:1",
        "seed": 1,
        "users": users,
        "duration": duration,
        "main_event": "chat.echo",
        "started_ns": START,
        "ended_ns": START + int(duration * S),
        "sending_started_ns": START,
        "sending_stopped_ns": START + int(duration * S),
        "generator_saturated": False,
        "generator_peak_cpu_percent": 20.0,
        "target_profile": {
            "name": choice.name,
            "requested": "auto",
            "reason": "test",
            "unmeasured_events": list(choice.unmeasured_events),
        },
    }
    totals = {"sent": 10, "acked": 0, "expected": 40, "received": 40, "lost": 0, "duplicates": 0}
    delivery = None
    if delivery_lost is not None:
        totals = {**totals, "lost": delivery_lost, "received": 40 - delivery_lost}
        delivery = {"method": "time", "rooms": {"r": {**totals, "members": 4}}, "totals": totals}
    RunDirectory.write(path, meta=meta, payload=recorder.payload(), delivery=delivery)
    if server is not None:
        (path / "server.json").write_text(json.dumps(server))
    return path
