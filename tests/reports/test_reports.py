"""reports/: build, summary, check and compare on synthetic run directories (no server).

Real-time runs are written with the producers' own writer
(`simulate.recording.Recorder` + `RunDirectory.write`), so a change of the
format on either side shows up here. Experiment runs are written by hand
from `simulate/experiment.py`'s documented format: producing one for real
takes simulation time this suite does not need.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reports import plots
from reports.budgets import BudgetError, parse_budgets
from reports.compare import Tolerance, compare_runs, parse_ratio
from reports.summary import load_realtime_run
from simulate.recording import Recorder, RunDirectory
from tests.conftest import ROOT

REALTIME_PLOTS = [
    "latency_over_time",
    "latency_percentiles",
    "throughput",
    "errors",
    "connected",
    "generator_cpu",
]
EXPERIMENT_PLOTS = ["divergence", "convergence_time", "cost_per_op", "survival_interleavings"]
SATURATION_PHRASE = "generator, not the server"

# event -> (median latency ms, samples per second)
EVENTS = {
    "connect": (8.0, 2),
    "room.join": (4.0, 2),
    "chat.ack": (3.0, 20),
    "chat.echo": (3.5, 20),
    "chat.delivery": (4.0, 60),
}


def reports_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reports", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


# ------------------------------------------------------------------ synthetic runs
def write_realtime_run(
    path: Path,
    *,
    seed: int = 1,
    slower: dict[str, float] | None = None,
    saturated: bool = False,
    seconds: int = 10,
    per_event_series: bool = False,
    cpu_percent: dict[int, float] | None = None,
    meta_extra: dict[str, Any] | None = None,
) -> Path:
    """A 12-user smoke-like run: lognormal latencies, a few errors, delivery and convergence."""
    rng = random.Random(seed)
    slower = slower or {}
    start = 1_700_000_000_000_000_000
    recorder = Recorder(start, "chat.echo")
    recorder.connected = 12
    event_rows: list[dict[str, Any]] = []
    for second in range(1, seconds + 1):
        for event, (median_ms, rate) in EVENTS.items():
            samples = []
            for _ in range(rate):
                latency_ms = rng.lognormvariate(0, 0.5) * median_ms * slower.get(event, 1.0)
                samples.append(latency_ms)
                sent_at = start + second * 1_000_000_000
                recorder.latency(event, sent_at, sent_at + int(latency_ms * 1e6))
            if per_event_series:
                samples.sort()
                event_rows.append(
                    {
                        "second": second,
                        "event": event,
                        "count": len(samples),
                        "errors": 0,
                        "p50_ms": round(samples[len(samples) // 2], 3),
                        "p99_ms": round(samples[-1], 3),
                    }
                )
        recorder.sent(20)
        recorder.received(80)
        if second == 4:
            recorder.error("chat.ack", "timeout")
        cpu = 97.0 if saturated and second > 3 else 25.0 + rng.random() * 10
        cpu = (cpu_percent or {}).get(second, cpu)
        recorder.tick(start + second * 1_000_000_000, cpu)
    meta = {
        "run_id": path.name,
        "producer": "tests.synthetic",
        "scenario": {"name": "smoke", "users": 12, "duration": float(seconds)},
        "target": "ws://127.0.0.1:8000",
        "seed": seed,
        "users": 12,
        "duration": float(seconds),
        "procs": 1,
        "main_event": "chat.echo",
        "versions": {"python": "3.11", "trio": "0.27", "rtlab": "0.1.0", "hdrhistogram": "0.10"},
        "host": {"hostname": "ci", "platform": "Linux", "cpu_count": 2},
        "command": ["python", "-m", "simulate", "run", "--scenario", "smoke"],
        "started_at": "2023-11-14T22:13:20Z",
        "ended_at": "2023-11-14T22:13:30Z",
        "started_ns": start,
        "ended_ns": start + seconds * 1_000_000_000,
        "generator_saturated": saturated,
        "generator_peak_cpu_percent": 97.0 if saturated else 35.0,
        "generator_saturated_seconds": seconds - 3 if saturated else 0,
        **(meta_extra or {}),
    }
    delivery = {
        "method": "seq",
        "rooms": {
            "room0": {
                "sent": 100,
                "acked": 100,
                "members": 4,
                "expected": 400,
                "received": 400,
                "lost": 0,
                "duplicates": 0,
            }
        },
        "totals": {
            "sent": 100,
            "acked": 100,
            "expected": 400,
            "received": 400,
            "lost": 0,
            "duplicates": 0,
        },
    }
    convergence = {
        "documents": [
            {
                "document": "doc0",
                "strategy": "fugue",
                "editors": 4,
                "converged": True,
                "idle": True,
                "server_length": 50,
                "texts_equal": True,
            }
        ],
        "converged": True,
    }
    RunDirectory.write(
        path, meta=meta, payload=recorder.payload(), delivery=delivery, convergence=convergence
    )
    if per_event_series:
        with open(path / "series_events.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(event_rows[0]))
            writer.writeheader()
            writer.writerows(event_rows)
    return path


def write_experiment_run(path: Path) -> Path:
    """Two strategies × four seeds, in the format simulate/experiment.py documents."""
    path.mkdir(parents=True)
    seeds = [1, 2, 3, 4]
    strategies: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for strategy, converges, cost in (("naive", False, 350), ("fugue", True, 480)):
        seed_results = []
        rows = ["seed,t,distinct_texts,distance"]
        for seed in seeds:
            seed_results.append(
                {
                    "seed": seed,
                    "converged": converges,
                    "convergence_s": 0.2 + 0.01 * seed if converges else None,
                    "bytes_per_op": cost + seed,
                    "survival": {"editor-0": 1.0},
                    "survival_mean": 1.0 if converges else 0.9,
                    "interleavings": 0 if converges else 5 + seed,
                    "final_distance": 0.0 if converges else 0.3,
                }
            )
            for step in range(60):
                t = round(0.1 * step, 1)
                settled = converges and t > 4
                distance = "" if step % 5 else (0.0 if settled else round(0.3 + 0.01 * seed, 4))
                rows.append(f"{seed},{t},{1 if settled else 3},{distance}")
        (path / f"divergence-{strategy}.csv").write_text("\n".join(rows) + "\n")
        strategies[strategy] = {
            "summary": {
                "runs": len(seeds),
                "converged": len(seeds) if converges else 0,
                "convergence_s_median": 0.225 if converges else None,
                "convergence_s_max": 0.24 if converges else None,
                "final_distance_mean": 0.0 if converges else 0.3,
                "survival_mean": 1.0 if converges else 0.9,
                "survival_min": 1.0 if converges else 0.8,
                "interleavings_mean": 0.0 if converges else 7.5,
                "bytes_per_op_mean": cost + 2.5,
                "bytes_up_per_op_mean": cost / 4,
                "virtual_s_max": 6.0,
            },
            "seeds": seed_results,
        }
        timings[strategy] = {"cpu_us_per_op": cost * 1.5, "cpu_s": 1.0, "wall_s": 1.2}
    parameters = {"strategies": list(strategies), "seeds": seeds, "editors": 4}
    common = {"format_version": 1, "kind": "experiment"}
    results = {**common, "parameters": parameters, "strategies": strategies}
    meta = {
        **common,
        "producer": "simulate.experiment",
        "run_id": path.name,
        "parameters": parameters,
        "strategies": list(strategies),
        "seeds": seeds,
        "versions": {"python": "3.11"},
        "host": {"hostname": "ci", "platform": "Linux", "cpu_count": 2},
    }
    for name, data in (("results", results), ("timings", timings), ("meta", meta)):
        (path / f"{name}.json").write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "base": write_realtime_run(root / "base", per_event_series=True),
        "same": write_realtime_run(root / "same"),
        "slow": write_realtime_run(root / "slow", slower={"chat.echo": 2.0}),
        "saturated": write_realtime_run(root / "saturated", saturated=True),
        "experiment": write_experiment_run(root / "experiment"),
    }


def write_budgets(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    return path


# ------------------------------------------------------------------ build
def assert_report_embeds(run_dir: Path, plots: list[str]) -> str:
    html = (run_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(plots)
    for name in plots:
        png = run_dir / f"{name}.png"
        assert png.is_file(), name
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000, name
        assert f'id="{name}"' in html, name
    assert "http://" not in html.replace("ws://127.0.0.1:8000", "")
    assert "<link" not in html and "<script" not in html
    return html


def test_build_realtime_report_embeds_every_plot(runs: dict[str, Path]) -> None:
    result = reports_cli("build", runs["base"])
    assert result.returncode == 0, result.stderr
    html = assert_report_embeds(runs["base"], REALTIME_PLOTS)
    for text in ("smoke", "ws://127.0.0.1:8000", "chat.echo", "room0", "doc0", "ci (Linux"):
        assert text in html, text  # header, event table, delivery and convergence tables
    assert SATURATION_PHRASE not in html


def test_saturated_generator_is_reported_in_red(runs: dict[str, Path]) -> None:
    result = reports_cli("build", runs["saturated"])
    assert result.returncode == 0, result.stderr
    html = assert_report_embeds(runs["saturated"], REALTIME_PLOTS)
    assert 'class="warning" id="saturation"' in html
    assert SATURATION_PHRASE in html
    summary = reports_cli("summary", runs["saturated"])
    assert SATURATION_PHRASE in summary.stdout
    assert SATURATION_PHRASE not in reports_cli("summary", runs["same"]).stdout


def per_process(*saturated_seconds: int) -> list[dict[str, Any]]:
    return [
        {"peak_percent": 97.0 if n else 40.0, "saturated": n >= 3, "saturated_seconds": n}
        for n in saturated_seconds
    ]


def test_one_saturated_process_among_several_is_marked(tmp_path: Path) -> None:
    # 3 processes: in seconds 5-8 one of them runs at 97 % and two at 20 % (sum 137 %,
    # far below 3 × 90 %); elsewhere all three idle along at ~25 % (sum ≤ 75 %)
    hot = {second: 137.0 for second in range(5, 9)}
    cold = {second: 60.0 + second for second in range(1, 11) if second not in hot}
    path = write_realtime_run(
        tmp_path / "procs",
        cpu_percent=hot | cold,
        meta_extra={"procs": 3, "generator_cpu_per_process": per_process(4, 0, 0)},
    )
    run = load_realtime_run(path, "build")
    assert plots.saturated_seconds(run) == [5.0, 6.0, 7.0, 8.0]
    plot = plots.generator_cpu(run)
    assert plot is not None and plot.png.startswith(b"\x89PNG")

    # the same sums, but every process stayed below the threshold (spread load): no mark
    calm = write_realtime_run(
        tmp_path / "calm",
        cpu_percent=hot | cold,
        meta_extra={"procs": 3, "generator_cpu_per_process": per_process(0, 0, 0)},
    )
    assert plots.saturated_seconds(load_realtime_run(calm, "build")) == []


def test_one_process_is_saturated_at_its_own_threshold(runs: dict[str, Path]) -> None:
    saturated = load_realtime_run(runs["saturated"], "build")
    assert plots.saturated_seconds(saturated) == [float(s) for s in range(4, 11)]
    assert plots.saturated_seconds(load_realtime_run(runs["base"], "build")) == []


def test_build_experiment_report(runs: dict[str, Path]) -> None:
    result = reports_cli("build", runs["experiment"])
    assert result.returncode == 0, result.stderr
    html = assert_report_embeds(runs["experiment"], EXPERIMENT_PLOTS)
    assert "0/4" in html and "4/4" in html  # converged k/n per strategy


def test_summary_prints_events_and_delivery(runs: dict[str, Path]) -> None:
    result = reports_cli("summary", runs["same"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("chat.echo") for line in lines)
    chat_ack = next(line for line in lines if line.startswith("chat.ack "))
    assert chat_ack.split()[-2:] == ["1", "0.50"]  # 1 error in 200 attempts
    assert "expected 400" in result.stdout and "lost 0" in result.stdout


def test_a_parent_directory_means_its_newest_run(runs: dict[str, Path]) -> None:
    result = reports_cli("summary", runs["base"].parent)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ check
GENEROUS = """
    [scenario]
    name = "smoke"
    users = 12
    duration = "10s"

    [defaults]
    max_error_rate = 0.05

    [events."chat.echo"]
    p50_ms = 100
    p95_ms = 200
    p99_ms = 500
    min_count = 100
    min_rate_per_s = 10

    [events."chat.ack"]
    p99_ms = 500

    [delivery]
    max_lost = 0
