"""Load for the rest of the catalogue: notifications, dashboard, game, RTC, with both engines.

Short fleet runs of each scenario against a server started with an admin
token and a fast dashboard must produce samples of every new event and no
errors; one short headless Locust run writes a run directory with the game
events; the game tracker counts skipped ticks and the reports show them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from reports.summary import describe_realtime, load_run
from simulate import fleet
from simulate.fleet import FleetOptions
from simulate.recording import RunDirectory
from simulate.scenarios import load_scenario
from simulate.schedule import Ramp
from tests.conftest import ROOT

TOKEN = "catalogue-load-test-token"
SERVER_FLAGS = ("--admin-token", TOKEN, "--dashboard-interval", "0.2")

# scenario -> (users, events that must have samples)
CASES = {
    "notifications": (10, ("notify.ack", "notification.delivery", "room.join")),
    "dashboard": (6, ("dashboard.subscribe", "dashboard.staleness", "dashboard.interval")),
    "game": (8, ("game.join", "game.input", "game.input_to_state", "game.tick_jitter")),
    "rtc": (8, ("rtc.join", "rtc.offer_answer", "rtc.ice_delivery")),
}

MAIN_EVENTS = {
    "notifications": "notification.delivery",
    "dashboard": "dashboard.staleness",
    "game": "game.input_to_state",
    "rtc": "rtc.offer_answer",
}


def run_fleet(tmp_path: Path, url: str, scenario_or_path: str | Path, users: int) -> RunDirectory:
    scenario = load_scenario(scenario_or_path).with_overrides(
        users=users, duration=3.0, ramp=Ramp("linear", 0.5)
    )
    scenario = replace(scenario, drain=3.0)
    options = FleetOptions(url, scenario, out=tmp_path / "runs", quiet=True)
    return RunDirectory.load(fleet.run(options))


def assert_clean(run: RunDirectory, events: tuple[str, ...]) -> None:
    summary = run.summary["events"]
    for event in events:
        assert summary.get(event, {}).get("count", 0) > 0, (event, summary)
    errors = {name: e["error_kinds"] for name, e in summary.items() if e["errors"]}
    assert not errors and run.summary["totals"]["errors"] == 0, errors


@pytest.mark.parametrize("name", list(CASES))
def test_fleet_runs_of_the_catalogue_scenarios(tmp_path, server_factory, monkeypatch, name):
    monkeypatch.setenv("RTLAB_ADMIN_TOKEN", TOKEN)
    server = server_factory(*SERVER_FLAGS)
    users, events = CASES[name]
    run = run_fleet(tmp_path, server.ws_url, name, users)
    assert_clean(run, events)
    assert run.meta["main_event"] == MAIN_EVENTS[name]
    summary = run.summary["events"]
    if name == "dashboard":
        assert 150 <= summary["dashboard.interval"]["p50_ms"] <= 260  # --dashboard-interval 0.2
        assert summary["dashboard.staleness"]["p50_ms"] < 100
    if name == "game":
        # 8 players at 10 inputs/s for ~3 s; every input shows in a state
        assert summary["game.input_to_state"]["count"] == summary["game.input"]["count"] >= 100
        assert summary["game.input_to_state"]["p50_ms"] < 100
    if name == "notifications":
        assert summary["notification.delivery"]["count"] >= summary["notify.ack"]["count"]
    report = describe_realtime(load_run(run.path))
    assert "catalogue:" in report


def test_the_notifier_also_works_over_an_admin_socket(tmp_path, server_factory, monkeypatch):
    monkeypatch.setenv("RTLAB_ADMIN_TOKEN", TOKEN)
    server = server_factory(*SERVER_FLAGS)
    toml = (ROOT / "simulate/scenarios/notifications.toml").read_text()
    path = tmp_path / "notifications-socket.toml"
    path.write_text(
        toml.replace("via_http = 1", "via_http = 0").replace("rate = 2.0", "rate = 5.0")
    )
    run = run_fleet(tmp_path, server.ws_url, path, 10)
    assert_clean(run, ("notify.ack", "notification.delivery"))


def test_a_notifier_without_the_admin_token_says_so(tmp_path, server_factory, monkeypatch):
    monkeypatch.delenv("RTLAB_ADMIN_TOKEN", raising=False)
    server = server_factory(*SERVER_FLAGS)
    run = run_fleet(tmp_path, server.ws_url, "notifications", 10)
    assert run.summary["events"]["notify.ack"]["error_kinds"] == {"no_admin_token": 1}


def test_locust_game_run_writes_the_game_events(tmp_path, server_factory):
    server = server_factory(*SERVER_FLAGS)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "locust", "-f", "locustfiles/game.py", "--headless"]
    cmd += ["-u", "6", "-r", "6", "-t", "5s", "--host", server.url, "--only-summary"]
    cmd += ["--rtlab-run-dir", str(run_dir)]
    env = {**os.environ, "RTLAB_QUIET": "1", "RTLAB_ADMIN_TOKEN": TOKEN}
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDirectory.load(run_dir)
    assert run.meta["producer"] == "locust" and run.meta["scenario"]["name"] == "game"
    assert run.meta["main_event"] == "game.input_to_state"
    assert_clean(run, CASES["game"][1])
