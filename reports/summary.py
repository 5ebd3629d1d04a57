"""Reading a run directory once, tolerantly, into what every report command needs.

`build`, `summary`, `check` and `compare` all start here, so a run is read
the same way everywhere. The format is specified in `simulate/recording.py`
(real-time runs: bots and Locust) and `simulate/experiment.py` (experiment
runs, `meta.kind == "experiment"`). The reader is deliberately lenient:
producers are written by different people and evolve, and a report that
refuses a run because an optional file is missing helps nobody. What is
required:

- real-time run: `meta.json` plus `summary.json` *or* `histograms.json`;
  `series.csv`, `series_events.csv`, `delivery.json`, `convergence.json` are
  optional (their plots/tables are left out).
- experiment run: `meta.json` (kind "experiment") plus `results.json`;
  `timings.json` and `divergence-<strategy>.csv` are optional.

`series_events.csv` has one row per second *and event*, `second, event,
count, errors, p50_ms, p99_ms` (both engines write it, see
simulate/recording.py), so the report draws per-event latency over time;
for an older run without it, the main event's per-second p50/p99 from
`series.csv`.

The error rate of an event is `errors / (count + errors)`: the share of
attempts that failed (a latency sample is a success, an error is a
failure), so it stays within 0..1 even when an event only fails.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from reports.catalogue import CATALOGUE_HEADERS, catalogue_rows

#: A fleet process is "saturated" above this share of a core (simulate/fleet.py uses the same).
DEFAULT_SATURATION_PERCENT = 90.0


class RunDirectoryError(Exception):
    """The path is not a run directory we can read (the CLI exits 2 with this message)."""


# ------------------------------------------------------------------ data
@dataclass(frozen=True, slots=True)
class EventStats:
    """One event's totals over the run, as the tables, budgets and comparisons see them."""

    name: str
    count: int
    errors: int
    rate_per_s: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return self.count + self.errors

    @property
    def error_rate(self) -> float | None:
        """Failed attempts / all attempts; None when the event was never attempted."""
        return self.errors / self.attempts if self.attempts else None

    def metric(self, name: str) -> float | None:
        """A metric by the name budgets and comparisons use (`p99_ms`, `error_rate`, ...)."""
        if name == "error_rate":
            return self.error_rate
        value = getattr(self, name)
        return None if value is None else float(value)


@dataclass
class RealtimeRun:
    """A bots or Locust run: per-event latencies, a per-second series, delivery, convergence."""

    path: Path
    meta: dict[str, Any]
    events: dict[str, EventStats]
    histograms: dict[str, HdrHistogram]
    series: list[dict[str, Any]]
    event_series: list[dict[str, Any]]
    delivery: dict[str, Any] | None
    convergence: dict[str, Any] | None
    duration_s: float | None
    totals: dict[str, Any]
    presence: dict[str, Any] | None = None  # presence.json: users lists judged

    kind = "realtime"

    @property
    def scenario_name(self) -> str:
        return scenario_name(self.meta)

    @property
    def main_event(self) -> str | None:
        return self.meta.get("main_event")

    @property
    def generator_saturated(self) -> bool:
        return bool(self.meta.get("generator_saturated"))

    @property
    def saturation_percent(self) -> float:
        """Per-process CPU threshold; a producer may record its own, else fleet's 90 %."""
        value = self.meta.get("generator_saturation_percent")
        return float(value) if isinstance(value, int | float) else DEFAULT_SATURATION_PERCENT


@dataclass
class ExperimentRun:
    """A virtual-time experiment: per-strategy results over seeds, timings, divergence series."""

    path: Path
    meta: dict[str, Any]
    results: dict[str, Any]
    timings: dict[str, Any]
    divergence: dict[str, list[dict[str, Any]]]

    kind = "experiment"

    @property
    def strategies(self) -> list[str]:
        return list(self.results.get("strategies", {}))

    def seeds(self, strategy: str) -> list[dict[str, Any]]:
        return list(self.results["strategies"][strategy].get("seeds", []))

    def strategy_summary(self, strategy: str) -> dict[str, Any]:
        """The producer's summary, with `runs`/`converged` derived from seeds when absent."""
        entry = self.results["strategies"][strategy]
        summary = dict(entry.get("summary") or {})
        seeds = entry.get("seeds") or []
        summary.setdefault("runs", len(seeds))
        summary.setdefault("converged", sum(1 for s in seeds if s.get("converged")))
        return summary

    def cpu_us_per_op(self, strategy: str) -> float | None:
        return (self.timings.get(strategy) or {}).get("cpu_us_per_op")

    def strategy_us_per_op(self, strategy: str) -> float | None:
        """CPU inside the strategy's own calls; older runs only have the whole simulation's."""
        timing = self.timings.get(strategy) or {}
        value = timing.get("strategy_us_per_op")
        return value if value is not None else timing.get("cpu_us_per_op")


