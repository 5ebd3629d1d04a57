"""`python -m simulate experiment`: conflict strategies compared in virtual time.

Usage::

    python -m simulate experiment --strategies naive,ot,fugue,yjs,lww \\
        --editors 8 --ops 500 --rate 5/s --latency 80ms --jitter 30ms \\
        --partition 5s@10s --partition 20s@30s:editor-1 --seeds 1..20 [--jobs 2]

Every (strategy, seed) pair is one `simulate.virtual_time` run: the same
editors type the same keystrokes over the same seeded network into a
document under each strategy, so strategies differ only in how they merge.

Run directory (default `reports/runs/<run-id>/`), readable by `reports/`;
`meta.json`'s `kind: "experiment"` tells it from the real-time runs of
fleets and Locust (`kind: "realtime"`, specified in simulate/recording.py):

`results.json`
    Deterministic: the same arguments give a byte-identical file (a test
    checks it, across hash seeds). `{format_version, kind: "experiment",
    parameters: {...}, strategies: {name: {summary: {runs, converged,
    convergence_s_median, convergence_s_max, final_distance_mean,
    survival_mean, survival_min, interleavings_mean, bytes_per_op_mean,
    bytes_up_per_op_mean, virtual_s_max}, seeds: [{seed, converged,
    quiescent, convergence_s, last_op_s, duration_s, ops, skipped_ops,
    rejected_ops, bytes, bytes_per_op, bytes_up, bytes_up_per_op, messages,
    scheduler_events, server_length, final_distinct_texts, final_distance,
    survival: {user: share | null}, survival_mean, interleavings}]}}}`.
    Times are virtual seconds since editing began; `convergence_s` is from
    the last keystroke until every replica's text equals the server's
    (null when it never did); `converged` is that equality at quiescence
    (nothing in flight, every replica idle) or when the grace period ends.
`divergence-<strategy>.csv`
    The divergence series: `seed, t, distinct_texts, distance` (distance:
    mean over replicas of Levenshtein distance to the server's text divided
    by the longer length; empty between distance samples).
`timings.json`
    Measured, so it varies: `{strategy: {cpu_us_per_op, cpu_s, metrics_cpu_s,
    wall_s, seeds: [{seed, cpu_s, metrics_cpu_s, wall_s, cpu_us_per_op}]}}`;
    `cpu_us_per_op` is the whole in-process simulation (server, clients,
    network model) per keystroke, divergence sampling excluded.
`meta.json`
    `{format_version, kind: "experiment", producer, run_id, parameters,
    strategies, seeds, command, versions, host, started_at, ended_at,
    started_ns, ended_ns}`.
`summary.txt`
    The table printed on screen.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulate.bootstrap import bootstrap_ci
from simulate.measurement import host, versions
from simulate.network import (
    ConstantLatency,
    EmpiricalLatency,
    Jittered,
    Latency,
    LogNormalLatency,
    NormalLatency,
    Partition,
)
from simulate.recording import new_run_id
from simulate.schedule import ARRIVALS, ScheduleError, parse_duration
from simulate.typing_model import TypingModel
from simulate.virtual_time import Measured, SimulationConfig, editor_name, run_simulation

FORMAT_VERSION = 1
DEFAULT_STRATEGIES = "naive,ot,fugue,rga,yjs,loro,lww"
LATENCY_MODELS = ("constant", "normal", "lognormal", "file:PATH")


@dataclass(frozen=True, slots=True)
class Experiment:
    """Everything that determines the results (nothing about where or when it runs)."""

    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    editors: int
    ops: int
    typing: TypingModel
    latency: Latency
    latency_description: dict[str, Any]
    partitions: tuple[Partition, ...]
    sample_interval: float
    distance_every: int
    grace: float

    def config(self, strategy: str, seed: int) -> SimulationConfig:
        return SimulationConfig(
            strategy=strategy,
            seed=seed,
            latency=self.latency,
            editors=self.editors,
            ops=self.ops,
            typing=self.typing,
            partitions=self.partitions,
            sample_interval=self.sample_interval,
            distance_every=self.distance_every,
            grace=self.grace,
        )

    def parameters(self) -> dict[str, Any]:
        return {
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
            "editors": self.editors,
            "ops_per_editor": self.ops,
            "typing": {
                "rate_per_s": self.typing.rate,
                "arrival": self.typing.arrival,
                "word_length": [self.typing.min_word, self.typing.max_word],
                "typo_ratio": self.typing.typo_ratio,
                "move_ratio": self.typing.move_ratio,
                "move_window": self.typing.move_window,
                "backwards_ratio": self.typing.backwards_ratio,
                "prepend_ratio": self.typing.prepend_ratio,
            },
            "latency": self.latency_description,
            "partitions": [
                {
                    "start_s": p.start,
                    "duration_s": p.duration,
                    "clients": None if p.clients is None else sorted(p.clients),
                }
                for p in self.partitions
            ],
            "sample_interval_s": self.sample_interval,
            "distance_interval_s": round(self.sample_interval * self.distance_every, 6),
            "grace_s": self.grace,
        }


# ------------------------------------------------------------------ parsing


def parse_seeds(text: str) -> tuple[int, ...]:
    """`1..20` (inclusive), `1,2,5`, or a mix: `1..3,10`."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("..")
        try:
            if sep:
                first, last = int(low), int(high)
                if last < first:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad seeds {text!r} (want 1..20 or 1,2,5)") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return tuple(dict.fromkeys(seeds))  # unique, in the order given