"""


def test_check_passes_a_generous_budget(runs: dict[str, Path], tmp_path: Path) -> None:
    budgets = write_budgets(tmp_path / "budgets.toml", GENEROUS)
    result = reports_cli("check", runs["same"], "--budgets", budgets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "PASS" in result.stdout


def test_check_fails_an_impossible_budget_and_names_the_row(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    impossible = GENEROUS.replace("p99_ms = 500\n    min_count", "p99_ms = 0.5\n    min_count")
    budgets = write_budgets(tmp_path / "budgets.toml", impossible)
    result = reports_cli("check", runs["same"], "--budgets", budgets)
    assert result.returncode == 1, result.stdout + result.stderr
    failing = [line for line in result.stdout.splitlines() if " FAIL" in line]
    assert len(failing) == 1
    assert failing[0].split()[:2] == ["chat.echo", "p99_ms"]


def test_a_budgeted_event_missing_from_the_run_fails(runs: dict[str, Path], tmp_path: Path) -> None:
    body = GENEROUS + '\n    [events."doc.ack"]\n    p99_ms = 100\n'
    result = reports_cli("check", runs["same"], "--budgets", write_budgets(tmp_path / "b", body))
    assert result.returncode == 1
    assert "doc.ack" in result.stdout and "missing" in result.stdout


def test_a_saturated_generator_fails_the_check(runs: dict[str, Path], tmp_path: Path) -> None:
    budgets = write_budgets(tmp_path / "budgets.toml", GENEROUS)
    result = reports_cli("check", runs["saturated"], "--budgets", budgets)
    assert result.returncode == 1
    assert "generator" in result.stdout and SATURATION_PHRASE in result.stdout


def test_repository_budgets_parse_and_cover_the_smoke_events() -> None:
    budgets = parse_budgets(
        __import__("tomllib").loads((ROOT / "budgets.toml").read_text()), "budgets.toml"
    )
    assert budgets.scenario.name == "smoke"
    assert {"connect", "room.join", "chat.ack", "chat.echo"} <= set(budgets.events)


def test_a_misspelt_budget_key_is_an_input_error(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="p99ms"):
        parse_budgets({"events": {"chat.echo": {"p99ms": 10}}})
    bad = write_budgets(tmp_path / "bad.toml", '[events."chat.echo"]\np99ms = 10\n')
    result = reports_cli("check", runs["same"], "--budgets", bad)
    assert result.returncode == 2 and "p99ms" in result.stderr


# ------------------------------------------------------------------ compare
def test_compare_flags_a_doubled_p99(runs: dict[str, Path]) -> None:
    result = reports_cli("compare", runs["same"], runs["slow"], "--max-regression", "20%")
    assert result.returncode == 1, result.stdout + result.stderr
    failing = [line.split()[:2] for line in result.stdout.splitlines() if " FAIL" in line]
    assert ["chat.echo", "p99_ms"] in failing
    assert {event for event, _ in failing} == {"chat.echo"}


def test_compare_passes_on_identical_runs(runs: dict[str, Path]) -> None:
    result = reports_cli("compare", runs["same"], runs["same"], "--max-regression", "20%")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_tiny_latency_changes_are_noise(runs: dict[str, Path]) -> None:
    base = load_realtime_run(runs["same"], "compare")
    slow = load_realtime_run(runs["slow"], "compare")
    # chat.echo p50 grows by a few ms: a regression at 1 ms, noise at 1000 ms
    strict = compare_runs(base, slow, Tolerance(max_regression=0.2, min_delta_ms=1.0))
    lenient = compare_runs(base, slow, Tolerance(max_regression=0.2, min_delta_ms=1000.0))
    assert any(c.regressed and c.metric == "p50_ms" for c in strict)
    assert not any(c.regressed for c in lenient)


@pytest.mark.parametrize(("text", "ratio"), [("20%", 0.2), ("0.2", 0.2), ("20", 0.2), ("5%", 0.05)])
def test_regression_thresholds(text: str, ratio: float) -> None:
    assert parse_ratio(text) == pytest.approx(ratio)
