"""The Fugue paper's cases separate the strategies: each anomaly shows where the paper says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.collab.registry import get_strategy
from simulate.collab_network import CollabNetwork
from simulate.interleaving_cases import CASES, figure_7_letters, run_case, yjs_backward

ROOT = Path(__file__).resolve().parents[2]
CASE = {case.name: case for case in CASES}


# loro's Figure 7 is the one exception: it orders X and Y as the paper's plain Fugue does.
NEVER_INTERLEAVE = [
    (c.name, s) for c in CASES for s in ("fugue", "loro") if (c.name, s) != ("figure-7", "loro")
]


@pytest.mark.parametrize(("case", "strategy"), NEVER_INTERLEAVE)
def test_fugue_and_loro_never_interleave(case: str, strategy: str) -> None:
    result = run_case(CASE[case], strategy)
    assert result.converged
    assert result.interleavings == 0 and result.lost == 0, result.text


def test_ot_interleaves_keystroke_by_keystroke() -> None:
    result = run_case(CASE["keystrokes"], "ot")
    assert result.converged and result.text == "*axby"


def test_rga_interleaves_backwards_typing_only() -> None:
    assert run_case(CASE["forwards"], "rga").interleavings == 0
    backwards = run_case(CASE["backwards"], "rga")
    assert backwards.converged and backwards.text == "[axbycz]"


def test_yjs_merges_the_papers_anomaly_to_abc_as_the_companion_script_prints() -> None:
    """mweidner037/fugue yjs-interleave/index.js: b lands between a and the c it went before."""
    result = run_case(CASE["yjs-backward"], "yjs")
    assert result.converged and result.text == "abc" and result.interleavings == 1


def test_fugue_keeps_the_prepended_a_beside_c_in_the_papers_yjs_anomaly() -> None:
    result = run_case(CASE["yjs-backward"], "fugue")
    assert result.converged and result.lost == 0 and "ac" in result.text


def test_yjs_splits_the_block_only_with_the_interloper_id_between_the_other_two() -> None:
    """Same edits, the concurrent inserter's id now sorting first: Yjs keeps "ac" together."""
    net = CollabNetwork(get_strategy("yjs"), ("A", "B", "C"))
    yjs_backward(net, author="C", prepender="B", interloper="A")
    net.drain()
    assert set(net.texts().values()) == {"bac"}


def test_yjs_splits_the_two_replica_word_in_the_grown_up_case() -> None:
    assert run_case(CASE["backwards"], "yjs").interleavings == 0
    result = run_case(CASE["yjs-backward-words"], "yjs")
    assert result.converged and result.text == "BAaábḃ" and result.interleavings == 1
    assert run_case(CASE["yjs-backward-words"], "fugue").text == "AaáBbḃ"


@pytest.mark.parametrize("strategy", ["fugue", "loro", "rga", "yjs", "ot"])
def test_figure_7_starts_from_the_papers_two_views(strategy: str) -> None:
    net = CollabNetwork(get_strategy(strategy), ("1", "2", "3"))
    figure_7_letters(net)
    assert net.texts() == {"1": "A", "2": "AB", "3": "AC"}


def test_fugue_keeps_y_beside_b_in_figure_7_as_fuguemax_does() -> None:
    result = run_case(CASE["figure-7"], "fugue")
    assert result.converged and result.text == "AXYBC"


@pytest.mark.parametrize("strategy", ["fugue", "loro", "rga", "yjs"])
def test_forward_non_interleaving_keeps_x_away_from_c_in_figure_7(strategy: str) -> None:
    """The paper's Lemma 5: X lands before B, whatever else the strategy does."""
    result = run_case(CASE["figure-7"], strategy)
    assert result.converged and result.lost == 0
    assert result.text.index("X") < result.text.index("B") < result.text.index("C")


def test_loro_orders_figure_7_like_fugue_or_fuguemax() -> None:
    """Plain Fugue orders X and Y by id: A Y X B C here, as Y's replica sorts first."""
    result = run_case(CASE["figure-7"], "loro")
    assert result.converged and result.text in {"AXYBC", "AYXBC"}


def test_lww_loses_a_block_and_naive_diverges() -> None:
    assert run_case(CASE["forwards"], "lww").lost == 1
    assert not run_case(CASE["forwards"], "naive").converged


def test_preset_writes_a_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "cases"
    command = [sys.executable, "-m", "simulate", "experiment", "--preset", "fugue-cases"]
    done = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "cases.json").read_text())
    assert document["kind"] == "interleaving-cases"
    assert {"fugue", "rga", "yjs", "loro", "ot"} <= set(document["strategies"])
    assert "keystrokes" in done.stdout and "*axby" in done.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "interleaving-cases" and "loro" in meta["versions"]


def test_paper_preset_sets_defaults_that_explicit_flags_override() -> None:
    from simulate.experiment import experiment_from_args, parse_args

    paper = experiment_from_args(parse_args(["--preset", "paper"]))
    assert paper.seeds == tuple(range(1, 31))
    assert {"fugue", "rga", "loro", "yjs", "ot", "naive", "lww"} == set(paper.strategies)
    assert paper.typing.backwards_ratio == 0.2 and paper.partitions
    explicit = experiment_from_args(parse_args(["--paper", "--seeds", "1..3"]))
    assert explicit.seeds == (1, 2, 3) and explicit.typing.backwards_ratio == 0.2
