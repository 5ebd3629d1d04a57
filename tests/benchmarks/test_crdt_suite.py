"""`python -m benchmarks.crdt` on a small N: every cell checks its texts; the run reads back."""

from __future__ import annotations

import gc
import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.crdt.__main__ import main
from benchmarks.crdt.rows import Settings, suite
from benchmarks.crdt.subjects import subject
from reports.build import build_report
from tests.reports.suite_fixtures import read_suite_table
from tests.simulate.test_traces import sequential_trace

MAP_ROWS = ("B3.1", "B3.2", "B3.3")
TEXT_ONLY = ("fugue", "loro", "lww", "naive", "ot", "rga", "yjs")  # rtlab's strategies


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("suite")
    trace = root / "trace.json.gz"
    trace.write_bytes(gzip.compress(json.dumps(sequential_trace(2, steps=400)).encode()))
    out = root / "run"
    argv = ["--n", "40", "--runs", "2", "--b4-repeat", "2", "--merge-patches", "300"]
    argv += ["--trace", str(trace), "--out", str(out), "--no-memory"]
    argv += ["--subjects", "fugue,rga,ot,yjs,loro,lww,naive,loro (raw),pycrdt (raw)"]
    assert main(argv) == 0
    return out, json.loads((out / "suite.json").read_text())


def test_every_row_of_the_suite_runs(suite_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = suite_run
    ids = [row["id"] for row in document["rows"]]
    assert ids == [
        *(f"B1.{i}" for i in range(1, 8)),
        *(f"B2.{i}" for i in range(1, 5)),
        "B3.1",
        "B3.2",
        "B3.3",
        "B3.4",
        "B4",
        "B4x2",
        "M1",
    ]
    assert document["subjects"][-2:] == ["pycrdt (raw)", "loro (raw)"]


def test_convergent_subjects_pass_every_check(suite_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = suite_run
    for row, cells in document["cells"].items():
        for name in ("fugue", "rga", "ot", "yjs", "loro", "loro (raw)", "pycrdt (raw)"):
            cell = cells[name]
            if row in MAP_ROWS and name in TEXT_ONLY:
                continue  # test_text_strategies_are_not_applicable_on_map_rows
            assert cell.get("ok") is True, (row, name, cell)
            assert cell["doc_bytes"] > 0 or row == "B1.6"
            assert cell["time_s"]["min"] <= cell["time_s"]["median"] <= cell["time_s"]["max"]
    assert "skipped" in document["cells"]["B4"]["lww"]  # whole document per op
    assert document["cells"]["B3.4"]["lww"]["ok"] is False  # last writer wins loses typing


def test_text_strategies_are_not_applicable_on_map_rows(
    suite_run: tuple[Path, dict[str, Any]],
) -> None:
    out, document = suite_run
    for row in MAP_ROWS:
        cells = document["cells"][row]
        for name in TEXT_ONLY:
            assert cells[name] == {"not_applicable": "no map type"}, (row, name)
        for name in ("pycrdt (raw)", "loro (raw)"):
            assert cells[name]["ok"] is True and cells[name]["update_bytes"] > 0, (row, name)
    # every text strategy's column says so on every line of a map row, in both renderings
    table = (out / "table.md").read_text()
    map_lines = tuple(f"| [{row}]" for row in MAP_ROWS)  # not B3.4: a text, every subject runs it
    lines = [line for line in table.splitlines() if line.startswith(map_lines)]
    assert len(lines) == 3 * 7  # time, updates, encode, size, parse and two memory lines
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[1:8] == ["n/a: no map type"] * 7  # fugue .. yjs
        assert "n/a" not in cells[8] and "n/a" not in cells[9]  # pycrdt (raw), loro (raw)
    assert "n/a: the subject cannot run the row" in table
    page, _ = build_report(out)
    _, groups = read_suite_table(page.read_text())
    titles = [group.title for group in groups]
    assert "[B3.2] 20√N clients concurrently set Object in Map (120 clients)" in titles
    page_cells = [cell for group in groups for line in group.lines for cell in line.cells]
    assert page_cells.count("n/a: no map type") == 3 * 7 * 7


def test_update_sizes_count_binary_payloads(suite_run: tuple[Path, dict[str, Any]]) -> None:
    _, document = suite_run
    b11 = document["cells"]["B1.1"]
    # one character per update: a few dozen bytes, not base64 of them plus JSON
    assert b11["loro"]["update_bytes"] == b11["loro (raw)"]["update_bytes"]
    assert b11["yjs"]["update_bytes"] < 40


def test_the_report_renders_the_suite_table(suite_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = suite_run
    page, images = build_report(out)
    assert images == []
    columns, groups = read_suite_table(page.read_text())
    assert columns[0] == "N = 40" and columns[-2:] == ["pycrdt (raw)", "loro (raw)"]
    assert groups[0].title == "[B1.1] Append N characters"
    assert groups[0].lines[0].header == "time (ms)"
    assert groups[-1].title.startswith("[M1] Long-diverged merge")
    assert "offline typing time (ms)" in [line.header for line in groups[-1].lines]
    table = (out / "table.md").read_text()
    assert table.startswith("| N = 40 | fugue | loro | lww | naive | ot | rga | yjs |")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == "crdt-suite" and meta["seed"] == 42 and "loro" in meta["versions"]


def test_memory_probe_sees_native_and_python_memory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--n", "2000", "--only", "B1.2", "--subjects", "fugue,loro (raw)"]
    assert main([*argv, "--out", str(out), "--trace", str(tmp_path / "none")]) == 0
    cells = json.loads((out / "suite.json").read_text())["cells"]["B1.2"]
    assert cells["fugue"]["heap_bytes"]["median"] > 2000  # the text, at least, in Python
    assert cells["loro (raw)"]["heap_bytes"]["median"] < 2000  # native: tracemalloc sees ~nothing
    assert "rss_bytes" in cells["loro (raw)"]


def test_encode_and_load_are_timed_with_the_collector_paused() -> None:
    """A full collection inside a timed load would walk the harness's heap, not the decoder's."""
    fugue = subject("fugue")
    seen: list[bool] = []

    def load(data: bytes) -> Any:
        seen.append(gc.isenabled())
        return fugue.load(data)

    row = next(r for r in suite(Settings(n=30), with_trace=False) if r.id == "B1.1")
    assert gc.isenabled()
    cell = row.run(replace(fugue, load=load), Settings(n=30))
    assert cell.ok and seen == [False]
    assert gc.isenabled()  # and back on afterwards