Run = RealtimeRun | ExperimentRun


# ------------------------------------------------------------------ loading
def resolve_run_dir(path: str | Path) -> Path:
    """A run directory itself, or a parent of run directories (the newest one is meant).

    Accepting the parent lets a Makefile say `reports check reports/runs/ci`
    without knowing the run id the producer generated.
    """
    path = Path(path)
    if (path / "meta.json").is_file():
        return path
    if path.is_dir():
        children = [p for p in path.iterdir() if (p / "meta.json").is_file()]
        if children:
            return max(children, key=lambda p: ((p / "meta.json").stat().st_mtime, p.name))
    raise RunDirectoryError(f"{path}: not a run directory (no meta.json in it or below it)")


def load_run(path: str | Path) -> Run:
    path = resolve_run_dir(path)
    meta = _read_json(path / "meta.json")
    if not isinstance(meta, dict):
        raise RunDirectoryError(f"{path / 'meta.json'}: expected a JSON object")
    if meta.get("kind") == "experiment" or (path / "results.json").is_file():
        return _load_experiment(path, meta)
    return _load_realtime(path, meta)


def load_realtime_run(path: str | Path, command: str) -> RealtimeRun:
    """For commands that only make sense on latencies (check, compare)."""
    run = load_run(path)
    if not isinstance(run, RealtimeRun):
        raise RunDirectoryError(
            f"{run.path}: an experiment run has no per-event latencies; "
            f"`{command}` applies to real-time (bots or Locust) runs"
        )
    return run


def _load_realtime(path: Path, meta: dict[str, Any]) -> RealtimeRun:
    summary = _read_json_if_exists(path / "summary.json") or {}
    raw_histograms = _read_json_if_exists(path / "histograms.json") or {}
    if not summary and not raw_histograms:
        raise RunDirectoryError(f"{path}: neither summary.json nor histograms.json")
    histograms: dict[str, HdrHistogram] = {}
    for name, entry in raw_histograms.items():
        encoded = entry.get("encoded") if isinstance(entry, dict) else None
        if encoded:
            histograms[name] = HdrHistogram.decode(encoded)
    duration = _duration_s(meta, summary)
    sending = _sending_s(meta, summary) or duration  # rates are per second of sending
    events: dict[str, EventStats] = {}
    summary_events = summary.get("events") or {}
    for name in sorted(set(summary_events) | set(histograms)):
        events[name] = _event_stats(
            name, summary_events.get(name) or {}, histograms.get(name), sending
        )
    return RealtimeRun(
        path=path,
        meta=meta,
        events=events,
        histograms=histograms,
        series=_read_csv(path / "series.csv"),
        event_series=_read_csv(path / "series_events.csv"),
        delivery=_read_json_if_exists(path / "delivery.json"),
        convergence=_read_json_if_exists(path / "convergence.json"),
        duration_s=duration,
        totals=summary.get("totals") or {},
        presence=_read_json_if_exists(path / "presence.json"),
    )


def _event_stats(
    name: str, entry: dict[str, Any], histogram: HdrHistogram | None, duration: float | None
) -> EventStats:
    """Prefer the producer's summary; fill what it lacks from the histogram."""

    def from_histogram(percentile: float | None) -> float | None:
        if histogram is None or histogram.get_total_count() == 0:
            return None
        micros = (
            histogram.get_max_value()
            if percentile is None
            else histogram.get_value_at_percentile(percentile)
        )
        return round(micros / 1000, 3)

    count = entry.get("count")
    if count is None:
        count = histogram.get_total_count() if histogram is not None else 0
    errors = entry.get("errors")
    kinds = entry.get("error_kinds") or {}
    if errors is None:
        errors = sum(kinds.values())
    rate = entry.get("rate_per_s")
    if rate is None and duration:
        rate = round(count / duration, 3)

    def pick(key: str, percentile: float | None) -> float | None:
        value = entry.get(key)
        return from_histogram(percentile) if value is None else float(value)

    return EventStats(
        name=name,
        count=int(count),
        errors=int(errors),
        rate_per_s=rate,
        p50_ms=pick("p50_ms", 50),
        p95_ms=pick("p95_ms", 95),
        p99_ms=pick("p99_ms", 99),
        max_ms=pick("max_ms", None),
        error_kinds=dict(kinds),
    )


