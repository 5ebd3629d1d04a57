"""Replay josephg/editing-traces through any registered conflict strategy.

    python -m simulate.traces replay PATH --strategy fugue [--json] [--limit N] [--no-memory]

Why replay through the generic `Replica`/`DocumentServer` interface and not a
strategy's internals: the numbers then measure what a client and the server
really pay per keystroke, and every strategy (naive, ot, fugue, rga, yjs, lww)
is measured by the same loop.

* Sequential traces (`txns[].patches` of `[pos, delete, insert]`): one replica
  edits; each op it emits goes through one DocumentServer (and is acknowledged,
  which OT needs to release its next op). `seconds` is the replica's time
  (local edits, take_outgoing, acknowledge); `server_seconds` the server's
  `apply` alone.
* Concurrent traces (`kind: "concurrent"`): one replica per agent. Before a
  transaction's patches, its agent's replica receives every op produced by
  the transactions in the history of the transaction's `parents` that it has
  not seen yet, in trace order (a causal order: parents come first). At the
  end every replica receives everything and all must equal `endContent`.
  This needs ops that commute under causal delivery, so only CRDT strategies
  are accepted. `seconds` covers all replicas; the server then applies every
  op in trace order (`server_seconds`) to check it and to size its state.

Peak memory is tracemalloc's peak of Python allocations during a second,
separate replay (tracemalloc slows Python down, so it never overlaps the
timed run); native heaps (e.g. a Rust CRDT) are invisible to it.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from server.collab.base import CollabError
from server.collab.registry import Strategy, causal_strategy_names, get_strategy

MEMORY_METHOD = "tracemalloc peak (Python heap, separate run)"


class TraceError(Exception):
    """The trace cannot be replayed with this strategy (exit code 2)."""


@dataclass(slots=True)
class ReplayResult:
    ok: bool
    strategy: str
    kind: str
    ops: int
    seconds: float
    server_seconds: float
    ops_per_second: float
    peak_memory_bytes: int | None
    memory_method: str
    state_bytes: int
    final_length: int
    expected_length: int
    messages: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_trace(path: str | Path) -> dict[str, Any]:
    """Read a trace file, gzipped or not (decided by the gzip magic bytes, not the name)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    trace = json.loads(raw)
    if not isinstance(trace, dict) or not isinstance(trace.get("txns"), list):
        raise TraceError(f"{path}: not an editing trace (no txns list)")
    return trace


# One code point for one code point, so every position in the trace stays valid.
_ACCENTS = str.maketrans("aeiouycnAEIOU", "áéïöüÿçñÀÉÎÕÜ")


def with_accents(trace: dict[str, Any]) -> dict[str, Any]:
    """The same trace with accented letters typed (2 UTF-8 bytes each) instead of plain ones.

    Positions count code points, and each letter maps to exactly one code
    point, so the trace stays valid; what changes is every library that
    counts bytes (pycrdt) or UTF-16 units. Both shared traces are pure ASCII.
    """
    txns = [
        {**txn, "patches": [[p, d, i.translate(_ACCENTS)] for p, d, i in txn["patches"]]}
        for txn in trace["txns"]
    ]
    accented = {**trace, "txns": txns, "endContent": trace["endContent"].translate(_ACCENTS)}
    if "startContent" in trace:
        accented["startContent"] = trace["startContent"].translate(_ACCENTS)
    return accented


def trace_kind(trace: dict[str, Any]) -> str:
    return "concurrent" if trace.get("kind") == "concurrent" else "sequential"


def sequential_patches(trace: dict[str, Any], limit: int | None = None) -> list[list[Any]]:
    patches = [patch for txn in trace["txns"] for patch in txn["patches"]]
    return patches if limit is None else patches[:limit]


def expected_text(trace: dict[str, Any], limit: int | None) -> str:
    """`endContent`, or for a cut-short sequential replay the text a str splice gives."""
    if limit is None:
        return str(trace["endContent"])
    text = str(trace.get("startContent", ""))
    for pos, deleted, inserted in sequential_patches(trace, limit):
        text = text[:pos] + inserted + text[pos + deleted :]
    return text


