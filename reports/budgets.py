"""`python -m reports check RUN_DIR --budgets budgets.toml`: latency budgets that fail CI.

A budget file names the scenario it was calibrated on and gives per-event
limits. Limits only mean something for the load they were measured under,
so a run of another scenario (or other users/duration, when the file pins
them) fails the check instead of passing or failing by accident. Format::

    [scenario]                  # what the budgets apply to
    name = "smoke"              # must equal meta.scenario.name
    users = 12                  # optional: must equal meta.users
    duration = "3s"             # optional: must equal meta.duration ("3s", "500ms", 3)
    allow_saturated_generator = false   # default false: a saturated generator fails

    [defaults]                  # optional, merged into every [events.*] table
    max_error_rate = 0.01

    [events."chat.echo"]        # event names exactly as in the run directory
    p50_ms = 50                 # upper limits on latency percentiles / max
    p95_ms = 150
    p99_ms = 300
    max_ms = 1000
    max_error_rate = 0.01       # errors / (samples + errors), 0..1
    min_count = 10              # at least this many samples
    min_rate_per_s = 2.0        # at least this many samples per second
    required = true             # default true: an absent event is a violation

    [delivery]                  # optional, when the run has delivery.json
    max_lost = 0
    max_duplicates = 0

Unknown keys are an error (exit 2): a misspelt `p99ms` would otherwise
silently check nothing, which is the worst thing a CI gate can do.

A budgeted event with no samples fails every limit it has ("no samples to
measure"), whether or not it is `required`. The one exception is an event
the run's target profile cannot produce (meta.json
`target_profile.unmeasured_events`: the acks of a server that sends none,
like the tutorial's): its row reads SKIP, with the reason. And when nothing
the budgets constrain was measured at all, the check fails on its own row
— a run that measured nothing never passes.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.summary import RealtimeRun, fmt, text_table
from simulate.vocabulary import CONNECTION_METRICS

#: metric key in the budget file -> (metric on EventStats, "max" or "min" limit)
EVENT_LIMITS: dict[str, tuple[str, str]] = {
    "p50_ms": ("p50_ms", "max"),
    "p95_ms": ("p95_ms", "max"),
    "p99_ms": ("p99_ms", "max"),
    "max_ms": ("max_ms", "max"),
    "max_error_rate": ("error_rate", "max"),
    "min_count": ("count", "min"),
    "min_rate_per_s": ("rate_per_s", "min"),
}
DELIVERY_LIMITS = {"max_lost": "lost", "max_duplicates": "duplicates"}
SCENARIO_KEYS = {"name", "users", "duration", "allow_saturated_generator", "description"}


class BudgetError(Exception):
    """The budget file cannot be used (the CLI exits 2 with this message)."""


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str | None = None
    users: int | None = None
    duration_s: float | None = None
    allow_saturated_generator: bool = False


@dataclass(frozen=True, slots=True)
class EventBudget:
    event: str
    limits: dict[str, float]
    required: bool = True


@dataclass(frozen=True, slots=True)
class Budgets:
    scenario: ScenarioSpec
    events: dict[str, EventBudget]
    delivery: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One row of the check table."""

    subject: str
    metric: str
    limit: str
    measured: str
    passed: bool
    note: str = ""
    skipped: bool = False  # not applicable to this run (its target profile cannot measure it)


# ------------------------------------------------------------------ reading the file
def load_budgets(path: str | Path) -> Budgets:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise BudgetError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"{path}: {exc}") from None
    return parse_budgets(data, str(path))


def parse_budgets(data: dict[str, Any], source: str = "budgets") -> Budgets:
    unknown = set(data) - {"scenario", "meta", "defaults", "events", "delivery"}
    if unknown:
        raise BudgetError(f"{source}: unknown tables {sorted(unknown)}")
    scenario = _parse_scenario(data.get("scenario") or data.get("meta") or {}, source)
    defaults = data.get("defaults") or {}
    _check_event_keys(defaults, f"{source} [defaults]")
    events: dict[str, EventBudget] = {}
    for event, table in (data.get("events") or {}).items():
        if not isinstance(table, dict):
            raise BudgetError(f'{source}: [events."{event}"] must be a table')
        _check_event_keys(table, f'{source} [events."{event}"]')
        merged = {**defaults, **table}
        required = merged.pop("required", True)
        limits = {
            key: _number(merged[key], f"{source} {event}.{key}")
            for key in EVENT_LIMITS  # a stable order: latencies first, then errors, volume
            if key in merged
        }
        events[event] = EventBudget(event, limits, bool(required))
    delivery = data.get("delivery") or {}
    bad = set(delivery) - set(DELIVERY_LIMITS)
    if bad:
        raise BudgetError(f"{source} [delivery]: unknown keys {sorted(bad)}")
    if not events and not delivery:
        raise BudgetError(f"{source}: no [events.*] budgets")
    return Budgets(
        scenario,
        events,
        {key: _number(value, f"{source} delivery.{key}") for key, value in delivery.items()},
    )


def _parse_scenario(table: dict[str, Any], source: str) -> ScenarioSpec:
    bad = set(table) - SCENARIO_KEYS - {"scenario"}
    if bad:
        raise BudgetError(f"{source} [scenario]: unknown keys {sorted(bad)}")
    name = table.get("name", table.get("scenario"))
    duration = table.get("duration")
    return ScenarioSpec(
        name=None if name is None else str(name),
        users=None if table.get("users") is None else int(table["users"]),
        duration_s=None if duration is None else parse_duration(duration),
        allow_saturated_generator=bool(table.get("allow_saturated_generator", False)),
    )