def _sending_s(meta: dict[str, Any], summary: dict[str, Any]) -> float | None:
    """The sending window (summary.json `sending_s`, else meta's), None if not recorded."""
    if isinstance(summary.get("sending_s"), int | float) and summary["sending_s"] > 0:
        return float(summary["sending_s"])
    began, stopped = meta.get("sending_started_ns"), meta.get("sending_stopped_ns")
    if isinstance(began, int) and isinstance(stopped, int) and stopped > began:
        return (stopped - began) / 1e9
    return None


def _duration_s(meta: dict[str, Any], summary: dict[str, Any]) -> float | None:
    if isinstance(summary.get("duration_s"), int | float):
        return float(summary["duration_s"])
    started, ended = meta.get("started_ns"), meta.get("ended_ns")
    if isinstance(started, int) and isinstance(ended, int) and ended > started:
        return (ended - started) / 1e9
    duration = meta.get("duration")
    return float(duration) if isinstance(duration, int | float) else None


def _load_experiment(path: Path, meta: dict[str, Any]) -> ExperimentRun:
    results = _read_json_if_exists(path / "results.json")
    if not results or not results.get("strategies"):
        raise RunDirectoryError(f"{path}: experiment run without results.json strategies")
    divergence = {
        strategy: _read_csv(path / f"divergence-{strategy}.csv")
        for strategy in results["strategies"]
    }
    return ExperimentRun(
        path=path,
        meta=meta,
        results=results,
        timings=_read_json_if_exists(path / "timings.json") or {},
        divergence={k: v for k, v in divergence.items() if v},
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"{path}: {exc}") from None


def _read_json_if_exists(path: Path) -> Any:
    return _read_json(path) if path.is_file() else None


def _read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows with numbers parsed; an empty cell is None, a non-number stays a string."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(fh)]


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------ describing
def scenario_name(meta: dict[str, Any]) -> str:
    scenario = meta.get("scenario")
    if isinstance(scenario, dict):
        return str(scenario.get("name", "?"))
    return str(scenario) if scenario else str(meta.get("kind", "?"))


def saturation_warning(run: RealtimeRun) -> str | None:
    """The sentence every report prints when the load generator, not the server, was the limit."""
    if not run.generator_saturated:
        return None
    peak = run.meta.get("generator_peak_cpu_percent")
    seconds = run.meta.get("generator_saturated_seconds")
    details = []
    if isinstance(peak, int | float):
        details.append(f"peak {peak:.0f}% of a core")
    if isinstance(seconds, int | float):
        details.append(f"{seconds:g} s above {run.saturation_percent:.0f}%")
    detail = f" ({', '.join(details)})" if details else ""
    return (
        f"WARNING: the load generator was CPU-saturated{detail}: the bottleneck was the "
        "generator, not the server, so these latencies describe the generator. "
        "Re-run with more processes (--procs) or machines."
    )


