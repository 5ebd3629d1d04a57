"""Time shapes of a load scenario: think-time distributions, arrival schedules, ramps.

Pure functions of a seeded `random.Random`, with no trio or gevent import:
the trio fleet, the Locust users and virtual-time experiments share them,
so the same scenario produces the same schedule everywhere.

Open model: `arrival_times` yields the instants at which a sender *should*
send, independent of how long earlier sends took. A bot that falls behind
sends late but measures latency from the scheduled instant, so a stalled
generator or server cannot hide latency (coordinated omission).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DISTRIBUTION_KINDS = ("constant", "uniform", "exponential", "lognormal")
ARRIVALS = ("constant", "poisson")
RAMP_KINDS = ("linear", "steps")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ScheduleError(ValueError):
    """A time shape that cannot be used (bad kind, negative time, missing parameter)."""


def parse_duration(value: Any, where: str = "duration") -> float:
    """Seconds from `10`, `2.5`, "10s", "2m", "500ms", "1h"."""
    if isinstance(value, bool):
        raise ScheduleError(f"{where}: expected a duration like 10s or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ScheduleError(f"{where}: expected a duration like 10s or 2m, got {value!r}")
    if seconds < 0 or not math.isfinite(seconds):
        raise ScheduleError(f"{where}: must be a finite duration >= 0, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Distribution:
    """A random duration (or count) in seconds: constant, uniform, exponential or lognormal.

    Parameters by kind: constant `value`; uniform `low`, `high`; exponential
    `mean`; lognormal `median`, `sigma` (of the underlying normal) — the
    median is what people can guess ("about 2 s"), sigma sets the long tail.
    """

    kind: str
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    median: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTION_KINDS:
            raise ScheduleError(
                f"unknown distribution {self.kind!r} (known: {', '.join(DISTRIBUTION_KINDS)})"
            )
        for name in ("value", "low", "high", "mean", "median", "sigma"):
            number = getattr(self, name)
            if number < 0 or not math.isfinite(number):
                raise ScheduleError(f"{self.kind} distribution: {name} must be >= 0, got {number}")
        if self.kind == "uniform" and self.high < self.low:
            raise ScheduleError(f"uniform distribution: high {self.high} < low {self.low}")
        if self.kind == "exponential" and self.mean <= 0:
            raise ScheduleError("exponential distribution: mean must be > 0")
        if self.kind == "lognormal" and self.median <= 0:
            raise ScheduleError("lognormal distribution: median must be > 0")

    @classmethod
    def constant(cls, value: float) -> Distribution:
        return cls("constant", value=value)

    @classmethod
    def parse(cls, raw: Any, where: str) -> Distribution:
        """A number or duration string is a constant; a table names its kind and parameters."""
        if not isinstance(raw, Mapping):
            return cls.constant(parse_duration(raw, where))
        table = dict(raw)
        kind = table.pop("kind", None)
        if kind not in DISTRIBUTION_KINDS:
            raise ScheduleError(
                f"{where}: kind must be one of {', '.join(DISTRIBUTION_KINDS)}, got {kind!r}"
            )
        needed = {
            "constant": {"value"},
            "uniform": {"low", "high"},
            "exponential": {"mean"},
            "lognormal": {"median", "sigma"},
        }[kind]
        unknown = set(table) - needed
        missing = needed - set(table)
        if unknown or missing:
            raise ScheduleError(
                f"{where}: a {kind} distribution takes {', '.join(sorted(needed))}"
                + (f"; unknown {', '.join(sorted(unknown))}" if unknown else "")
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
            )
        values = {key: parse_duration(value, f"{where}.{key}") for key, value in table.items()}
        try:
            return cls(kind, **values)
        except ScheduleError as exc:
            raise ScheduleError(f"{where}: {exc}") from None

    def sample(self, rng: random.Random) -> float:
        if self.kind == "constant":
            return self.value
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean)
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def as_dict(self) -> dict[str, Any]:
        params = {
            "constant": ("value",),
            "uniform": ("low", "high"),
            "exponential": ("mean",),
            "lognormal": ("median", "sigma"),
        }[self.kind]
        return {"kind": self.kind, **{name: getattr(self, name) for name in params}}


def arrival_times(
    rng: random.Random, rate: float, arrival: str, start_ns: int, stop_ns: int
) -> Iterator[int]:
    """Scheduled send instants (ns, same clock as `start_ns`) for one sender at `rate`/s.

    Constant arrivals start at a random phase so that a thousand senders
    started together do not fire in lockstep.
    """
    if rate <= 0:
        return
    if arrival not in ARRIVALS:
        raise ScheduleError(f"unknown arrival {arrival!r} (known: {', '.join(ARRIVALS)})")
    interval_ns = 1e9 / rate
    t = float(start_ns)
    if arrival == "constant":
        t += rng.random() * interval_ns
    while True:
        if arrival == "poisson":
            t += rng.expovariate(rate) * 1e9
        scheduled = int(t)
        if scheduled >= stop_ns:
            return
        yield scheduled
        if arrival == "constant":
            t += interval_ns


@dataclass(frozen=True, slots=True)
class Ramp:
    """How users arrive: `linear` over `over` seconds, or `steps` of (at seconds, fraction).

    Fractions rather than user counts, so that `--users` rescales a ramp
    without rewriting it. A linear ramp over 0 s starts everyone at once
    (bounded only by the fleet's connect concurrency).
    """

    kind: str = "linear"
    over: float = 0.0
    steps: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in RAMP_KINDS:
            raise ScheduleError(f"unknown ramp {self.kind!r} (known: {', '.join(RAMP_KINDS)})")
        if self.over < 0:
            raise ScheduleError("ramp: over must be >= 0")
        if self.kind == "steps":
            if not self.steps:
                raise ScheduleError("ramp: a steps ramp needs at least one [at, fraction] step")
            previous = (-1.0, 0.0)
            for at, fraction in self.steps:
                if at < 0 or not 0 < fraction <= 1:
                    raise ScheduleError(f"ramp step [{at}, {fraction}]: need at >= 0, 0 < f <= 1")
                if at <= previous[0] or fraction < previous[1]:
                    raise ScheduleError("ramp steps must be in increasing time and fraction")
                previous = (at, fraction)
            if self.steps[-1][1] != 1.0:
                raise ScheduleError("ramp: the last step must reach fraction 1.0 (all users)")

    @classmethod
    def parse(cls, raw: Any, where: str = "ramp") -> Ramp:
        """`"10s"` (linear), a table `{kind, over | steps}`, or the CLI's `0s:0.5,5s:1`."""
        if isinstance(raw, Mapping):
            table = dict(raw)
            kind = table.pop("kind", "linear")
            over = parse_duration(table.pop("over", 0), f"{where}.over")
            steps = tuple(
                (parse_duration(at, f"{where}.steps"), float(fraction))
                for at, fraction in table.pop("steps", ())
            )
            if table:
                raise ScheduleError(f"{where}: unknown keys {', '.join(sorted(table))}")
            return cls(kind, over, steps)
        if isinstance(raw, str) and ":" in raw:
            points: list[tuple[float, float]] = []
            for part in raw.split(","):
                at, _, fraction = part.partition(":")
                try:
                    points.append((parse_duration(at, where), float(fraction)))
                except ValueError:
                    raise ScheduleError(f"{where}: bad step {part!r} (want 5s:0.5)") from None
            return cls("steps", 0.0, tuple(points))
        return cls("linear", parse_duration(raw, where))

    def start_offsets(self, users: int) -> list[float]:
        """Seconds after the run's start at which the k-th arriving user connects."""
        if self.kind == "linear":
            return [self.over * k / users for k in range(users)]
        offsets: list[float] = []
        for at, fraction in self.steps:
            target = round(fraction * users)
            offsets.extend([at] * (target - len(offsets)))
        return offsets[:users]

    def scaled(self, factor: float) -> Ramp:
        steps = tuple((at * factor, fraction) for at, fraction in self.steps)
        return Ramp(self.kind, self.over * factor, steps)

    @property
    def length(self) -> float:
        return self.over if self.kind == "linear" else self.steps[-1][0]

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "linear":
            return {"kind": "linear", "over": self.over}
        return {"kind": "steps", "steps": [list(step) for step in self.steps]}