def replay(
    trace: dict[str, Any],
    strategy: str,
    *,
    limit: int | None = None,
    measure_memory: bool = True,
) -> ReplayResult:
    """Replay a loaded trace; `limit` keeps only the first N patches (sequential only)."""
    strat = get_strategy(strategy)
    kind = trace_kind(trace)
    if kind == "concurrent":
        if limit is not None:
            raise TraceError("--limit applies to sequential traces only")
        causal = causal_strategy_names()
        if strategy not in causal:
            raise TraceError(
                f"strategy {strategy!r} cannot replay a concurrent trace: its ops do not "
                f"commute under causal delivery (use one of {', '.join(causal)})"
            )
        run = _replay_concurrent
    else:
        run = _replay_sequential
    result = run(trace, strat, limit)
    if measure_memory:
        tracemalloc.start()
        try:
            if kind == "concurrent":
                run(trace, strat, limit)
            else:  # replica and server in lockstep, keeping no record of the ops
                patches = sequential_patches(trace, limit)
                _interleaved(strat, trace.get("startContent", ""), patches, record=False)
            result.peak_memory_bytes = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return result


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave everything allocated so far out of garbage collection while the block runs.

    A loaded trace is hundreds of thousands of small lists, and a replay's
    record as many dicts. Left in the collected heap, every full collection
    inside a timed loop walks them, charging the harness's data to whichever
    subject allocates most (on automerge-paper it was a quarter of fugue's
    instructions). Frozen, the collector skips them; the subject's own
    objects are collected as usual. Not reentrant: the exit unfreezes all.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _replay_sequential(trace: dict[str, Any], strat: Strategy, limit: int | None) -> ReplayResult:
    """Replay one author's patches: replica then server, each timed as one loop.

    The first pass runs replica and server interleaved, as over a link, and
    records what the replica sent and what the server acknowledged. The timed
    passes then run each side alone on that record: the replica gets the
    recorded acks (OT releases its next op on them), the server the recorded
    ops. So neither side's figure carries the other's work, nor a clock read
    per op (four reads per patch cost about 0.3 µs, a tenth of a fast
    strategy's whole time per keystroke).
    """
    patches = sequential_patches(trace, limit)
    expected = expected_text(trace, limit)
    start = trace.get("startContent", "")
    sent, acks = _interleaved(strat, start, patches)
    messages = len(sent)

    with frozen_heap():
        replica = strat.create_replica("trace", strat.create_document().snapshot())
        insert, delete, take = replica.insert, replica.delete, replica.take_outgoing
        ack, next_ack = replica.acknowledge, iter(acks).__next__
        if start:
            insert(0, start)
        clock = time.perf_counter
        began = clock()
        if start:
            while out := take():
                for _ in out:
                    ack(next_ack())
        for pos, deleted, inserted in patches:
            if deleted:
                delete(pos, deleted)
            if inserted:
                insert(pos, inserted)
            while out := take():
                for _ in out:
                    ack(next_ack())
        replica_time = clock() - began

        doc = strat.create_document()
        apply = doc.apply
        began = clock()
        for op in sent:
            apply(op, "trace")
        server_time = clock() - began

    final = replica.text()
    ok = final == expected and doc.text() == expected
    return _result(
        strat,
        "sequential",
        len(patches),
        replica_time,
        server_time,
        doc,
        final,
        expected,
        ok,
        messages,
    )


def _interleaved(
    strat: Strategy, start: str, patches: list[list[Any]], *, record: bool = True
) -> tuple[list[Any], list[Any]]:
    """Replica and server in lockstep: (every op the server applied, every ack in order).

    `record=False` keeps neither list (the memory run: only the strategy's own
    allocations should count).
    """
    doc = strat.create_document()
    replica = strat.create_replica("trace", doc.snapshot())
    sent: list[Any] = []
    acks: list[Any] = []

    def deliver() -> None:
        while out := replica.take_outgoing():
            for op in out:
                ack = doc.apply(op, "trace").ack
                if record:
                    sent.append(op)
                    acks.append(ack)
                replica.acknowledge(ack)

    if start:
        replica.insert(0, start)
        deliver()
    for pos, deleted, inserted in patches:
        if deleted:
            replica.delete(pos, deleted)
        if inserted:
            replica.insert(pos, inserted)
        deliver()
    return sent, acks


class CausalReplica(Protocol):
    """What a concurrent replay drives: a strategy's Replica, or a raw library baseline."""

    def insert(self, pos: int, text: str) -> None: ...

    def delete(self, pos: int, length: int) -> None: ...

    def take_outgoing(self) -> list[Any]: ...

    def receive(self, change: Any) -> None: ...


