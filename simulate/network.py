"""A seeded network model for virtual-time simulation: latency, jitter, partitions.

Why our own scheduler: under `trio.testing.MockClock(autojump_threshold=0)`
every sleep is free, but trio breaks ties between equal deadlines by object
id, which differs from run to run. So in a simulation the `Scheduler` is the
only owner of a deadline: message deliveries and bot think-times are entries
in one heap ordered by (time, sequence number), and callbacks run in that
order. Together with an inline store and a seeded trio scheduler, the same
seed gives the same event order and the same numbers.

Each client connection is two `Path`s (client→server, server→client). A
path keeps FIFO order, as TCP does: a message never overtakes the previous
one. During a partition a path holds its messages and releases them when
the partition heals (a stalled TCP connection), so a client keeps editing
offline and syncs on reconnect.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Protocol

import trio

from simulate.client import NotConnected


class Scheduler:
    """Virtual-time event queue (see the module docstring for why it exists)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._lot = trio.lowlevel.ParkingLot()
        self.events = 0

    def now(self) -> float:
        return trio.current_time()

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        self._seq += 1
        first = not self._heap or when < self._heap[0][0]
        heapq.heappush(self._heap, (when, self._seq, callback))
        if first:
            self._lot.unpark_all()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.call_at(self.now() + max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        await self.sleep_until(self.now() + max(0.0, delay))

    async def sleep_until(self, when: float) -> None:
        """Wait as a heap entry (never as a trio deadline): see the module docstring."""
        done = trio.Event()
        self.call_at(when, done.set)
        await done.wait()

    async def run(self) -> None:
        heap = self._heap
        while True:
            if not heap:
                await self._lot.park()
                continue
            when = heap[0][0]
            if when > self.now():
                with trio.move_on_at(when):
                    await self._lot.park()
                continue
            # run everything due now, in (time, seq) order
            while heap and heap[0][0] <= self.now():
                _, _, callback = heapq.heappop(heap)
                self.events += 1
                callback()
            await trio.lowlevel.checkpoint()


# ------------------------------------------------------------------- latency


class Latency(Protocol):
    def sample(self, rng: random.Random) -> float:
        """One one-way delay in seconds (>= 0)."""


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    seconds: float

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True, slots=True)
class NormalLatency:
    mean: float
    stdev: float

    def sample(self, rng: random.Random) -> float:
        return max(0.0, rng.gauss(self.mean, self.stdev))


@dataclass(frozen=True, slots=True)
class LogNormalLatency:
    """Heavy right tail, as real networks have; `median` in seconds, `sigma` of the log."""

    median: float
    sigma: float

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


@dataclass(frozen=True, slots=True)
class EmpiricalLatency:
    """Delays drawn from measured samples (one number of milliseconds per line)."""

    samples: tuple[float, ...]

    @classmethod
    def from_file(cls, path: str | FilePath) -> EmpiricalLatency:
        values = []
        for line in FilePath(path).read_text().split():
            values.append(float(line) / 1000)
        if not values:
            raise ValueError(f"no latency samples in {path}")
        return cls(tuple(values))

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.samples)


@dataclass(frozen=True, slots=True)
class Jittered:
    """A base latency plus uniform jitter in [-jitter, +jitter], never below zero."""

    base: Latency
    jitter: float

    def sample(self, rng: random.Random) -> float:
        return max(0.0, self.base.sample(rng) + rng.uniform(-self.jitter, self.jitter))


@dataclass(frozen=True, slots=True)
class Partition:
    """Clients (None: everyone) cut off from the server during [start, start + duration)."""

    start: float
    duration: float
    clients: frozenset[str] | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    def affects(self, client: str) -> bool:
        return self.clients is None or client in self.clients


# ---------------------------------------------------------------------- paths
Message = str | bytes | None  # a frame on a path (None: the connection closes)


@dataclass(slots=True)
class Path:
    """One direction of one connection: FIFO, delayed, held during partitions."""

    network: Network
    client: str
    deliver: Callable[[Message], None]
    rng: random.Random
    last_arrival: float = 0.0
    messages: int = 0
    bytes: int = 0

    def send(self, message: Message) -> None:
        net = self.network
        now = net.scheduler.now()
        arrival = now + net.latency.sample(self.rng)
        # a partition that holds the message may push it into another one (they may
        # overlap, in any order): repeat until no partition moves it. Each partition
        # moves it at most once (its arrival is then past that partition's end).
        held: set[int] = set()
        moved = True
        while moved:
            moved = False
            for index, partition in enumerate(net.partitions):
                if (
                    index not in held
                    and partition.affects(self.client)
                    and partition.start <= arrival
                    and now < partition.end
                ):
                    held.add(index)
                    arrival = max(arrival, partition.end + net.latency.sample(self.rng))
                    moved = True
        arrival = max(arrival, self.last_arrival)
        self.last_arrival = arrival
        if message is not None:
            self.messages += 1
            self.bytes += len(message.encode() if isinstance(message, str) else message)
        net.scheduler.call_at(arrival, lambda: self.deliver(message))


class MemoryLink:
    """The client's end of a simulated connection (implements simulate.client.Link)."""

    def __init__(self) -> None:
        self.closed = False
        self._send, self._receive = trio.open_memory_channel[str | bytes | None](math.inf)
        self.up: Path | None = None

    def receive(self, message: str | bytes | None) -> None:
        if not self.closed:
            self._send.send_nowait(message)

    async def send(self, message: str | bytes) -> None:
        if self.closed or self.up is None:
            raise NotConnected("link closed")
        self.up.send(message)
        await trio.lowlevel.checkpoint()

    async def messages(self) -> AsyncIterator[str | bytes]:
        async for message in self._receive:
            if message is None:
                self.closed = True
                return
            yield message

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.up is not None:
                self.up.send(None)
            self._send.send_nowait(None)

    async def aclose(self) -> None:
        self.abort()
        await trio.lowlevel.checkpoint()


@dataclass
class Network:
    """Connects simulated clients to an in-process server through seeded paths."""

    scheduler: Scheduler
    latency: Latency
    seed: int
    partitions: Sequence[Partition] = ()
    paths: list[Path] = field(default_factory=list)

    def open_link(self, server: object, client: str) -> MemoryLink:
        """A new connection from `client` to `server` (a ReferenceServer serving in memory)."""
        link = MemoryLink()
        n = len(self.paths)
        down = Path(self, client, link.receive, random.Random(f"{self.seed}:{client}:{n}:down"))
        to_server = server.connect_in_memory(down.send)  # type: ignore[attr-defined]
        up = Path(self, client, to_server, random.Random(f"{self.seed}:{client}:{n}:up"))
        link.up = up
        self.paths.extend((up, down))
        return link

    def link_factory(self, server: object, client: str) -> Callable[[], Awaitable[MemoryLink]]:
        async def open_link() -> MemoryLink:
            await trio.lowlevel.checkpoint()
            return self.open_link(server, client)

        return open_link

    def bytes_by_client(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for path in self.paths:
            totals[path.client] = totals.get(path.client, 0) + path.bytes
        return totals
