"""Replay an editing trace through every strategy and the raw libraries, side by side.

    python -m benchmarks.trace_bench [--trace PATH] [--quick N] [--accents] [--repeat N]
                                     [--no-memory]

The baselines run in the same process and the same run (`benchmarks.baselines`),
because absolute figures drift between machines and even between runs: a
plain Python `str` splice (sequential traces only), pycrdt (Yjs in Rust) and
Loro (Rust, Fugue family). Strategies go through `simulate.traces.replay`, the
generic Replica/DocumentServer interface; their `seconds` is the replica side
(what a client pays: edits, take_outgoing, acknowledge), `server s` the
server's `apply` of every op. Ratios compare replica seconds. Which strategies run comes from their
flags (`server/collab/registry.py`): a concurrent trace needs `causal` ones,
`whole_document` ones (lww) are skipped as quadratic.

`--accents` types accented letters instead of plain ones (positions stay
valid): both shared traces are pure ASCII, and the point of this switch is
to catch any code that confuses code points with UTF-8 bytes (pycrdt's
`Text` counts bytes).

The default trace lives outside the repo, in `../shared/traces/` next to it;
it is never copied in. This script prints figures; it asserts nothing.

fugue and rga run their keystroke path (`server.collab.native.COMPILED`)
compiled by mypyc when `make native` has built it from the current source;
`RTLAB_NATIVE=0` runs the same source as plain Python. The first line
printed says which.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.baselines import BaselineRun, library_concurrent, library_sequential, str_sequential
from server.collab import native
from server.collab.registry import strategies
from simulate.traces import (
    expected_text,
    frozen_heap,
    load_trace,
    replay,
    sequential_patches,
    trace_kind,
    with_accents,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "automerge-paper.json.gz"

Row = tuple[str, float, float | None, int | None, int, bool]


def baselines(trace: dict[str, Any], limit: int | None) -> list[BaselineRun]:
    """Raw libraries (and str for sequential traces) on the same patches.

    Each runs with the trace frozen out of garbage collection, as the
    strategies' replays do (`simulate.traces.frozen_heap`).
    """
    runs: list[Callable[[], BaselineRun]]
    if trace_kind(trace) == "concurrent":
        runs = [partial(library_concurrent, name, trace) for name in ("pycrdt", "loro")]
    else:
        patches = sequential_patches(trace, limit)
        start = trace.get("startContent", "")
        runs = [
            partial(library_sequential, "pycrdt", patches, start),
            partial(library_sequential, "loro", patches, start),
            partial(library_sequential, "loro", patches, start, mode="commit"),
            partial(library_sequential, "loro", patches, start, mode="batched"),
            partial(str_sequential, patches, start),
        ]
    results = []
    for run in runs:
        with frozen_heap():
            results.append(run())
    return results


def _replay_rows(args: argparse.Namespace) -> list[Row]:
    """The child's side of `_plain_python_rows`: replay the `--only` strategies, no memory."""
    trace = load_trace(args.trace)
    if args.accents:
        trace = with_accents(trace)
    rows: list[Row] = []
    for name in args.only.split(","):
        result = replay(trace, name, limit=args.quick, measure_memory=False)
        label = f"{name} ({native.STATUS.describe().split(' (')[0]})"
        rows.append(
            (label, result.seconds, result.server_seconds, None, result.state_bytes, result.ok)
        )
    return rows


def _plain_python_rows(args: argparse.Namespace) -> list[Row]:
    """The compiled strategies again as plain Python, in a child process of this run.

    Which build a module loads is settled at import, so the other one needs
    another interpreter; it runs between this run's own subjects, so both
    figures share the machine's conditions and the same baselines.
    """
    names = [s.name for s in strategies() if s.compiled]
    command = [sys.executable, "-m", "benchmarks.trace_bench", "--trace", str(args.trace)]
    command += ["--only", ",".join(names), "--rows-json"]
    if args.quick is not None:
        command += ["--quick", str(args.quick)]
    if args.accents:
        command.append("--accents")
    env = {**os.environ, native.SWITCH: "0"}
    child = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return [tuple(row) for row in json.loads(child.stdout)]


def _median_row(name: str, runs: list[Row]) -> Row:
    seconds = statistics.median(r[1] for r in runs)
    servers = [r[2] for r in runs if r[2] is not None]
    server = statistics.median(servers) if servers else None
    first = runs[0]
    return (name, seconds, server, first[3], first[4], all(r[5] for r in runs))


