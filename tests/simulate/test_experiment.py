"""`python -m simulate experiment`: CLI, run directory, determinism, and what it finds.

The CLI runs in subprocesses with different PYTHONHASHSEEDs, so a result that
depended on set iteration order of strings would show up as a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulate.experiment import (
    build_latency,
    build_parser,
    experiment_from_args,
    parse_partition,
    parse_rate,
    parse_seeds,
)
from simulate.network import Jittered, NormalLatency, Partition

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "--strategies",
    "naive,ot,fugue,yjs,lww",
    "--editors",
    "3",
    "--ops",
    "40",
    "--latency",
    "150ms",
    "--jitter",
    "30ms",
    "--partition",
    "2s@4s",
    "--partition",
    "3s@5s:editor-2",
    "--quiet",
]
DETERMINISTIC_FILES = ["results.json", *(f"divergence-{s}.csv" for s in ("naive", "ot", "lww"))]


def run_cli(out: Path, seeds: str, hash_seed: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    command = [sys.executable, "-m", "simulate", "experiment", *ARGS, "--seeds", seeds]
    completed = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    return completed


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("experiment") / "run"
    completed = run_cli(out, "1,2", hash_seed="0")
    return out, completed.stdout


@pytest.fixture(scope="module")
def results(run_dir: tuple[Path, str]) -> dict[str, Any]:
    return json.loads((run_dir[0] / "results.json").read_text())


def test_same_arguments_give_byte_identical_results_across_hash_seeds(
    run_dir: tuple[Path, str], tmp_path: Path
) -> None:
    again = tmp_path / "again"
    run_cli(again, "1,2", hash_seed="4242")
    for name in DETERMINISTIC_FILES:
        assert (again / name).read_bytes() == (run_dir[0] / name).read_bytes(), name


def test_another_seed_gives_other_results(run_dir: tuple[Path, str], tmp_path: Path) -> None:
    other = tmp_path / "other"
    run_cli(other, "3,4", hash_seed="0")
    first = json.loads((run_dir[0] / "results.json").read_text())
    second = json.loads((other / "results.json").read_text())
    assert first["strategies"]["fugue"]["seeds"] != second["strategies"]["fugue"]["seeds"]


def test_naive_diverges_and_the_convergent_strategies_converge(results: dict[str, Any]) -> None:
    strategies = results["strategies"]
    assert not all(seed["converged"] for seed in strategies["naive"]["seeds"])
    for name in ("ot", "fugue", "yjs", "lww"):
        for seed in strategies[name]["seeds"]:
            assert seed["converged"] and seed["quiescent"], (name, seed["seed"])
            assert seed["final_distance"] == 0.0
            assert seed["convergence_s"] is not None


def test_crdts_keep_everyones_typing_and_lww_loses_some(results: dict[str, Any]) -> None:
    strategies = results["strategies"]
    for name in ("ot", "fugue", "yjs"):
        assert strategies[name]["summary"]["survival_mean"] == 1.0, name
    for name in ("fugue", "yjs"):
        assert strategies[name]["summary"]["interleavings_mean"] == 0.0, name
    assert strategies["lww"]["summary"]["survival_mean"] < 1.0


def test_run_directory_layout(run_dir: tuple[Path, str], results: dict[str, Any]) -> None:
    path, stdout = run_dir
    meta = json.loads((path / "meta.json").read_text())
    timings = json.loads((path / "timings.json").read_text())
    assert meta["kind"] == results["kind"] == "experiment"
    assert meta["seeds"] == [1, 2]
    assert {"python", "trio", "pycrdt"} <= set(meta["versions"])
    assert {"hostname", "platform", "cpu_count"} <= set(meta["host"])
    assert timings["fugue"]["cpu_us_per_op"] > 0
    # nothing measured or host-specific in the deterministic file
    text = (path / "results.json").read_text()
    for word in ("cpu", "wall", meta["host"]["hostname"], "started"):
        assert word not in text
    header, *rows = (path / "divergence-fugue.csv").read_text().splitlines()
    assert header == "seed,t,distinct_texts,distance"
    assert len(rows) > 50
    assert "converged" in stdout and "lww" in stdout  # the table is printed
    assert (path / "summary.txt").read_text() in stdout


def test_parsers() -> None:
    assert parse_seeds("1..4") == (1, 2, 3, 4)
    assert parse_seeds("1,2,5") == (1, 2, 5)
    assert parse_seeds("3..4,1") == (3, 4, 1)
    assert parse_partition("5s@10s") == Partition(10.0, 5.0, None)
    assert parse_partition("500ms@2s:editor-1,editor-3") == Partition(
        2.0, 0.5, frozenset({"editor-1", "editor-3"})
    )
    assert parse_rate("5/s") == 5.0
    assert parse_rate("120/m") == 2.0
    for bad, parse in (("5..1", parse_seeds), ("5s", parse_partition), ("fast", parse_rate)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_latency_models(tmp_path: Path) -> None:
    latency, description = build_latency("normal", 0.08, 0.03, 0.5)
    assert latency == NormalLatency(0.08, 0.03)
    assert description["model"] == "normal"
    samples = tmp_path / "latency.txt"
    samples.write_text("40\n80\n160\n")
    latency, description = build_latency(f"file:{samples}", 0, 0.01, 0.5)
    assert isinstance(latency, Jittered)
    assert description["samples"] == 3
    with pytest.raises(argparse.ArgumentTypeError):
        build_latency("pareto", 0.08, 0.0, 0.5)


def test_partitions_must_name_known_editors() -> None:
    args = build_parser().parse_args(["--editors", "2", "--partition", "1s@1s:editor-3"])
    with pytest.raises(SystemExit):
        experiment_from_args(args)
