"""`python -m benchmarks.crdt`: run the suite, print the table, write a run directory."""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.baselines import str_sequential
from benchmarks.crdt.rows import Cell, Row, Settings, suite
from benchmarks.crdt.subjects import Subject, all_subjects
from reports.crdt_table import markdown_table
from simulate.measurement import host, versions
from simulate.recording import new_run_id
from simulate.traces import load_trace, sequential_patches

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "automerge-paper.json.gz"
FORMAT_VERSION = 1
TIMED = ("time_s", "offline_s", "encode_s", "parse_s", "rss_bytes", "heap_bytes")
EXACT = ("update_bytes", "doc_bytes")
# a row the subject cannot run at all (not a choice, unlike "skipped"): the table shows "n/a: ..."
NO_MAP = "no map type"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crdt", description=__doc__)
    add = parser.add_argument
    add("--n", type=int, default=6000, help="the suite's N (default %(default)s)")
    add("--seed", type=int, default=42, help="seed of the generated inputs")
    add("--runs", type=int, default=1, help="repeat every cell; median and min-max are reported")
    add("--b4-repeat", type=int, default=3, help="B4xN: the trace applied N times")
    add("--merge-patches", type=int, default=20_000, help="M1: trace edits the branches type")
    add("--trace", type=Path, default=DEFAULT_TRACE, help="the B4 trace (sequential)")
    add("--only", default="", help="row ids, e.g. B1.1,B4 (default: all)")
    add("--subjects", default="", help="e.g. fugue,loro (raw)  (default: all)")
    add("--no-memory", action="store_true", help="skip the memory probe processes")
    add("--out", type=Path, default=None, help="run directory (default reports/runs/<run-id>)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started_ns = time.time_ns()
    with_trace = args.trace.exists()
    patches: list[Any] = []
    expected = expected_repeated = ""
    if with_trace:
        patches = sequential_patches(load_trace(args.trace))
        expected = str_sequential(patches).text
        expected_repeated = str_sequential(patches * args.b4_repeat).text
    # The trace's lists stay alive for the whole run: frozen, no garbage collection
    # inside a timed row walks them (as in trace_bench, `simulate.traces.frozen_heap`).
    gc.collect()
    gc.freeze()
    settings = Settings(
        n=args.n,
        seed=args.seed,
        b4_repeat=args.b4_repeat,
        patches=patches,
        expected_b4=expected,
        expected_b4_repeated=expected_repeated,
        merge_patches=args.merge_patches,
    )
    rows = suite(settings, with_trace)
    if args.only:
        wanted = {r.strip() for r in args.only.split(",")}
        rows = [r for r in rows if r.id in wanted]
    subjects = all_subjects()
    if args.subjects:
        wanted = {s.strip() for s in args.subjects.split(",")}
        subjects = [s for s in subjects if s.name in wanted]
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        results[row.id] = {}
        for subject in subjects:
            results[row.id][subject.name] = run_cell(row, subject, settings, args)
            print(
                _progress(row, subject, results[row.id][subject.name]), file=sys.stderr, flush=True
            )
    document = {
        "format_version": FORMAT_VERSION,
        "kind": "crdt-suite",
        "n": args.n,
        "runs": args.runs,
        "rows": [{"id": r.id, "title": r.title} for r in rows],
        "subjects": [s.name for s in subjects],
        "native": [s.name for s in subjects if s.native],
        "cells": results,
    }
    out: Path = args.out or REPO / "reports" / "runs" / new_run_id("crdt-suite", args.seed)
    out.mkdir(parents=True, exist_ok=True)
    ended_ns = time.time_ns()
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "crdt-suite",
        "producer": "benchmarks.crdt",
        "run_id": out.name,
        "seed": args.seed,
        "parameters": {
            "n": args.n,
            "runs": args.runs,
            "b4_repeat": args.b4_repeat,
            "merge_patches": args.merge_patches,
            "trace": str(args.trace) if with_trace else None,
            "rows": [r.id for r in rows],
        },
        "command": [
            sys.executable,
            "-m",
            "benchmarks.crdt",
            *(argv if argv is not None else sys.argv[1:]),
        ],
        "versions": versions("pycrdt", "loro", "rtlab", missing=None),
        "host": host(),
        "started_ns": started_ns,
        "ended_ns": ended_ns,
    }
    (out / "suite.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    table = markdown_table(document)
    (out / "table.md").write_text(table)
    print(table)
    print(f"run directory: {out}")
    return 0


def run_cell(
    row: Row, subject: Subject, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    """Every measurement of one (row, subject), `args.runs` times: median, min and max."""
    if row.needs_map and subject.maps is None:
        return {"not_applicable": NO_MAP}
    if row.skips_whole_document and subject.whole_document:
        return {"skipped": "sends the whole document per op (quadratic on a long trace)"}
    samples: list[dict[str, Any]] = []
    for _ in range(args.runs):
        try:
            cell = row.run(subject, settings)
        except Exception as exc:  # a benchmark reports a broken cell, it does not stop
            return {"failed": f"{type(exc).__name__}: {exc}"}
        sample = {
            "ok": cell.ok,
            "time_s": cell.time_s,
            "update_bytes": cell.update_bytes,
            "encode_s": cell.encode_s,
            "doc_bytes": cell.doc_bytes,
            "parse_s": cell.parse_s,
            "offline_s": cell.offline_s,
        }
        if not args.no_memory:
            sample.update(probe_memory(subject.name, cell, of_map=row.needs_map))
        samples.append(sample)
    summary: dict[str, Any] = {"ok": all(s["ok"] for s in samples)}
    for key in TIMED:
        values = [s[key] for s in samples if s.get(key) is not None]
        if values:
            summary[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    for key in EXACT:
        summary[key] = samples[0][key]
    return summary


def probe_memory(subject: str, cell: Cell, of_map: bool = False) -> dict[str, int]:
    with tempfile.NamedTemporaryFile(suffix=".bin") as handle:
        handle.write(cell.encoded)
        handle.flush()
        command = [sys.executable, "-m", "benchmarks.crdt.memory", subject, handle.name]
        done = subprocess.run(
            [*command, "--map"] if of_map else command,
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
    if done.returncode != 0:
        return {}
    return {k: int(v) for k, v in json.loads(done.stdout).items()}


def _progress(row: Row, subject: Subject, cell: dict[str, Any]) -> str:
    if "time_s" not in cell:
        why = cell.get("not_applicable") or cell.get("skipped") or cell.get("failed")
        return f"  {row.id:<6} {subject.name:<14} {why}"
    return (
        f"  {row.id:<6} {subject.name:<14} {cell['time_s']['median'] * 1e3:9.1f} ms"
        f"  ok={cell['ok']}"
    )


if __name__ == "__main__":
    sys.exit(main())