def traced_peak(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trace_bench")
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--quick", type=int, default=None, metavar="N", help="first N ops only")
    parser.add_argument("--accents", action="store_true", help="type accented letters")
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc runs")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run everything N times; medians are printed"
    )
    parser.add_argument(
        "--no-plain",
        dest="plain",
        action="store_false",
        help="skip the compiled strategies' plain-Python rows (a child process with "
        f"{native.SWITCH}=0, once per repetition)",
    )
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)  # the child's
    parser.add_argument("--rows-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows_json:
        print(json.dumps(_replay_rows(args)))
        return 0

    trace = load_trace(args.trace)
    if args.accents:
        trace = with_accents(trace)
    kind = trace_kind(trace)
    if kind == "concurrent" and args.quick is not None:
        parser.error("--quick applies to sequential traces only")
    limit = args.quick
    expected = expected_text(trace, limit)
    ops = sum(len(t["patches"]) for t in trace["txns"]) if limit is None else limit
    print(f"trace: {args.trace} ({kind}, {ops:,} patches{', accented' if args.accents else ''})")
    print(f"fugue/rga keystroke path: {native.STATUS.describe()} (server.collab.native)")

    notes: list[str] = []
    samples: dict[str, list[Row]] = {}
    for repetition in range(args.repeat):
        measure_memory = not args.no_memory and repetition == 0
        for run in baselines(trace, limit):
            row: Row = (
                f"{run.name} (baseline)",
                run.seconds,
                None,
                None,
                run.state_bytes,
                run.text == expected,
            )
            samples.setdefault(row[0], []).append(row)
        for strategy in strategies():
            if strategy.whole_document:
                if not repetition:
                    notes.append(
                        f"{strategy.name}: skipped, sends the whole document per op (quadratic)"
                    )
                continue
            if kind == "concurrent" and not strategy.causal:
                if not repetition:
                    notes.append(f"{strategy.name}: skipped, needs the server's order (not causal)")
                continue
            try:
                result = replay(trace, strategy.name, limit=limit, measure_memory=measure_memory)
            except Exception as exc:  # a benchmark reports a broken strategy, it does not stop
                notes.append(f"{strategy.name}: failed: {type(exc).__name__}: {exc}")
                continue
            peak = None if strategy.native_heap else result.peak_memory_bytes
            row = (
                strategy.name,
                result.seconds,
                result.server_seconds,
                peak,
                result.state_bytes,
                result.ok,
            )
            samples.setdefault(strategy.name, []).append(row)
        if args.plain and native.STATUS.active:
            for row in _plain_python_rows(args):
                samples.setdefault(row[0], []).append(row)
    rows = [_median_row(name, runs) for name, runs in samples.items()]

    reference = {name: seconds for name, seconds, *_ in rows}
    ratios = [
        (name, reference[f"{name} (baseline)"])
        for name in ("pycrdt", "loro", "loro commit", "loro batched")
        if f"{name} (baseline)" in reference
    ]
    header = (
        f"{'strategy':<26} {'seconds':>8} {'server s':>9} {'ops/s':>10} {'peak mem':>9} "
        f"{'state B':>10}" + "".join(f" {'x ' + name:>14}" for name, _ in ratios) + "  ok"
    )
    print(header)
    print("-" * len(header))
    for name, seconds, server, peak, state, ok in rows:
        rate = ops / seconds if seconds > 0 else float("inf")
        server_text = "-" if server is None else f"{server:.3f}"
        ratio_text = "".join(f" {seconds / base:>14.2f}" for _, base in ratios)
        print(
            f"{name:<26} {seconds:>8.3f} {server_text:>9} {rate:>10,.0f} {_mb(peak):>9} "
            f"{state:>10,}{ratio_text}  {ok}"
        )
    print()
    print("seconds: replica side (local edits, take_outgoing, acknowledge); server s: apply.")
    print("Each side is timed alone, as one loop, on a record of a lockstep run (replay).")
    print("Baselines: pycrdt one transaction per patch (code points converted to UTF-8 bytes")
    print("in the loop); loro one commit per patch with its update exported (what a live")
    print("editor sends: the like-for-like figure for our replicas, which make an op per")
    print("patch); loro commit: one commit per patch, no update exported (the figure the")
    print("strategy issue quoted); loro batched: one commit at the end (nothing to send per")
    print("keystroke); concurrent traces: one document per agent. Every subject runs with")
    print("the harness's data frozen out of garbage collection (simulate.traces.frozen_heap).")
    print("peak mem: tracemalloc peak of Python allocations in a separate run (replica +")
    print("server); n/a for native libraries (invisible to tracemalloc: see benchmarks.crdt).")
    print("state B: DocumentServer.encode() (binary where the strategy has one: fugue, rga,")
    print("yjs, loro; JSON text otherwise); baselines: their binary snapshot.")
    print("fugue and rga run their keystroke path compiled by mypyc after `make native`;")
    print("RTLAB_NATIVE=0 runs the same source as plain Python.")
    if args.repeat > 1:
        print(f"{args.repeat} repetitions in this run: seconds are medians, ratios of medians.")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