def parse_partition(text: str) -> Partition:
    """`DURATION@START` (everyone) or `DURATION@START:editor-1,editor-2`."""
    spec, _, names = text.partition(":")
    duration, at, start = spec.partition("@")
    if not at:
        raise argparse.ArgumentTypeError(f"bad partition {text!r} (want 5s@10s[:editor-1,...])")
    try:
        clients = frozenset(n.strip() for n in names.split(",") if n.strip()) or None
        return Partition(
            parse_duration(start, "partition start"),
            parse_duration(duration, "partition duration"),
            clients,
        )
    except ScheduleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_rate(text: str) -> float:
    """`5/s`, `300/m` or a plain number per second."""
    number, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}.get(unit.strip())
    try:
        rate = float(number) / per if per else -1.0
    except ValueError:
        rate = -1.0
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"bad rate {text!r} (want e.g. 5/s)")
    return rate


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ScheduleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_latency(
    model: str, latency: float, jitter: float, sigma: float
) -> tuple[Latency, dict[str, Any]]:
    """The one-way latency of every path, and a description of it for the results.

    constant: `latency` ± uniform `jitter`; normal: mean `latency`, standard
    deviation `jitter`; lognormal: median `latency`, log-sigma `sigma`, plus
    uniform `jitter`; file:PATH: measured samples (ms, one per line) plus
    uniform `jitter`.
    """
    base: Latency
    if model == "constant":
        base, description = ConstantLatency(latency), {"model": "constant", "latency_s": latency}
    elif model == "normal":
        return NormalLatency(latency, jitter), {
            "model": "normal",
            "mean_s": latency,
            "stdev_s": jitter,
        }
    elif model == "lognormal":
        base = LogNormalLatency(latency, sigma)
        description = {"model": "lognormal", "median_s": latency, "sigma": sigma}
    elif model.startswith("file:"):
        path = model.removeprefix("file:")
        empirical = EmpiricalLatency.from_file(path)
        base = empirical
        description = {"model": "file", "path": path, "samples": len(empirical.samples)}
    else:
        raise argparse.ArgumentTypeError(
            f"unknown latency model {model!r} (known: {', '.join(LATENCY_MODELS)})"
        )
    description["jitter_s"] = jitter
    return (Jittered(base, jitter) if jitter else base), description


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulate experiment",
        description="Compare conflict strategies on the same seeded editing workload, "
        "in virtual time.",
    )
    add = parser.add_argument
    add("--strategies", default=DEFAULT_STRATEGIES, help="comma-separated (default: %(default)s)")
    add("--editors", type=int, default=4, help="editors sharing the document")
    add("--ops", type=int, default=100, help="keystrokes per editor")
    add("--rate", type=parse_rate, default=5.0, help="keystrokes per editor, e.g. 5/s")
    add("--arrival", choices=ARRIVALS, default="poisson", help="keystroke arrivals")
    add("--latency", type=_duration, default=0.08, help="one-way latency, e.g. 80ms")
    add("--jitter", type=_duration, default=0.03, help="e.g. 30ms (stdev for normal)")
    add("--latency-model", default="constant", help="constant, normal, lognormal or file:PATH")
    add("--sigma", type=float, default=0.5, help="log-sigma of the lognormal model")
    add(
        "--partition",
        type=parse_partition,
        action="append",
        default=[],
        help="DURATION@START[:editor-1,editor-2], times since editing began; repeatable",
    )
    add("--seeds", type=parse_seeds, default=(1, 2, 3), help="1..20 or 1,2,5")
    add("--sample-every", type=_duration, default=0.1, help="divergence sample interval")
    add("--distance-every", type=_duration, default=0.5, help="edit-distance sample interval")
    add("--grace", type=_duration, default=60.0, help="longest settling after the last op")
    add("--backwards", type=float, default=0.0, help="share of words typed right to left")
    add("--prepends", type=float, default=0.0, help="share of words typed at the document start")
    add("--jobs", type=int, default=1, help="worker processes (results do not depend on it)")
    add("--out", type=Path, default=None, help="run directory (default reports/runs/<run-id>)")
    add("--quiet", action="store_true", help="no progress lines")
    add(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="paper (or --paper): every strategy, 30 seeds, backwards and prepended words "
        "(flags given explicitly still win); fugue-cases: the Fugue paper's scripted "
        "interleaving cases",
    )
    return parser


