"""The experiment report a researcher can publish: styles, intervals, vector files, honesty."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reports.build import build_report
from reports.experiment_plots import plain, style
from reports.summary import load_run, strategy_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment") / "run"
    command = [sys.executable, "-m", "simulate", "experiment", "--strategies", "naive,fugue,rga"]
    command += ["--editors", "3", "--ops", "30", "--seeds", "1..3", "--backwards", "0.5"]
    command += ["--partition", "1s@2s", "--quiet", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def test_every_plot_has_svg_and_pdf_next_to_its_png(run_dir: Path) -> None:
    _, images = build_report(run_dir)
    assert len(images) == 4
    for png in images:
        assert png.with_suffix(".svg").read_bytes().lstrip().startswith(b"<?xml")
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_a_diverged_strategy_has_no_survival_or_interleavings(run_dir: Path) -> None:
    naive = _results(run_dir)["strategies"]["naive"]["summary"]
    assert naive["converged"] == 0
    assert naive["survival_mean"] is None and naive["interleavings_mean"] is None
    rows = {row[0]: row for row in strategy_rows(load_run(run_dir))}  # type: ignore[arg-type]
    assert rows["naive"][5] == "diverged" and rows["naive"][6] == "diverged"
    assert rows["fugue"][5] == "100.0"


def test_intervals_over_seeds_are_recorded(run_dir: Path) -> None:
    fugue = _results(run_dir)["strategies"]["fugue"]["summary"]
    low, high = fugue["bytes_per_op_ci95"]
    assert low <= fugue["bytes_per_op_mean"] <= high
    timings = json.loads((run_dir / "timings.json").read_text())["fugue"]
    low, high = timings["strategy_us_per_op_ci95"]
    assert 0 < low <= high
    # inside the strategy is a small part of the whole simulation
    assert timings["strategy_us_per_op"] < timings["cpu_us_per_op"]


def test_strategies_differ_without_colour_and_numbers_are_plain() -> None:
    looks = {(str(style(i)["linestyle"]), style(i)["marker"]) for i in range(9)}
    assert len(looks) == 9
    assert plain(3310.0) == "3,310"
    assert plain(12.5) == "12.5"
    assert plain(0.0312) == "0.0312"
    assert "e+" not in plain(123456789.0)


def test_the_page_explains_what_the_cpu_column_measures(run_dir: Path) -> None:
    page, _ = build_report(run_dir)
    html = page.read_text()
    assert "strategy µs/op" in html and "converged runs only" in html
