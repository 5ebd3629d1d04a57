"""Load the tutorial's own server — on Node (npm socket.io) and on python-socketio — and ours.

The servers are real (benchmarks/peers/, started on free loopback ports),
and so are the engines: the trio bot fleet (`python -m simulate run`) and
Locust (through `python -m scripts.loadtest`, which starts the bundled
server by name). Short loads of the `tutorial` scenario (chat, typing,
joins and leaves, the naive editor) must measure echo and delivery with
nothing lost, typing and presence figures, judge the users lists, and find
that the tutorial's editors diverge. Also: the probe picks the right
profile, scenarios the tutorial lacks are refused before any load, a run
that can measure nothing stops early with exit 3, `--event-map` adapts to
other event names, and `loadtest-compare` puts the three servers side by
side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.bundled_targets import RunningTarget, start_bundled
from simulate.recording import RunDirectory
from tests.conftest import ROOT

HAS_NODE = shutil.which("node") is not None and (ROOT / "node_modules" / "socket.io").is_dir()
needs_node = pytest.mark.skipif(not HAS_NODE, reason="node and npm socket.io (make node) needed")
LOAD = ["--scenario", "tutorial", "--users", "12", "--duration", "4s"]
MAP = "send-message=chat:send,receive-message=chat:message,user-joined=room:joined"


def run_cli(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *cmd],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RTLAB_QUIET": "1"},
    )


def run_dir_of(result: subprocess.CompletedProcess[str]) -> RunDirectory:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("run directory: ")][-1]
    return RunDirectory.load(line.removeprefix("run directory: "))


@pytest.fixture(scope="module")
def tutorial_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    if not HAS_NODE:
        pytest.skip("node and npm socket.io (make node) needed")
    with start_bundled("tutorial-node", tmp_path_factory.mktemp("node")) as server:
        yield server


@pytest.fixture(scope="module")
def tutorial_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with start_bundled("tutorial-python", tmp_path_factory.mktemp("python")) as server:
        yield server


def assert_tutorial_features_measured(run: RunDirectory, *, diverges: bool = True) -> None:
    """Everything the tutorial's server offers was measured, with no message lost."""
    profile = run.meta["target_profile"]
    assert profile["name"] == "tutorial", profile
    events = run.summary["events"]
    for event in (
        "chat.echo",
        "chat.delivery",
        "typing.delivery",
        "presence.joined",
        "presence.left",
        "doc.remote",
    ):
        assert events.get(event, {}).get("count", 0) > 0, (event, sorted(events))
    for ack in ("chat.ack", "room.join", "doc.ack"):  # nothing waited for an ack
        assert ack not in events
    delivery = run.delivery
    assert delivery is not None and delivery["method"] == "time"
    totals = delivery["totals"]
    assert totals["expected"] > 0 and totals["lost"] == 0 and totals["duplicates"] == 0, totals
    assert sum(delivery["memberships"].values()) >= 8  # every chat seat settled somehow
    assert run.presence is not None and run.presence["checked"] > 0
    assert run.convergence is not None
    documents = run.convergence["documents"]
    assert documents and all(d["server_keeps_text"] is False for d in documents)
    if diverges:  # the tutorial's raw-position relay: concurrent edits land differently
        assert any(d["distinct_texts"] > 1 and not d["converged"] for d in documents), documents


# ------------------------------------------------------------------ the bots
@needs_node
def test_bots_against_the_tutorial_on_node(tutorial_node, tmp_path) -> None:
    result = run_cli(
        ["-m", "simulate", "run", "--target", tutorial_node.url, *LOAD, "--out", str(tmp_path)]
    )
    run = run_dir_of(result)
    assert_tutorial_features_measured(run)
    assert "no ack within" in run.meta["target_profile"]["reason"]
    assert "target profile: tutorial" in result.stderr


def test_bots_against_the_tutorial_on_python_socketio(tutorial_python, tmp_path) -> None:
    result = run_cli(
        ["-m", "simulate", "run", "--target", tutorial_python.url, *LOAD, "--out", str(tmp_path)]
    )
    run = run_dir_of(result)
    assert_tutorial_features_measured(run)
    # python-socketio acks every event with nothing: not rtlab's ack
    assert "not rtlab's" in run.meta["target_profile"]["reason"]


def test_bots_against_rtlab_with_the_tutorial_profile_forced(server_factory, tmp_path) -> None:
    server = server_factory()
    cmd = ["-m", "simulate", "run", "--target", server.ws_url, *LOAD, "--out", str(tmp_path)]
    run = run_dir_of(run_cli([*cmd, "--target-profile", "tutorial"]))
    assert_tutorial_features_measured(run, diverges=False)
    assert run.meta["target_profile"]["requested"] == "tutorial"
    # rtlab forgets a dropped user at once: its users lists stay right
    assert run.presence is not None and run.presence["stale"] == 0


