"""The clock a persona reads and waits on: wall time in fleets, the `Scheduler`'s in experiments.

One persona, two clocks. A bot never calls `time.time_ns()`, `trio.sleep`
or `trio.move_on_after` itself where the virtual-time runner drives it; it
asks its `BotContext.clock`:

- `now_ns()`: "now" in integer nanoseconds (scheduled send instants and
  latencies use it);
- `await sleep_until_ns(t)` / `await sleep(seconds)`: wait;
- `timeout(seconds)`: the bound to give `trio.fail_after` / `move_on_after`
  / a client's `connect_timeout`.

`RealClock` is wall time (`time.time_ns`, trio's clock for the waits).
`VirtualClock` is `simulate.network.Scheduler` time under
`trio.testing.MockClock(autojump_threshold=0)`: every wait is an entry in
the scheduler's heap, ordered by (time, sequence), because trio orders
equal deadlines arbitrarily (see simulate/network.py). So in virtual time
there is no other deadline: `timeout()` is infinite there, and a request
that never completes shows up as a run that does not become quiescent
within its grace period rather than as a timeout that raced the network.

Importing this module does not import trio (the trio imports are local).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from simulate.network import Scheduler


class Clock(Protocol):
    @property
    def virtual(self) -> bool:
        """True for virtual time (the experiment runner), False for the wall clock."""

    def now_ns(self) -> int:
        """Now, in integer nanoseconds."""

    async def sleep_until_ns(self, at_ns: int) -> None:
        """Return at `at_ns` (at once if it has passed)."""

    async def sleep(self, seconds: float) -> None: ...

    def timeout(self, seconds: float) -> float:
        """The timeout to use where real time would use `seconds`."""


@dataclass(frozen=True, slots=True)
class RealClock:
    """Wall-clock nanoseconds (comparable across processes of one host); trio does the waiting."""

    wall_offset: float = 0.0  # trio.current_time() - wall seconds
    virtual: ClassVar[bool] = False

    @classmethod
    def started(cls) -> RealClock:
        """A clock anchored to the running trio loop (call inside `trio.run`)."""
        import trio

        return cls(trio.current_time() - time.time_ns() / 1e9)

    def now_ns(self) -> int:
        return time.time_ns()

    def trio_time(self, wall_ns: int) -> float:
        return wall_ns / 1e9 + self.wall_offset

    async def sleep_until_ns(self, at_ns: int) -> None:
        import trio

        await trio.sleep_until(self.trio_time(at_ns))

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)

    def timeout(self, seconds: float) -> float:
        return seconds


class VirtualClock:
    """Virtual nanoseconds of a `Scheduler`; every wait is one of its (time, seq) entries."""

    virtual: ClassVar[bool] = True

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def now_ns(self) -> int:
        return round(self.scheduler.now() * 1e9)

    async def sleep_until_ns(self, at_ns: int) -> None:
        await self.scheduler.sleep_until(at_ns / 1e9)

    async def sleep(self, seconds: float) -> None:
        await self.scheduler.sleep(seconds)

    def timeout(self, seconds: float) -> float:
        return math.inf