def _check_event_keys(table: dict[str, Any], where: str) -> None:
    bad = set(table) - set(EVENT_LIMITS) - {"required"}
    if bad:
        known = ", ".join([*EVENT_LIMITS, "required"])
        raise BudgetError(f"{where}: unknown keys {sorted(bad)} (known: {known})")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise BudgetError(f"{where}: expected a number, got {value!r}")
    return float(value)


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from 3, 2.5, "3s", "500ms", "2m" or "1h"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise BudgetError(f"bad duration {value!r} (want e.g. 3s, 500ms, 2m)")
    unit = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[match.group(2)]
    return float(match.group(1)) * unit


# ------------------------------------------------------------------ checking
def check_run(run: RealtimeRun, budgets: Budgets) -> list[Verdict]:
    verdicts = _scenario_verdicts(run, budgets.scenario)
    profile = run.meta.get("target_profile") or {}
    unmeasurable = set(profile.get("unmeasured_events") or ())
    measured = 0
    for event, budget in budgets.events.items():
        stats = run.events.get(event)
        if (stats is None or stats.count == 0) and event in unmeasurable:
            verdicts.append(
                Verdict(
                    event,
                    "present",
                    "n/a",
                    "not measured",
                    True,
                    f"the {profile.get('name')} profile cannot measure it (no acks)",
                    skipped=True,
                )
            )
            continue
        if stats is not None and stats.count and event not in CONNECTION_METRICS:
            measured += 1  # a connection alone proves nothing
        if stats is None:
            if budget.required:
                verdicts.append(
                    Verdict(
                        event,
                        "present",
                        "required",
                        "missing",
                        False,
                        f"event {event!r} has a budget but the run recorded neither samples "
                        "nor errors for it",
                    )
                )
            continue
        for key, limit in budget.limits.items():
            metric, direction = EVENT_LIMITS[key]
            value = stats.metric(metric)
            if value is None:
                verdicts.append(
                    Verdict(event, key, _show(key, limit), "-", False, "no samples to measure")
                )
                continue
            passed = value <= limit if direction == "max" else value >= limit
            verdicts.append(Verdict(event, key, _show(key, limit), _show(key, value), passed))
    verdicts += _delivery_verdicts(run, budgets.delivery)
    if any(e not in CONNECTION_METRICS for e in budgets.events) and not measured:
        verdicts.append(
            Verdict(
                "run",
                "samples",
                "> 0",
                "0",
                False,
                "no budgeted event but connect has a sample: the run measured nothing",
            )
        )
    return verdicts


def _scenario_verdicts(run: RealtimeRun, spec: ScenarioSpec) -> list[Verdict]:
    verdicts = []
    if spec.name is not None:
        actual = run.scenario_name
        verdicts.append(
            Verdict(
                "scenario",
                "name",
                spec.name,
                actual,
                actual == spec.name,
                "" if actual == spec.name else "budgets were calibrated on another scenario",
            )
        )
    if spec.users is not None:
        users = run.meta.get("users")
        verdicts.append(
            Verdict("scenario", "users", str(spec.users), str(users), users == spec.users)
        )
    if spec.duration_s is not None:
        duration = _meta_duration(run)
        same = duration is not None and abs(duration - spec.duration_s) < 1e-6
        verdicts.append(
            Verdict("scenario", "duration", f"{spec.duration_s:g}s", f"{fmt(duration, 'g')}s", same)
        )
    saturated = run.generator_saturated
    verdicts.append(
        Verdict(
            "generator",
            "saturated",
            "allowed" if spec.allow_saturated_generator else "no",
            "yes" if saturated else "no",
            spec.allow_saturated_generator or not saturated,
            "the generator, not the server, was the bottleneck: latencies are not the server's"
            if saturated
            else "",
        )
    )
    return verdicts


def _meta_duration(run: RealtimeRun) -> float | None:
    duration = run.meta.get("duration")
    if duration is None and isinstance(run.meta.get("scenario"), dict):
        duration = run.meta["scenario"].get("duration")
    try:
        return None if duration is None else parse_duration(duration)
    except BudgetError:
        return None


def _delivery_verdicts(run: RealtimeRun, limits: dict[str, float]) -> list[Verdict]:
    if not limits:
        return []
    if not run.delivery:
        return [
            Verdict(
                "delivery",
                key,
                f"{limit:g}",
                "-",
                True,
                "no delivery.json in this run: not checked",
            )
            for key, limit in limits.items()
        ]
    totals = run.delivery.get("totals") or {}
    verdicts = []
    for key, limit in limits.items():
        value = totals.get(DELIVERY_LIMITS[key])
        passed = value is not None and value <= limit
        verdicts.append(Verdict("delivery", key, f"{limit:g}", fmt(value, "g"), passed))
    return verdicts


def _show(key: str, value: float) -> str:
    if key == "max_error_rate":
        return f"{100 * value:.2f}%"
    if key == "min_count":
        return f"{value:g}"
    return f"{value:.2f}/s" if key == "min_rate_per_s" else f"{value:.2f} ms"


def format_verdicts(verdicts: list[Verdict]) -> str:
    rows = [[v.subject, v.metric, v.limit, v.measured, _verdict_word(v), v.note] for v in verdicts]
    headers = ["event", "metric", "limit", "measured", "verdict", "note"]
    table = text_table(headers, rows, left=(0, 1, 5))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        names = ", ".join(f"{v.subject} {v.metric}" for v in failed)
        return table + f"\nFAIL: {len(failed)} budget violation(s): {names}\n"
    skipped = sum(v.skipped for v in verdicts)
    checked = len(verdicts) - skipped
    note = f" ({skipped} not applicable to this target profile)" if skipped else ""
    return table + f"\nPASS: all {checked} checks within budget{note}\n"


def _verdict_word(verdict: Verdict) -> str:
    if verdict.skipped:
        return "SKIP"
    return "PASS" if verdict.passed else "FAIL"