# Defaults a preset sets; anything given explicitly on the command line wins.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "strategies": DEFAULT_STRATEGIES,
        "editors": 4,
        "ops": 200,
        "seeds": tuple(range(1, 31)),
        "backwards": 0.2,
        "prepends": 0.05,
        "partition": [Partition(5.0, 2.0, None)],
        "jobs": 2,
    },
    "fugue-cases": {},
}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse once for `--preset`, then again with the preset's values as defaults."""
    argv = ["--preset=paper" if arg == "--paper" else arg for arg in argv]
    parser = build_parser()
    first, _ = parser.parse_known_args(list(argv))
    if first.preset:
        parser.set_defaults(**PRESETS[first.preset])
    return parser.parse_args(list(argv))


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    from server.collab.registry import strategy_names

    unknown = [s for s in strategies if s not in strategy_names()]
    if unknown or not strategies:
        raise SystemExit(
            f"unknown strategies {', '.join(unknown)} (known: {', '.join(strategy_names())})"
        )
    if args.editors < 1 or args.ops < 1:
        raise SystemExit("--editors and --ops must be at least 1")
    latency, description = build_latency(args.latency_model, args.latency, args.jitter, args.sigma)
    known = {editor_name(i) for i in range(args.editors)}
    for partition in args.partition:
        strangers = sorted((partition.clients or frozenset()) - known)
        if strangers:
            raise SystemExit(f"--partition names unknown editors: {', '.join(strangers)}")
    if args.sample_every <= 0:
        raise SystemExit("--sample-every must be > 0")
    if not (0 <= args.backwards <= 1 and 0 <= args.prepends <= 1):
        raise SystemExit("--backwards and --prepends are shares between 0 and 1")
    return Experiment(
        strategies=strategies,
        seeds=args.seeds,
        editors=args.editors,
        ops=args.ops,
        typing=TypingModel(
            rate=args.rate,
            arrival=args.arrival,
            backwards_ratio=args.backwards,
            prepend_ratio=args.prepends,
        ),
        latency=latency,
        latency_description=description,
        partitions=tuple(args.partition),
        sample_interval=args.sample_every,
        distance_every=max(1, round(args.distance_every / args.sample_every)),
        grace=args.grace,
    )


# ------------------------------------------------------------------ running


def run_experiment(
    experiment: Experiment, *, jobs: int = 1, progress: bool = False
) -> dict[str, list[Measured]]:
    """Every (strategy, seed) run, grouped by strategy in the order given."""
    configs = [
        experiment.config(s, seed) for s in experiment.strategies for seed in experiment.seeds
    ]
    measured: list[Measured] = []
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for item in pool.map(run_simulation, configs):
                measured.append(_progress(item, progress))
    else:
        for config in configs:
            measured.append(_progress(run_simulation(config), progress))
    grouped: dict[str, list[Measured]] = {s: [] for s in experiment.strategies}
    for item in measured:
        grouped[item.result.strategy].append(item)
    return grouped


def _progress(item: Measured, enabled: bool) -> Measured:
    if enabled:
        r = item.result
        print(
            f"  {r.strategy:<6} seed {r.seed:<4} converged={'yes' if r.converged else 'no ':<3} "
            f"virtual {r.duration_s:7.1f}s  wall {item.wall_s:5.2f}s",
            file=sys.stderr,
            flush=True,
        )
    return item


# ------------------------------------------------------------------ results


