"""Real-time bot fleets against the reference server (a subprocess on 127.0.0.1).

The fleet must write a complete run directory whose numbers agree with
each other: every message sent reaches every member of its room (on
loopback against our server nothing may be lost), editors converge,
churners reconnect, and several processes add up to the same totals.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from simulate import fleet
from simulate.fleet import FleetOptions
from simulate.recording import RunDirectory
from simulate.scenarios import load_scenario
from simulate.schedule import Ramp

META_KEYS = {
    "run_id",
    "scenario",
    "target",
    "seed",
    "users",
    "duration",
    "versions",
    "host",
    "command",
    "started_at",
    "ended_at",
    "generator_saturated",
    "generator_peak_cpu_percent",
}


def run_fleet(tmp_path: Path, url: str, scenario_name: str, procs: int = 1, **overrides) -> Path:
    scenario = load_scenario(scenario_name).with_overrides(**overrides)
    options = FleetOptions(url, scenario, procs=procs, out=tmp_path / "runs", quiet=True)
    return fleet.run(options)


def test_chat_fleet_of_200_bots_writes_a_consistent_run_directory(tmp_path, server_process):
    path = run_fleet(
        tmp_path, server_process.ws_url, "chat", users=200, duration=10.0, ramp=Ramp("linear", 2)
    )
    run = RunDirectory.load(path)
    assert set(run.meta) >= META_KEYS
    assert run.meta["kind"] == "realtime"  # reports tell it from an experiment (kind experiment)
    assert {"python", "trio", "rtlab", "hdrhistogram"} <= set(run.meta["versions"])
    assert {"hostname", "platform", "cpu_count"} <= set(run.meta["host"])
    assert run.meta["scenario"]["users"] == 200 and run.meta["scenario"]["name"] == "chat"
    assert 9 <= len(run.series) <= 13
    assert max(row["connected"] for row in run.series) == 200

    delivery = run.delivery
    assert delivery is not None and delivery["method"] == "seq"
    totals = delivery["totals"]
    assert totals["sent"] > 0
    assert totals["lost"] == 0 and totals["duplicates"] == 0
    assert totals["received"] == totals["expected"]
    assert len(delivery["rooms"]) == 10
    for room in delivery["rooms"].values():
        assert room["members"] == 20 and room["acked"] == room["sent"]

    events = run.summary["events"]
    assert events["chat.echo"]["count"] == totals["sent"]  # every sender heard itself
    assert events["chat.ack"]["count"] == totals["sent"]
    assert events["chat.delivery"]["count"] + events["chat.echo"]["count"] == totals["received"]
    assert events["connect"]["count"] == 200
    assert sum(e["errors"] for e in events.values()) == 0
    assert run.summary["totals"]["sent"] == sum(row["sent"] for row in run.series)
    assert run.histograms["chat.echo"].get_total_count() == totals["sent"]
    stored = json.loads((path / "histograms.json").read_text())
    assert stored["chat.echo"]["p99_ms"] >= stored["chat.echo"]["p50_ms"] > 0
    # per-event seconds add up to the histogram's count
    with open(path / "series_events.csv", newline="") as fh:
        echo_rows = [r for r in csv.DictReader(fh) if r["event"] == "chat.echo"]
    assert sum(int(r["count"]) for r in echo_rows) == totals["sent"]
    assert all(float(r["p99_ms"]) >= float(r["p50_ms"]) for r in echo_rows if r["p50_ms"])


def test_editing_fleet_converges(tmp_path, server_process):
    path = run_fleet(
        tmp_path, server_process.ws_url, "editing", users=6, duration=5.0, strategy="fugue"
    )
    run = RunDirectory.load(path)
    assert run.convergence is not None
    assert run.convergence["converged"], run.convergence
    [document] = run.convergence["documents"]
    assert document["editors"] == 6 and document["strategy"] == "fugue"
    assert document["server_length"] > 0
    events = run.summary["events"]
    assert events["doc.ack"]["count"] > 20 and events["doc.ack"]["errors"] == 0
    assert events["doc.remote"]["count"] > 0


def test_presence_churn_fleet_reconnects_without_crashing(tmp_path, server_process):
    path = run_fleet(
        tmp_path, server_process.ws_url, "presence-churn", users=30, duration=5.0, seed=11
    )
    run = RunDirectory.load(path)
    events = run.summary["events"]
    assert events["reconnect.abrupt"]["count"] > 0
    assert events["reconnect.clean"]["count"] > 0
    assert events["presence.ack"]["count"] > 0
    assert "bot" not in events  # no persona crashed
    assert run.delivery is not None and run.delivery["totals"]["sent"] > 0
    # churners come and go: received may fall short only through the expected accounting
    assert run.delivery["totals"]["received"] <= run.delivery["totals"]["expected"]


def test_two_processes_merge_into_one_run(tmp_path, server_process):
    path = run_fleet(
        tmp_path, server_process.ws_url, "chat", procs=2, users=20, duration=3.0, room_size=5
    )
    run = RunDirectory.load(path)
    assert run.meta["procs"] == 2 and len(run.meta["generator_cpu_per_process"]) == 2
    totals = run.delivery["totals"]
    assert totals["sent"] > 0 and totals["lost"] == 0
    assert len(run.delivery["rooms"]) == 4
    events = run.summary["events"]
    assert events["connect"]["count"] == 20
    assert events["chat.echo"]["count"] == totals["sent"]
    assert events["chat.ack"]["count"] == totals["sent"]
    assert run.summary["totals"]["sent"] == sum(row["sent"] for row in run.series) == totals["sent"]
    # the series also counts other pushes (presence, user-left), so compare chat messages only
    chat_received = events["chat.echo"]["count"] + events.get("chat.delivery", {}).get("count", 0)
    assert chat_received == totals["received"]
    assert run.summary["totals"]["received"] >= totals["received"]
    assert max(row["connected"] for row in run.series) == 20