# ------------------------------------------------------------------ Locust, via the driver
@pytest.mark.parametrize(
    "target", [pytest.param("tutorial-node", marks=needs_node), "tutorial-python"]
)
def test_locust_against_the_tutorial_servers(target, tmp_path) -> None:
    cmd = ["-m", "scripts.loadtest", "--engine", "locust", "--target", target]
    cmd += ["--scenario", "tutorial", "--users", "12", "--spawn-rate", "12", "--duration", "4s"]
    run = run_dir_of(run_cli([*cmd, "--out", str(tmp_path)], timeout=180))
    assert run.meta["producer"] == "locust"
    assert_tutorial_features_measured(run)
    server = json.loads((run.path / "server.json").read_text())
    assert server["name"] == target and server["usage"]["rss_peak_mib"] > 0


def test_locust_against_rtlab_with_the_tutorial_profile_forced(server_factory, tmp_path) -> None:
    server = server_factory()
    cmd = ["-m", "scripts.loadtest", "--engine", "locust", "--target", server.url]
    cmd += ["--scenario", "tutorial", "--users", "12", "--spawn-rate", "12", "--duration", "4s"]
    cmd += ["--target-profile", "tutorial", "--out", str(tmp_path)]
    run = run_dir_of(run_cli(cmd, timeout=180))
    assert_tutorial_features_measured(run, diverges=False)


# ------------------------------------------------------------------ refusals and failures
@needs_node
def test_what_the_tutorial_lacks_is_refused_before_any_load(tutorial_node, tmp_path) -> None:
    bots = run_cli(["-m", "simulate", "run", "--target", tutorial_node.url, "--scenario", "game"])
    assert bots.returncode == 2, bots.stderr
    assert "game-player needs game (join-game" in bots.stderr and "Traceback" not in bots.stderr
    cmd = ["-m", "locust", "-f", "locustfiles/rtc.py", "--headless", "-u", "2", "-t", "3s"]
    locust = run_cli([*cmd, "--host", tutorial_node.url.replace("ws", "http", 1)])
    assert locust.returncode == 2, locust.stderr[-2000:]
    assert "rtc-peer needs rtc" in locust.stderr and "Traceback" not in locust.stderr


@needs_node
@pytest.mark.parametrize("engine", ["bots", "locust"])
def test_waiting_for_acks_that_never_come_stops_early(engine, tmp_path) -> None:
    """The issue's first report: 40/40 join timeouts, 0 measured, and exit 0. Now: exit 3."""
    cmd = ["-m", "scripts.loadtest", "--engine", engine, "--target", "tutorial-node"]
    cmd += ["--target-profile", "rtlab", "--scenario", "chat", "--users", "6", "--spawn-rate", "6"]
    result = run_cli([*cmd, "--duration", "30s", "--out", str(tmp_path)], timeout=120)
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    assert "acked nothing" in result.stderr and "--target-profile tutorial" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("summary.json"))  # no run pretending it went well


def test_event_names_of_another_server_are_mapped(tmp_path) -> None:
    rename = ("--rename", MAP)
    with start_bundled("tutorial-python", tmp_path, extra_args=rename) as server:
        cmd = ["-m", "simulate", "run", "--target", server.url, "--scenario", "chat"]
        cmd += ["--users", "6", "--duration", "3s", "--out", str(tmp_path / "runs")]
        run = run_dir_of(run_cli([*cmd, "--event-map", MAP]))
        events = run.summary["events"]
        assert events["chat.echo"]["count"] > 0 and events["presence.joined"]["count"] > 0
        assert run.meta["event_map"]["send-message"] == "chat:send"
        assert run.delivery is not None and run.delivery["totals"]["lost"] == 0
        unmapped = run_cli([*cmd, "--duration", "20s"])
        assert unmapped.returncode == 3, unmapped.stderr[-2000:]
        assert "no broadcast arrived" in unmapped.stderr and "--event-map" in unmapped.stderr


# ------------------------------------------------------------------ comparison
@needs_node
def test_loadtest_compare_puts_three_servers_side_by_side(tmp_path) -> None:
    cmd = ["-m", "scripts.loadtest_compare", "--targets", "rtlab tutorial-node tutorial-python"]
    cmd += ["--engine", "bots", "--scenario", "chat", "--users", "6", "--duration", "2s"]
    result = run_cli([*cmd, "--target-profile", "tutorial", "--out", str(tmp_path)], timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [compare_dir] = [p for p in tmp_path.iterdir() if p.name.startswith("compare-")]
    data = json.loads((compare_dir / "comparison.json").read_text())
    labels = [t["label"] for t in data["targets"]]
    assert labels == ["rtlab", "tutorial-node", "tutorial-python"]
    assert {t["run_dir"] for t in data["targets"]} <= {str(p) for p in tmp_path.iterdir()}
    for target in data["targets"]:
        assert target["events"]["chat.echo"]["count"] > 0
        assert target["server"]["usage"]["cpu_seconds"] >= 0
        assert target["target_profile"]["name"] == "tutorial"
    assert data["headers"][-2:] == ["tutorial-node/rtlab", "tutorial-python/rtlab"]
    assert "chat.echo" in result.stdout and "comparison: " in result.stdout
    assert Path(result.stdout.split("comparison: ")[-1].strip()).is_file()
