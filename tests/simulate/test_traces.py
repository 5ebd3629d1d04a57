"""Trace replay CLI on small traces generated here (never the real ones)."""

from __future__ import annotations

import gc
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.collab.registry import strategies
from simulate.traces import frozen_heap, load_trace, replay

ROOT = Path(__file__).resolve().parents[2]


def sequential_trace(seed: int, steps: int = 300) -> dict[str, Any]:
    rng = random.Random(seed)
    text = ""
    txns = []
    for _ in range(steps):
        pos = rng.randrange(len(text) + 1)
        deleted = rng.randrange(min(3, len(text) - pos) + 1) if rng.random() < 0.3 else 0
        inserted = "".join(rng.choice("abcé😀 ") for _ in range(rng.randrange(3)))
        if not deleted and not inserted:
            inserted = "z"
        text = text[:pos] + inserted + text[pos + deleted :]
        txns.append({"time": "", "patches": [[pos, deleted, inserted]]})
    return {"startContent": "", "endContent": text, "txns": txns}


def concurrent_trace(seed: int, steps: int = 120) -> dict[str, Any]:
    """Two agents, each editing only its own side of a "|" neither deletes.

    Keeping the agents on disjoint regions makes the merged text computable
    without a CRDT: region of agent 0 (as of the version), "|", region of
    agent 1. Transactions see the other agent's region at some older version
    and merge it in with two parents, like real latency would.
    """
    rng = random.Random(seed)
    regions: list[list[str]] = [[""], [""]]  # region text after k txns of each agent
    versions: list[tuple[int, int]] = [(1, 0)]  # txn 0: agent 0 inserts the separator
    txns: list[dict[str, Any]] = [
        {"parents": [], "numChildren": 0, "agent": 0, "time": "", "patches": [[0, 0, "|"]]}
    ]
    regions[0].append("")
    last = [0, None]
    for _ in range(steps):
        agent = rng.randrange(2) if last[1] is not None else 1
        other = 1 - agent
        own = last[agent]
        parents: list[int] = [] if own is None else [own]
        known = [0, 0] if own is None else list(versions[own])
        newer = [
            i
            for i, t in enumerate(txns)
            if t["agent"] == other and versions[i][other] > known[other]
        ]
        if newer and (own is None or rng.random() < 0.5):
            pick = rng.choice(newer)
            if own is not None and all(versions[own][k] <= versions[pick][k] for k in (0, 1)):
                parents = [pick]  # it already includes our last txn
            else:
                parents.append(pick)
            known = [max(known[k], versions[pick][k]) for k in (0, 1)]
        mine = regions[agent][known[agent]]
        offset = 0 if agent == 0 else len(regions[0][known[0]]) + 1
        patches = []
        for _ in range(rng.randrange(1, 3)):
            pos = rng.randrange(len(mine) + 1)
            deleted = rng.randrange(min(2, len(mine) - pos) + 1) if rng.random() < 0.3 else 0
            inserted = "".join(
                rng.choice("ab😀" if agent else "xyé") for _ in range(rng.randrange(3))
            )
            if not deleted and not inserted:
                continue
            mine = mine[:pos] + inserted + mine[pos + deleted :]
            patches.append([offset + pos, deleted, inserted])
        known[agent] += 1
        regions[agent].append(mine)
        for p in parents:
            txns[p]["numChildren"] += 1
        versions.append((known[0], known[1]))
        txns.append(
            {"parents": parents, "numChildren": 0, "agent": agent, "time": "", "patches": patches}
        )
        last[agent] = len(txns) - 1
    end = regions[0][-1] + "|" + regions[1][-1]
    return {"kind": "concurrent", "endContent": end, "numAgents": 2, "txns": txns}


def write(trace: dict[str, Any], path: Path, gzipped: bool) -> Path:
    data = json.dumps(trace).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def run_cli(path: Path, strategy: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "simulate.traces",
            "replay",
            str(path),
            "--strategy",
            strategy,
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("gzipped", [False, True])
def test_sequential_trace_replays_through_cli(tmp_path: Path, gzipped: bool) -> None:
    # the name never says .gz: the format is detected by its magic bytes
    path = write(sequential_trace(1), tmp_path / "seq.json", gzipped)
    for strategy in ("fugue", "rga", "loro"):
        done = run_cli(path, strategy, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] is True
        assert result["strategy"] == strategy
        assert result["ops"] == 300
        assert result["final_length"] == len(sequential_trace(1)["endContent"])
        assert result["state_bytes"] > 0 and result["peak_memory_bytes"] > 0
        assert result["seconds"] >= 0 and result["ops_per_second"] > 0


@pytest.mark.parametrize("gzipped", [False, True])
def test_concurrent_trace_replays_through_cli(tmp_path: Path, gzipped: bool) -> None:
    trace = concurrent_trace(3)
    assert any(len(t["parents"]) == 2 for t in trace["txns"])  # real merges
    path = write(trace, tmp_path / "conc.json", gzipped)
    for strategy in ("fugue", "rga", "loro"):
        done = run_cli(path, strategy, "--json", "--no-memory")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["ok"] is True and result["kind"] == "concurrent"


def test_wrong_end_content_exits_1(tmp_path: Path) -> None:
    trace = sequential_trace(2, steps=50)
    trace["endContent"] += "!"
    done = run_cli(write(trace, tmp_path / "bad.json", False), "fugue", "--no-memory")
    assert done.returncode == 1
    assert "ok:" in done.stdout and "False" in done.stdout


def test_concurrent_trace_needs_a_causal_strategy(tmp_path: Path) -> None:
    others = [s.name for s in strategies() if not s.causal]
    if not others:
        pytest.skip("no non-causal strategy registered yet")
    done = run_cli(write(concurrent_trace(4, 10), tmp_path / "c.json", False), others[0])
    assert done.returncode == 2
    assert "causal" in done.stderr


@pytest.mark.parametrize("seed", range(5))
def test_replay_function_on_generated_traces(tmp_path: Path, seed: int) -> None:
    for trace in (sequential_trace(seed, 200), concurrent_trace(seed, 80)):
        loaded = load_trace(write(trace, tmp_path / f"t{seed}", seed % 2 == 0))
        for strategy in ("fugue", "rga", "loro"):
            assert replay(loaded, strategy, measure_memory=False).ok


def test_frozen_heap_hides_existing_objects_from_collection_until_it_ends() -> None:
    before = gc.get_freeze_count()
    harness_data = [[i, 0, "x"] for i in range(1000)]
    with frozen_heap():
        assert gc.get_freeze_count() >= before + len(harness_data)
    assert gc.get_freeze_count() == 0
    assert gc.is_tracked(harness_data)


@pytest.mark.parametrize("strategy", ["ot", "fugue"])
def test_sequential_replay_times_each_side_on_the_lockstep_record(strategy: str) -> None:
    """OT's replica only releases its next op on an ack: the replica-alone pass gets
    the recorded acks, so it must produce the same text and the same op count."""
    trace = sequential_trace(2)
    result = replay(trace, strategy, measure_memory=True)
    assert result.ok and result.seconds > 0 and result.server_seconds > 0
    assert result.messages >= 1 and result.peak_memory_bytes