def fmt(value: float | int | None, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not spec.endswith("%"):
        return str(value)
    return format(value, spec)


def text_table(headers: list[str], rows: list[list[str]], left: Collection[int] = (0,)) -> str:
    """A plain aligned table: the `left` columns (names, notes) left-aligned, numbers right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)]) + "\n"


EVENT_HEADERS = ["event", "count", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
EVENT_HEADERS += ["errors", "error %"]


def event_rows(run: RealtimeRun) -> list[list[str]]:
    rows = []
    for stats in run.events.values():
        rate = stats.error_rate
        rows.append(
            [
                stats.name,
                str(stats.count),
                fmt(stats.rate_per_s, ".1f"),
                fmt(stats.p50_ms),
                fmt(stats.p95_ms),
                fmt(stats.p99_ms),
                fmt(stats.max_ms),
                str(stats.errors),
                "-" if rate is None else f"{100 * rate:.2f}",
            ]
        )
    return rows


def describe_realtime(run: RealtimeRun) -> str:
    """What `python -m reports summary` prints: one screen for `make loadtest`."""
    meta = run.meta
    duration = fmt(run.duration_s, ".1f")
    head = (
        f"run {meta.get('run_id', run.path.name)}  scenario {run.scenario_name}  "
        f"target {meta.get('target', '-')}  users {meta.get('users', '-')}  "
        f"duration {duration} s  producer {meta.get('producer', '-')}\n"
    )
    parts = [head]
    profile = meta.get("target_profile")
    if isinstance(profile, dict):
        parts.append(f"target profile: {profile.get('name')} ({profile.get('reason')})\n")
        parts.extend(f"note: {note}\n" for note in profile.get("notes") or ())
    parts.append(text_table(EVENT_HEADERS, event_rows(run)))
    if run.delivery:
        totals = run.delivery.get("totals") or {}
        parts.append(
            "delivery ({method}): sent {sent}  expected {expected}  received {received}  "
            "lost {lost}  duplicates {duplicates}\n".format(
                method=run.delivery.get("method", "?"),
                **{
                    k: totals.get(k, "-")
                    for k in ("sent", "expected", "received", "lost", "duplicates")
                },
            )
        )
    if run.presence:
        parts.append(presence_line(run.presence) + "\n")
    if run.convergence:
        documents = run.convergence.get("documents") or []
        converged = sum(1 for d in documents if d.get("converged"))
        line = f"convergence: {converged}/{len(documents)} documents converged"
        diverged = [d for d in documents if (d.get("distinct_texts") or 0) > 1]
        if diverged:
            worst = max(d.get("divergence") or 0 for d in diverged)
            line += (
                f"; {len(diverged)} diverged (editors ended with up to "
                f"{max(d['distinct_texts'] for d in diverged)} different texts, mean edit "
                f"distance to the most common up to {100 * worst:.1f}%)"
            )
        parts.append(line + "\n")
    catalogue = catalogue_rows(run.events)
    if catalogue:
        parts.append("catalogue:\n" + text_table(CATALOGUE_HEADERS, catalogue, left=(0, 1)))
    warning = saturation_warning(run)
    if warning:
        parts.append(warning + "\n")
    return "".join(parts)


def presence_line(presence: dict[str, Any]) -> str:
    """users lists judged (presence.json), in one line."""
    return (
        f"users lists: {presence.get('correct', 0)}/{presence.get('checked', 0)} right "
        f"(stale users {presence.get('stale', 0)}, missing {presence.get('missing', 0)}, "
        f"wrong subject {presence.get('subject_wrong', 0)})"
    )


STRATEGY_HEADERS = ["strategy", "converged", "conv med s", "conv max s", "final div"]
STRATEGY_HEADERS += ["survival %", "interleav", "bytes/op", "up B/op", "strategy µs/op"]


def strategy_rows(run: ExperimentRun) -> list[list[str]]:
    rows = []
    for strategy in run.strategies:
        s = run.strategy_summary(strategy)
        survival = s.get("survival_mean")
        # intention metrics exist only over converged runs (results since issue 11)
        diverged = "intention_runs" in s and not s["intention_runs"]
        rows.append(
            [
                strategy,
                f"{s['converged']}/{s['runs']}",
                fmt(s.get("convergence_s_median"), ".3f"),
                fmt(s.get("convergence_s_max"), ".3f"),
                fmt(s.get("final_distance_mean"), ".4f"),
                "diverged"
                if diverged
                else fmt(None if survival is None else 100 * survival, ".1f"),
                "diverged" if diverged else fmt(s.get("interleavings_mean"), ".1f"),
                fmt(s.get("bytes_per_op_mean"), ".0f"),
                fmt(s.get("bytes_up_per_op_mean"), ".0f"),
                fmt(run.strategy_us_per_op(strategy), ".1f"),
            ]
        )
    return rows


def describe_experiment(run: ExperimentRun) -> str:
    seeds = run.meta.get("seeds") or run.results.get("parameters", {}).get("seeds") or []
    head = (
        f"experiment {run.meta.get('run_id', run.path.name)}  "
        f"strategies {', '.join(run.strategies)}  seeds {len(seeds)}\n"
    )
    return head + text_table(STRATEGY_HEADERS, strategy_rows(run))


def describe(run: Run) -> str:
    return describe_realtime(run) if isinstance(run, RealtimeRun) else describe_experiment(run)
