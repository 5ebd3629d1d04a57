"""`python -m reports compare BASE_RUN NEW_RUN --max-regression 20%`: did this change make it worse?

Per event present in the base run, it compares p50/p95/p99 latency,
throughput (samples per second) and error rate. A metric *regresses* when
it moves the bad way by more than the relative threshold R **and** by more
than an absolute noise floor — both, because each alone misfires:

- latency p50/p95/p99: `new > base * (1 + R)` and `new - base > --min-delta-ms`
  (default 1 ms): 0.3 ms → 0.5 ms is +67 % but nobody's problem.
- throughput (rate/s): `new < base * (1 - R)` and `base - new > --min-delta-rate`
  (default 0.5/s): rare events (a reconnect every few seconds) are noisy.
- error rate (errors / attempts): `new - base > --min-delta-error-rate`
  (absolute, default 0.005 = 0.5 percentage points) and `new > base * (1 + R)`:
  0 % → 0.1 % is one unlucky request, not a regression.
- an event of the base run that is absent from the new run is a regression;
  an event only the new run has is listed, never a failure.

Improvements never fail. The exit code is 1 when anything regressed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from reports.summary import EventStats, RealtimeRun, fmt, text_table

LATENCY_METRICS = ("p50_ms", "p95_ms", "p99_ms")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How much worse is still noise (see the module docstring for the rule)."""

    max_regression: float = 0.20
    min_delta_ms: float = 1.0
    min_delta_rate: float = 0.5
    min_delta_error_rate: float = 0.005


@dataclass(frozen=True, slots=True)
class Change:
    event: str
    metric: str
    base: str
    new: str
    change: str
    regressed: bool
    note: str = ""


def parse_ratio(text: str) -> float:
    """`20%` or `0.2` → 0.2; a bare number ≥ 1 is read as a percentage (`20` → 0.2)."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100
        else:
            value = float(raw)
            value = value / 100 if value >= 1 else value
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad threshold {text!r} (want e.g. 20%)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"threshold must not be negative: {text!r}")
    return value


def compare_runs(base: RealtimeRun, new: RealtimeRun, tolerance: Tolerance) -> list[Change]:
    changes: list[Change] = []
    for name, before in base.events.items():
        after = new.events.get(name)
        if after is None:
            changes.append(
                Change(name, "present", "yes", "missing", "", True, "event absent from new run")
            )
            continue
        for metric in LATENCY_METRICS:
            changes.append(_latency_change(before, after, metric, tolerance))
        changes.append(_throughput_change(before, after, tolerance))
        changes.append(_error_rate_change(before, after, tolerance))
    for name in sorted(set(new.events) - set(base.events)):
        changes.append(Change(name, "present", "missing", "yes", "", False, "new event"))
    return changes


def _relative(base: float, new: float) -> str:
    if base == 0:
        return "0%" if new == 0 else "new"
    return f"{100 * (new - base) / base:+.1f}%"


def _latency_change(
    before: EventStats, after: EventStats, metric: str, tolerance: Tolerance
) -> Change:
    old, new = before.metric(metric), after.metric(metric)
    if old is None or new is None:
        lost = old is not None and new is None
        note = "no samples in new run" if lost else "no samples"
        return Change(before.name, metric, fmt(old), fmt(new), "", lost, note)
    relative_bad = new > old * (1 + tolerance.max_regression)
    absolute_bad = new - old > tolerance.min_delta_ms
    note = "below --min-delta-ms" if relative_bad and not absolute_bad else ""
    return Change(
        before.name,
        metric,
        fmt(old),
        fmt(new),
        _relative(old, new),
        relative_bad and absolute_bad,
        note,
    )


def _throughput_change(before: EventStats, after: EventStats, tolerance: Tolerance) -> Change:
    old, new = before.rate_per_s, after.rate_per_s
    if old is None or new is None:
        return Change(before.name, "rate_per_s", fmt(old), fmt(new), "", False, "no duration")
    relative_bad = new < old * (1 - tolerance.max_regression)
    absolute_bad = old - new > tolerance.min_delta_rate
    note = "below --min-delta-rate" if relative_bad and not absolute_bad else ""
    return Change(
        before.name,
        "rate_per_s",
        fmt(old),
        fmt(new),
        _relative(old, new),
        relative_bad and absolute_bad,
        note,
    )


def _error_rate_change(before: EventStats, after: EventStats, tolerance: Tolerance) -> Change:
    old, new = before.error_rate or 0.0, after.error_rate or 0.0
    absolute_bad = new - old > tolerance.min_delta_error_rate
    relative_bad = new > old * (1 + tolerance.max_regression)
    note = "below --min-delta-error-rate" if new > old and not absolute_bad else ""
    return Change(
        before.name,
        "error_rate",
        f"{100 * old:.2f}%",
        f"{100 * new:.2f}%",
        f"{100 * (new - old):+.2f} pp",
        absolute_bad and relative_bad,
        note,
    )


def format_changes(changes: list[Change], base: RealtimeRun, new: RealtimeRun) -> str:
    head = f"base {base.path}\nnew  {new.path}\n"
    if base.scenario_name != new.scenario_name:
        head += (
            f"warning: comparing different scenarios ({base.scenario_name} vs "
            f"{new.scenario_name})\n"
        )
    rows = [
        [c.event, c.metric, c.base, c.new, c.change, "FAIL" if c.regressed else "PASS", c.note]
        for c in changes
    ]
    headers = ["event", "metric", "base", "new", "change", "verdict", "note"]
    table = text_table(headers, rows, left=(0, 1, 6))
    regressed = [c for c in changes if c.regressed]
    if regressed:
        names = ", ".join(f"{c.event} {c.metric}" for c in regressed)
        return head + table + f"\nFAIL: {len(regressed)} regression(s): {names}\n"
    return head + table + "\nPASS: no regression beyond the threshold\n"