def strategy_summary(results: Sequence[Any]) -> dict[str, Any]:
    """Per strategy over seeds; intention (survival, interleavings) over converged runs only.

    A run whose replicas ended with different texts has no single text whose
    survival or interleaving would mean anything (naive's server text may
    keep everything while every user sees something else), so those metrics
    are None when no run converged, and the table says "diverged".
    """
    converged = [r for r in results if r.converged]
    times = [r.convergence_s for r in converged if r.convergence_s is not None]
    survivals = [r.survival_mean for r in converged if r.survival_mean is not None]
    per_user = [v for r in converged for v in r.survival.values() if v is not None]
    interleavings = [float(r.interleavings) for r in converged]
    bytes_per_op = [r.bytes / max(1, r.ops) for r in results]
    return {
        "runs": len(results),
        "converged": len(converged),
        "convergence_s_median": _r(statistics.median(times)) if times else None,
        "convergence_s_max": _r(max(times)) if times else None,
        "convergence_s_mean": _r(statistics.fmean(times)) if times else None,
        "convergence_s_ci95": _ci(times),
        "final_distance_mean": _r(statistics.fmean(r.final_distance for r in results)),
        "intention_runs": len(converged),
        "survival_mean": _r(statistics.fmean(survivals)) if survivals else None,
        "survival_ci95": _ci(survivals),
        "survival_min": _r(min(per_user)) if per_user else None,
        "interleavings_mean": _r(statistics.fmean(interleavings)) if interleavings else None,
        "interleavings_ci95": _ci(interleavings),
        "bytes_per_op_mean": _r(statistics.fmean(bytes_per_op)),
        "bytes_per_op_ci95": _ci(bytes_per_op),
        "bytes_up_per_op_mean": _r(statistics.fmean(r.bytes_up / max(1, r.ops) for r in results)),
        "virtual_s_max": _r(max(r.duration_s for r in results)),
    }


def _ci(values: Sequence[float]) -> list[float] | None:
    interval = bootstrap_ci(values)
    return None if interval is None else [_r(interval[0]), _r(interval[1])]


def results_document(experiment: Experiment, grouped: dict[str, list[Measured]]) -> dict[str, Any]:
    strategies = {}
    for strategy, items in grouped.items():
        results = [item.result for item in items]
        strategies[strategy] = {
            "summary": strategy_summary(results),
            "seeds": [result.as_dict() for result in results],
        }
    return {
        "format_version": FORMAT_VERSION,
        "kind": "experiment",
        "parameters": experiment.parameters(),
        "strategies": strategies,
    }


def timings_document(grouped: dict[str, list[Measured]]) -> dict[str, Any]:
    timings = {}
    for strategy, items in grouped.items():
        ops = sum(item.result.ops for item in items)
        cpu = sum(item.cpu_s for item in items)
        metrics_cpu = sum(item.metrics_cpu_s for item in items)
        strategy_cpu = sum(item.strategy_cpu_s for item in items)
        per_seed = [item.strategy_cpu_s / max(1, item.result.ops) * 1e6 for item in items]
        timings[strategy] = {
            "strategy_us_per_op": _r(strategy_cpu / ops * 1e6, 3) if ops else None,
            "strategy_us_per_op_ci95": _ci(per_seed),
            "strategy_cpu_s": _r(strategy_cpu),
            "cpu_us_per_op": _r((cpu - metrics_cpu) / ops * 1e6, 3) if ops else None,
            "cpu_s": _r(cpu),
            "metrics_cpu_s": _r(metrics_cpu),
            "wall_s": _r(sum(item.wall_s for item in items)),
            "seeds": [
                {
                    "seed": item.result.seed,
                    "cpu_s": _r(item.cpu_s),
                    "metrics_cpu_s": _r(item.metrics_cpu_s),
                    "wall_s": _r(item.wall_s),
                    "cpu_us_per_op": _r(
                        (item.cpu_s - item.metrics_cpu_s) / max(1, item.result.ops) * 1e6, 3
                    ),
                    "strategy_cpu_s": _r(item.strategy_cpu_s),
                }
                for item in items
            ],
        }
    return timings


def divergence_csv(items: Iterable[Measured]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["seed", "t", "distinct_texts", "distance"])
    for item in items:
        for t, distinct, distance in item.result.series:
            writer.writerow([item.result.seed, t, distinct, "" if distance is None else distance])
    return out.getvalue()


