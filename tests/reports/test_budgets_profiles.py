"""Budgets against runs of either target profile, and runs that measured nothing.

The tutorial profile cannot time acks: budgets on `chat.ack` or `room.join`
read SKIP there, with the reason. Everything else must still hold, and a
run without samples of what the budgets constrain fails — also through the
CLI that `make ci-budget` runs.
"""

from __future__ import annotations

import subprocess
import sys

from reports.budgets import check_run, format_verdicts, parse_budgets
from reports.summary import load_realtime_run
from tests.conftest import ROOT
from tests.reports.run_fixtures import write_run

BUDGETS = parse_budgets(
    {
        "scenario": {"name": "smoke"},
        "events": {
            "chat.echo": {"p50_ms": 50, "min_count": 3},
            "chat.ack": {"p99_ms": 300},
            "room.join": {"p99_ms": 1000},
            "typing.delivery": {"p99_ms": 300, "required": False},
        },
        "delivery": {"max_lost": 0},
    }
)
GOOD = {"chat.echo": [2.0, 3.0, 4.0, 5.0], "chat.ack": [3.0, 4.0], "room.join": [9.0]}


def test_a_tutorial_run_skips_the_acks_it_cannot_measure(tmp_path) -> None:
    run = load_realtime_run(
        write_run(tmp_path / "t", {"chat.echo": [2.0, 3.0, 4.0]}, profile="tutorial"), "check"
    )
    verdicts = check_run(run, BUDGETS)
    skipped = {v.subject for v in verdicts if v.skipped}
    assert skipped == {"chat.ack", "room.join"}
    assert all(v.passed for v in verdicts)
    text = format_verdicts(verdicts)
    assert "SKIP" in text and "cannot measure it (no acks)" in text
    assert "2 not applicable to this target profile" in text


def test_the_same_events_missing_from_an_rtlab_run_fail(tmp_path) -> None:
    run = load_realtime_run(write_run(tmp_path / "r", {"chat.echo": [2.0, 3.0, 4.0]}), "check")
    failed = {v.subject for v in check_run(run, BUDGETS) if not v.passed}
    assert failed == {"chat.ack", "room.join"}


def test_an_event_with_errors_only_fails_even_when_not_required(tmp_path) -> None:
    path = write_run(
        tmp_path / "e", GOOD, errors={"typing.delivery": {"not_connected": 2}}, profile="rtlab"
    )
    verdicts = check_run(load_realtime_run(path, "check"), BUDGETS)
    typing = [v for v in verdicts if v.subject == "typing.delivery"]
    assert typing and not typing[0].passed and typing[0].note == "no samples to measure"


def test_a_run_that_measured_nothing_fails_on_its_own_row(tmp_path) -> None:
    """Joins timed out, nothing sent: only errors, as in the issue's first report."""
    path = write_run(
        tmp_path / "n",
        {"connect": [5.0] * 12},
        errors={"room.join": {"timeout": 12}},
        profile="tutorial",
        delivery_lost=None,
    )
    verdicts = check_run(load_realtime_run(path, "check"), BUDGETS)
    assert any(v.subject == "run" and not v.passed for v in verdicts)
    assert not next(v for v in verdicts if v.subject == "chat.echo").passed
    result = subprocess.run(
        [sys.executable, "-m", "reports", "check", str(path), "--budgets", "budgets.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the run measured nothing" in result.stdout
