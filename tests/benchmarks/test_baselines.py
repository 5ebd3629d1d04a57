"""The raw-library baselines replay exactly the trace's text, non-ASCII included."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from benchmarks import trace_bench
from benchmarks.baselines import library_concurrent, library_sequential, str_sequential
from server.collab import native
from simulate.traces import load_trace, sequential_patches, with_accents
from tests.simulate.test_traces import concurrent_trace, sequential_trace

SHARED = Path(__file__).resolve().parents[3] / "shared" / "traces"


@pytest.mark.parametrize("seed", range(4))
def test_pycrdt_and_loro_baselines_replay_a_non_ascii_trace_exactly(seed: int) -> None:
    trace = sequential_trace(seed)  # é (2 UTF-8 bytes) and 😀 (4) all over
    patches = sequential_patches(trace)
    for name in ("pycrdt", "loro"):
        run = library_sequential(name, patches)
        assert run.text == trace["endContent"], name
        assert run.state_bytes > 0
    assert str_sequential(patches).text == trace["endContent"]


@pytest.mark.parametrize("mode", ["update", "commit", "batched"])
def test_every_loro_mode_replays_the_trace_and_names_itself(mode: str) -> None:
    trace = sequential_trace(1)
    run = library_sequential("loro", sequential_patches(trace), mode=mode)
    assert run.text == trace["endContent"]
    assert run.name == ("loro" if mode == "update" else f"loro {mode}")


def test_a_mode_a_library_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="pycrdt has no 'commit' mode"):
        library_sequential("pycrdt", [], mode="commit")
    with pytest.raises(ValueError, match="no 'nightly' mode"):
        library_sequential("loro", [], mode="nightly")


def test_code_points_passed_to_pycrdt_unconverted_replay_another_text() -> None:
    """The trap the baseline converts around: pycrdt's Text counts UTF-8 bytes."""
    patches = sequential_patches(sequential_trace(0))
    doc: Doc = Doc()
    text = doc.get("text", type=Text)
    wrong = None
    try:
        for pos, deleted, inserted in patches:
            if deleted:
                del text[pos : pos + deleted]
            if inserted:
                text.insert(pos, inserted)
        wrong = str(text)
    except BaseException:  # pycrdt panics (a bare BaseException) mid-character
        wrong = None
    assert wrong != sequential_trace(0)["endContent"]


def test_concurrent_baselines_converge_on_a_non_ascii_trace() -> None:
    trace = with_accents(concurrent_trace(3))
    for name in ("pycrdt", "loro"):
        assert library_concurrent(name, trace).text == trace["endContent"], name


@pytest.mark.skipif(not (SHARED / "friendsforever.json.gz").exists(), reason="no shared traces")
def test_pycrdt_baseline_is_ok_on_friendsforever_with_accents() -> None:
    trace = with_accents(load_trace(SHARED / "friendsforever.json.gz"))
    assert not trace["endContent"].isascii()
    assert library_concurrent("pycrdt", trace).text == trace["endContent"]


def test_trace_bench_on_a_small_non_ascii_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.json.gz"
    path.write_bytes(gzip.compress(json.dumps(sequential_trace(5)).encode()))
    assert trace_bench.main(["--trace", str(path), "--no-memory"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.endswith(("True", "False"))]
    names = {line.split("  ")[0].strip() for line in rows}
    assert {"pycrdt (baseline)", "loro (baseline)", "fugue", "loro", "ot"} <= names
    assert all(line.endswith("True") for line in rows), rows
    # The compiled strategies again as plain Python, from a child process of the same run.
    assert f"keystroke path: {native.STATUS.describe()}" in out
    plain = {"fugue (plain Python)", "rga (plain Python)"}
    assert plain <= names if native.STATUS.active else not plain & names