def summary_table(results: dict[str, Any], timings: dict[str, Any]) -> str:
    """The printed table: intention columns over converged runs, CPU inside the strategy only."""
    header = (
        f"{'strategy':<9}{'converged':>10}{'conv med s':>11}{'conv max s':>11}"
        f"{'final div':>10}{'survival %':>12}{'interleav':>11}{'bytes/op':>10}"
        f"{'up B/op':>9}{'strat µs/op':>12}"
    )
    lines = [header, "-" * len(header)]
    for strategy, entry in results["strategies"].items():
        s = entry["summary"]
        converged = f"{s['converged']}/{s['runs']}"
        diverged = s["converged"] == 0
        survival = "diverged" if diverged else _fmt(_pct(s["survival_mean"]), ".1f")
        interleaved = "diverged" if diverged else _fmt(s["interleavings_mean"], ".1f")
        lines.append(
            f"{strategy:<9}{converged:>10}"
            f"{_fmt(s['convergence_s_median'], '.3f'):>11}{_fmt(s['convergence_s_max'], '.3f'):>11}"
            f"{_fmt(s['final_distance_mean'], '.4f'):>10}{survival:>12}{interleaved:>11}"
            f"{_fmt(s['bytes_per_op_mean'], '.0f'):>10}"
            f"{_fmt(s['bytes_up_per_op_mean'], '.0f'):>9}"
            f"{_fmt(timings[strategy].get('strategy_us_per_op'), '.1f'):>12}"
        )
    lines.append(
        "survival and interleavings: mean over converged runs only; strat µs/op: CPU inside "
        "the strategy's calls (simulate.strategy_timer), per keystroke"
    )
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _r(value: float, digits: int = 6) -> float:
    return round(value, digits)


# ------------------------------------------------------------------ run directory


def write_run_directory(
    path: Path,
    *,
    experiment: Experiment,
    grouped: dict[str, list[Measured]],
    meta: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    path.mkdir(parents=True, exist_ok=True)
    results = results_document(experiment, grouped)
    timings = timings_document(grouped)
    _write_json(path / "results.json", results)
    _write_json(path / "timings.json", timings)
    _write_json(path / "meta.json", meta)
    for strategy, items in grouped.items():
        (path / f"divergence-{strategy}.csv").write_text(divergence_csv(items))
    (path / "summary.txt").write_text(summary_table(results, timings))
    return results, timings


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.preset == "fugue-cases":
        return run_cases_preset(args, argv)
    experiment = experiment_from_args(args)
    run_id = new_run_id("experiment", experiment.seeds[0])
    out: Path = args.out or Path("reports") / "runs" / run_id
    started_ns = time.time_ns()
    if not args.quiet:
        runs = len(experiment.strategies) * len(experiment.seeds)
        print(f"{runs} virtual-time runs -> {out}", file=sys.stderr, flush=True)
    grouped = run_experiment(experiment, jobs=args.jobs, progress=not args.quiet)
    ended_ns = time.time_ns()
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "experiment",
        "producer": "simulate.experiment",
        "run_id": out.name,
        "parameters": experiment.parameters(),
        "strategies": list(experiment.strategies),
        "seeds": list(experiment.seeds),
        "command": [sys.executable, "-m", "simulate", "experiment", *argv],
        "preset": args.preset,
        "jobs": args.jobs,
        "versions": versions("trio", "pycrdt", "loro", "rtlab", "hdrhistogram", missing=None),
        "host": host(),
        "started_at": _iso(started_ns),
        "ended_at": _iso(ended_ns),
        "started_ns": started_ns,
        "ended_ns": ended_ns,
    }
    results, timings = write_run_directory(out, experiment=experiment, grouped=grouped, meta=meta)
    print(summary_table(results, timings), end="")
    print(f"run directory: {out}")
    return 0


def run_cases_preset(args: argparse.Namespace, argv: list[str]) -> int:
    """`--preset fugue-cases`: the scripted interleaving cases, every strategy, one table."""
    from server.collab.registry import strategy_names
    from simulate.interleaving_cases import CASES, cases_table, run_cases

    explicit = any(a == "--strategies" or a.startswith("--strategies=") for a in argv)
    names = [s.strip() for s in args.strategies.split(",")] if explicit else strategy_names()
    out: Path = args.out or Path("reports") / "runs" / new_run_id("fugue-cases", 0)
    out.mkdir(parents=True, exist_ok=True)
    results = run_cases(names)
    document = {
        "format_version": FORMAT_VERSION,
        "kind": "interleaving-cases",
        "strategies": names,
        "cases": [
            {"name": c.name, "description": c.description, "blocks": list(c.blocks)} for c in CASES
        ],
        "results": [r.as_dict() for r in results],
    }
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": "interleaving-cases",
        "producer": "simulate.experiment --preset fugue-cases",
        "run_id": out.name,
        "seed": None,
        "parameters": {"strategies": names, "cases": [c.name for c in CASES]},
        "command": [sys.executable, "-m", "simulate", "experiment", *argv],
        "versions": versions("pycrdt", "loro", "rtlab", missing=None),
        "host": host(),
    }
    _write_json(out / "cases.json", document)
    _write_json(out / "meta.json", meta)
    table = cases_table(results, names)
    (out / "summary.txt").write_text(table)
    print(table, end="")
    print(f"run directory: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