def replay_causally(
    txns: list[dict[str, Any]], replicas: Sequence[CausalReplica]
) -> list[list[Any]]:
    """Replay a concurrent trace's txns, one replica per agent; return each txn's ops.

    Before a transaction's patches, its agent's replica receives every op
    produced by the transactions in the history of its `parents` that it has
    not seen yet, in trace order (a causal order: parents come first). At the
    end every replica has received everything.
    """
    seen = [bytearray(len(txns)) for _ in replicas]
    produced: list[list[Any]] = [[] for _ in txns]
    for index, txn in enumerate(txns):
        agent = txn["agent"]
        replica = replicas[agent]
        known = seen[agent]
        missing: list[int] = []
        stack = list(txn["parents"])
        while stack:  # history of the parents that this replica lacks
            j = stack.pop()
            if known[j]:
                continue
            known[j] = 1
            missing.append(j)
            stack.extend(txns[j]["parents"])
        missing.sort()
        for j in missing:
            for op in produced[j]:
                replica.receive(op)
        for pos, deleted, inserted in txn["patches"]:
            if deleted:
                replica.delete(pos, deleted)
            if inserted:
                replica.insert(pos, inserted)
        produced[index] = replica.take_outgoing()
        known[index] = 1
    for replica, known in zip(replicas, seen, strict=True):
        for j, have in enumerate(known):
            if not have:
                for op in produced[j]:
                    replica.receive(op)
    return produced


def agent_count(trace: dict[str, Any]) -> int:
    txns = trace["txns"]
    return int(trace.get("numAgents") or 1 + max(txn["agent"] for txn in txns))


def _replay_concurrent(trace: dict[str, Any], strat: Strategy, limit: int | None) -> ReplayResult:
    txns = trace["txns"]
    expected = trace["endContent"]
    empty = strat.create_document().snapshot()
    names = [f"agent{a}" for a in range(agent_count(trace))]
    replicas = [strat.create_replica(name, empty) for name in names]
    ops = sum(len(txn["patches"]) for txn in txns)
    with frozen_heap():
        started = time.perf_counter()
        produced = replay_causally(txns, replicas)
        seconds = time.perf_counter() - started
        doc = strat.create_document()
        started = time.perf_counter()
        messages = 0
        for index, txn in enumerate(txns):
            for op in produced[index]:
                doc.apply(op, names[txn["agent"]])
                messages += 1
        server_seconds = time.perf_counter() - started
    texts = [replica.text() for replica in replicas]
    ok = all(text == expected for text in texts) and doc.text() == expected
    final = texts[0] if texts else ""
    return _result(
        strat, "concurrent", ops, seconds, server_seconds, doc, final, expected, ok, messages
    )


def _result(
    strat: Strategy,
    kind: str,
    ops: int,
    seconds: float,
    server_seconds: float,
    doc: Any,
    final: str,
    expected: str,
    ok: bool,
    messages: int,
) -> ReplayResult:
    return ReplayResult(
        ok=ok,
        strategy=strat.name,
        kind=kind,
        ops=ops,
        seconds=seconds,
        server_seconds=server_seconds,
        ops_per_second=ops / seconds if seconds > 0 else float("inf"),
        peak_memory_bytes=None,
        memory_method=MEMORY_METHOD,
        state_bytes=len(doc.encode()),
        final_length=len(final),
        expected_length=len(expected),
        messages=messages,
    )


def format_result(result: ReplayResult) -> str:
    memory = (
        "not measured"
        if result.peak_memory_bytes is None
        else f"{result.peak_memory_bytes / 1e6:.2f} MB ({result.memory_method})"
    )
    return "\n".join(
        [
            f"strategy:       {result.strategy} ({result.kind} trace)",
            f"ops:            {result.ops} patches, {result.messages} messages sent",
            f"seconds:        {result.seconds:.3f} replicas + {result.server_seconds:.3f} server",
            f"ops/s:          {result.ops_per_second:,.0f} (replicas)",
            f"peak memory:    {memory}",
            f"state size:     {result.state_bytes:,} bytes (DocumentServer.encode())",
            f"final length:   {result.final_length} (expected {result.expected_length})",
            f"ok:             {result.ok}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulate.traces", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rp = commands.add_parser("replay", help="replay one trace file through one strategy")
    rp.add_argument("path", type=Path)
    rp.add_argument("--strategy", default="fugue")
    rp.add_argument("--json", action="store_true", help="print one JSON object")
    rp.add_argument("--limit", type=int, default=None, help="first N patches only (sequential)")
    rp.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run")
    rp.add_argument("--accents", action="store_true", help="type accented letters (non-ASCII)")
    args = parser.parse_args(argv)
    try:
        trace = load_trace(args.path)
        if args.accents:
            trace = with_accents(trace)
        result = replay(trace, args.strategy, limit=args.limit, measure_memory=not args.no_memory)
    except (TraceError, CollabError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, CollabError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_result(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
