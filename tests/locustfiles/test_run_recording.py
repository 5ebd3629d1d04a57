"""locustfiles.run_recording: what a Locust user measures is fired into Locust as ours is
recorded (in a subprocess: gevent must not be loaded next to trio)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def run_command(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


FIRING_CHECK = """
import time
from pathlib import Path
from locust.env import Environment
from locust.stats import RequestStats
from locustfiles.run_recording import LocustRun, RtlabError
from simulate.scenarios import load_scenario

env = Environment()
stats = RequestStats()
fired = []

def on_request(request_type, name, response_time, response_length, exception=None, **kw):
    fired.append((name, response_time, exception, kw["context"]))
    stats.log_request(request_type, name, response_time, response_length)
    if exception:
        stats.log_error(request_type, name, exception)

env.events.request.add_listener(on_request)
run = LocustRun(env, load_scenario("chat"), "t", Path("unused"))
now = time.time_ns()
for ms in (10, 20, 30):
    run.latency("ack", "chat.ack", now - ms * 1_000_000, now_ns=now)
run.error("ack", "chat.ack", "timeout", now - 5_000_000_000)  # 5 s: a timeout
run.error("ack", "chat.ack", "not_connected")

failures = [f for f in fired if f[2] is not None]
assert [f[1] for f in failures] == [None, None], failures
assert isinstance(failures[0][2], RtlabError) and str(failures[0][2]) == "timeout"
assert failures[0][3]["elapsed_ms"] >= 5000 and failures[1][3]["elapsed_ms"] is None
entry = stats.get("chat.ack", "ack")
assert (entry.num_requests, entry.num_failures) == (5, 2)
# Locust's latencies are the successes' only, as in our histogram
assert entry.max_response_time == 30 and entry.min_response_time == 10
assert entry.get_response_time_percentile(0.99) == 30 and entry.avg_response_time == 20
run.recorder.fold()
ours = run.recorder.events["chat.ack"]
assert ours.histogram.get_total_count() == 3 and sum(ours.errors.values()) == 2
print("ok")
"""


def test_failures_are_fired_into_locust_without_a_response_time():
    """Errors count as Locust failures but stay out of its percentiles (as ours)."""
    result = run_command([sys.executable, "-c", FIRING_CHECK], timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
