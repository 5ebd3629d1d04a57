"""Locust runs against the real reference server write the same run directory as the bots.

What must hold: a headless Locust run leaves a complete rtlab run directory
(producer `locust`, decodable histograms, a per-second series, a summary,
delivery with nothing lost on loopback); Locust's own CSV and our summary
count the same events (each measured event is fired once into both); and
the `make loadtest` driver runs end to end with either engine.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from simulate.recording import RunDirectory
from tests.conftest import ROOT


def run_command(cmd: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RTLAB_QUIET": "1", **env},
    )


def locust_counts(stats_csv: Path) -> dict[str, tuple[int, int]]:
    """Name -> (request count, failure count) from Locust's `<prefix>_stats.csv`."""
    with open(stats_csv, newline="") as fh:
        return {
            row["Name"]: (int(row["Request Count"]), int(row["Failure Count"]))
            for row in csv.DictReader(fh)
            if row["Name"] != "Aggregated"
        }


def test_ten_second_chat_run_writes_a_run_directory_that_agrees_with_locust(
    tmp_path, server_process
):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "locust", "-f", "locustfiles/chat.py", "--headless"]
    cmd += ["-u", "20", "-r", "10", "-t", "10s", "--host", server_process.url]
    cmd += ["--csv", str(tmp_path / "locust"), "--only-summary", "--rtlab-run-dir", str(run_dir)]
    result = run_command(cmd, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"rtlab run directory: {run_dir}" in result.stdout

    run = RunDirectory.load(run_dir)
    assert run.meta["producer"] == "locust"
    assert run.meta["scenario"]["name"] == "chat" and run.meta["seed"] == 1
    assert run.meta["users"] == 20 and run.meta["duration"] == 10
    assert run.meta["generator_saturated"] is False
    assert run.meta["generator_peak_cpu_percent"] > 0
    for event in ("chat.echo", "chat.ack", "chat.delivery", "room.join", "connect"):
        assert run.histograms[event].get_total_count() > 0, event
    assert run.histograms["connect"].get_total_count() == 20
    assert 9 <= len(run.series) <= 13
    assert max(row["connected"] for row in run.series) == 20
    assert all(row["cpu_percent"] is not None for row in run.series)

    events = run.summary["events"]
    # 20 users at 0.5 messages/s for ~9 s of sending after the 2 s ramp
    assert 40 <= events["chat.ack"]["count"] <= 150
    assert events["chat.echo"]["count"] == events["chat.ack"]["count"]
    assert run.summary["totals"]["errors"] == 0
    assert run.delivery is not None and run.delivery["method"] == "seq"
    assert run.delivery["totals"]["lost"] == 0 and run.delivery["totals"]["duplicates"] == 0

    counts = locust_counts(tmp_path / "locust_stats.csv")
    for name, event in events.items():
        requests, failures = counts[name]
        assert (requests, failures) == (event["count"] + event["errors"], event["errors"]), name

    built = run_command([sys.executable, "-m", "reports", "build", str(run_dir)], timeout=120)
    assert built.returncode == 0, built.stderr[-2000:]
    html = (run_dir / "report.html").read_text()
    plots = (
        "latency_over_time",
        "latency_percentiles",
        "throughput",
        "errors",
        "connected",
        "generator_cpu",
    )
    for plot in plots:
        assert (run_dir / f"{plot}.png").stat().st_size > 5_000, plot
    assert html.count("data:image/png;base64,") >= len(plots)


def test_loadtest_driver_runs_locust_end_to_end(tmp_path):
    cmd = [sys.executable, "-m", "scripts.loadtest", "--out", str(tmp_path / "runs")]
    result = run_command(
        cmd, timeout=120, ENGINE="locust", SCENARIO="chat", USERS="10", DURATION="5s"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "chat.echo" in out and "chat.ack" in out
    assert "generator CPU peak per process" in out
    run_dir = Path(out.split("run directory: ")[-1].splitlines()[0])
    assert run_dir.parent == tmp_path / "runs"
    run = RunDirectory.load(run_dir)
    assert run.meta["producer"] == "locust" and run.meta["users"] == 10
    assert (run_dir / "locust" / "locust_stats.csv").exists()
    report_line = next(line for line in out.splitlines() if line.startswith("report: "))
    assert Path(report_line.removeprefix("report: ")).exists()


def test_loadtest_driver_runs_the_bot_fleet_too(tmp_path):
    cmd = [sys.executable, "-m", "scripts.loadtest", "--out", str(tmp_path / "runs")]
    result = run_command(
        cmd, timeout=120, ENGINE="bots", SCENARIO="chat", USERS="10", DURATION="4s"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(result.stdout.split("run directory: ")[-1].splitlines()[0])
    run = RunDirectory.load(run_dir)
    assert run.meta["producer"] == "simulate.fleet"
    assert run.summary["events"]["chat.echo"]["count"] > 0
    assert "report: " in result.stdout
