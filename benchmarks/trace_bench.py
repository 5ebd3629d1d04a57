"""Replay a sequential editing trace through every strategy and two baselines.

    python -m benchmarks.trace_bench [--trace PATH] [--quick N] [--no-memory]

The baselines run in the same process and the same run, because absolute
figures drift between machines and even between runs: pycrdt (Yjs in Rust,
one transaction per patch, as an editor binding would do) and a plain Python
`str` splice (the floor for any pure-Python structure). Strategies go through
`simulate.traces.replay`, i.e. the generic Replica/DocumentServer interface;
their `seconds` is the replica side (what a client pays), `server s` the
server applying and acknowledging every op. Ratios compare replica seconds.

The default trace lives outside the repo, in `../shared/traces/` next to it;
it is never copied in. This script prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.collab.registry import strategy_names
from simulate.traces import load_trace, replay, sequential_patches, trace_kind

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TRACE = REPO.parent / "shared" / "traces" / "automerge-paper.json.gz"
STRATEGIES = ("naive", "ot", "fugue", "rga", "yjs")
SKIPPED = {"lww": "sends the whole document per op (quadratic on a 260k-op trace)"}


def pycrdt_baseline(patches: list[list[Any]]) -> tuple[float, int, str]:
    from pycrdt import Doc, Text

    doc = Doc()
    text = doc.get("text", type=Text)
    transaction = doc.transaction
    started = time.perf_counter()
    for pos, deleted, inserted in patches:
        with transaction():
            if deleted:
                del text[pos : pos + deleted]
            if inserted:
                text.insert(pos, inserted)
    seconds = time.perf_counter() - started
    return seconds, len(doc.get_update()), str(text)


def str_baseline(patches: list[list[Any]]) -> tuple[float, int, str]:
    text = ""
    started = time.perf_counter()
    for pos, deleted, inserted in patches:
        text = text[:pos] + inserted + text[pos + deleted :]
    seconds = time.perf_counter() - started
    return seconds, len(text.encode()), text


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
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc runs")
    args = parser.parse_args(argv)

    trace = load_trace(args.trace)
    if trace_kind(trace) != "sequential":
        parser.error("trace_bench needs a sequential trace")
    patches = sequential_patches(trace, args.quick)
    print(f"trace: {args.trace} ({len(patches):,} patches)")

    rows: list[tuple[str, float, float | None, int | None, int, bool]] = []
    notes: list[str] = []
    base_pycrdt, pycrdt_bytes, pycrdt_text = pycrdt_baseline(patches)
    base_str, str_bytes, str_text = str_baseline(patches)
    str_peak = None if args.no_memory else traced_peak(lambda: str_baseline(patches))
    rows.append(
        ("pycrdt (baseline)", base_pycrdt, None, None, pycrdt_bytes, pycrdt_text == str_text)
    )
    rows.append(("str splice (baseline)", base_str, None, str_peak, str_bytes, True))

    registered = set(strategy_names())
    for name in STRATEGIES:
        if name not in registered:
            notes.append(f"{name}: skipped, not importable yet")
            continue
        try:
            result = replay(trace, name, limit=args.quick, measure_memory=not args.no_memory)
        except Exception as exc:  # a benchmark reports a broken strategy, it does not stop
            notes.append(f"{name}: failed: {type(exc).__name__}: {exc}")
            continue
        rows.append(
            (
                name,
                result.seconds,
                result.server_seconds,
                result.peak_memory_bytes,
                result.state_bytes,
                result.ok,
            )
        )
    for name, why in SKIPPED.items():
        notes.append(f"{name}: skipped, {why}")

    header = (
        f"{'strategy':<22} {'seconds':>8} {'server s':>9} {'ops/s':>10} {'peak mem':>9} "
        f"{'state B':>10} {'x pycrdt':>9} {'x str':>7}  ok"
    )
    print(header)
    print("-" * len(header))
    for name, seconds, server, peak, state, ok in rows:
        rate = len(patches) / seconds if seconds > 0 else float("inf")
        server_text = "-" if server is None else f"{server:.3f}"
        print(
            f"{name:<22} {seconds:>8.3f} {server_text:>9} {rate:>10,.0f} {_mb(peak):>9} "
            f"{state:>10,} {seconds / base_pycrdt:>9.2f} {seconds / base_str:>7.2f}  {ok}"
        )
    print()
    print("seconds: replica side only (local edits + take_outgoing); server s: apply + ack.")
    print("peak mem: tracemalloc peak of Python allocations in a separate run (replica +")
    print("server); pycrdt's heap is native (Rust) and invisible to tracemalloc.")
    print("state B: DocumentServer.encoded_size(); pycrdt: len(get_update()); str: UTF-8 bytes.")
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
