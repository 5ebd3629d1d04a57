"""Editing experiments in virtual time: the real server, the fleet's editor bots, a model network.

One `run_simulation(config)` hosts the reference server in-process and runs
`config.editors` of the real-time fleet's own `editor` persona
(simulate/personas.py) against it: each bot gets a `BotContext` whose clock
is a `VirtualClock` and whose connections are `simulate.network` links
(seeded latency per path, partitions that hold messages until they heal).
The editors type words into one shared document under one conflict
strategy (simulate/typing_model.py), and the run measures divergence,
convergence and intention (see `simulate.metrics`).

Everything runs under `trio.testing.MockClock(autojump_threshold=0)`:
minutes of typing take a fraction of a second. Same config → byte-identical
`SimulationResult.as_dict()`, because every source of nondeterminism is
pinned:

- trio's scheduler shuffles runnable tasks with `trio._core._run._r`: it is
  seeded from the run's seed for the duration of the run, then restored;
- equal trio deadlines wake in an arbitrary order: only the `Scheduler`
  owns deadlines. The persona waits through its clock (scheduler entries),
  its timeouts are infinite in virtual time (`VirtualClock.timeout`), the
  cohort barrier and the observer's `wait_all_tasks_blocked` involve no
  deadline;
- every random choice draws from a `random.Random` seeded with a string
  derived from the run's seed (string seeds hash with SHA-512, not with the
  per-process `hash()`), and no result iterates over a set of strings;
- wall-clock values the server adds (`timestamp`, `lastSeen`) never reach
  the results; the store is inline and in memory (no thread), the
  heartbeat is off (no ping timers); the bots' recorder reads the virtual
  clock.

What the experiment sets on the persona (`editor_params`): a budget of
`config.ops` keystrokes, no cursor updates and no `sentAt` stamps in ops,
so that bytes per op compare the strategies' own encodings.

Times in results are virtual seconds since editing started (after every
editor has joined: the bots form a `Cohort`), so partitions given as
`5s@10s` mean 10 s into the typing.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import trio
import trio.testing

from server.app import ReferenceServer
from server.config import ServerConfig
from simulate import metrics
from simulate.clock import VirtualClock
from simulate.network import Latency, MemoryLink, Network, Partition, Path, Scheduler
from simulate.personas import (
    BotContext,
    Cohort,
    FleetPhases,
    FleetShared,
    MeasuredDocumentSession,
    editor,
)
from simulate.recording import DeliveryLog, Recorder
from simulate.scenarios import BotPlan, EditorParams, PersonaSpec
from simulate.strategy_timer import timed_strategy
from simulate.typing_model import TypingEditor, TypingModel, follow

__all__ = [
    "Measured",
    "SimulationConfig",
    "SimulationResult",
    "TypingModel",  # re-exported: simulate/typing_model.py
    "editor_name",
    "editor_params",
    "follow",  # re-exported: simulate/typing_model.py
    "run_simulation",
]

RUN_TAG = "sim"  # bots are sim-u0, sim-u1, ...; the document is sim-doc0
_NEVER = 2**62  # "no stop" for the sending phase, in ns: the keystroke budget ends it
_PATIENT = 1e9  # the server's ping interval (the heartbeat is off anyway)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    strategy: str
    seed: int
    latency: Latency
    editors: int = 4
    ops: int = 100  # keystrokes per editor
    typing: TypingModel = field(default_factory=TypingModel)
    # times relative to the start of editing; clients None = everyone
    partitions: tuple[Partition, ...] = ()
    sample_interval: float = 0.1  # divergence series resolution (virtual s)
    # Edit distances cost milliseconds each (texts of thousands of characters),
    # so they are computed on every `distance_every`-th sample only.
    distance_every: int = 5
    check_interval: float = 0.01  # convergence-time resolution after the last op
    grace: float = 60.0  # longest wait for quiescence after the last op


@dataclass(slots=True)
class SimulationResult:
    """What one run measured; `as_dict` is deterministic (no wall clock, no CPU time)."""

    strategy: str
    seed: int
    converged: bool
    quiescent: bool  # False: the grace period ended with work still in flight
    convergence_s: float | None  # from the last op until every text equals the server's
    last_op_s: float
    duration_s: float  # virtual seconds of editing plus settling
    ops: int
    skipped_ops: int  # backspaces that found someone else's character before the caret
    rejected_ops: int  # ops the server refused (naive: a position out of the server's range)
    bytes: int  # both directions, every path, handshakes included
    bytes_up: int  # client -> server only: what the ops themselves cost
    messages: int
    scheduler_events: int
    server_length: int
    final_distinct_texts: int
    final_distance: float
    survival: dict[str, float | None]
    interleavings: int
    # (t, distinct texts, mean normalized distance or None between distance samples)
    series: list[tuple[float, int, float | None]]

    @property
    def survival_mean(self) -> float | None:
        values = [v for v in self.survival.values() if v is not None]
        return sum(values) / len(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "converged": self.converged,
            "quiescent": self.quiescent,
            "convergence_s": self.convergence_s,
            "last_op_s": self.last_op_s,
            "duration_s": self.duration_s,
            "ops": self.ops,
            "skipped_ops": self.skipped_ops,
            "rejected_ops": self.rejected_ops,
            "bytes": self.bytes,
            "bytes_per_op": round(self.bytes / self.ops, 3) if self.ops else None,
            "bytes_up": self.bytes_up,
            "bytes_up_per_op": round(self.bytes_up / self.ops, 3) if self.ops else None,
            "messages": self.messages,
            "scheduler_events": self.scheduler_events,
            "server_length": self.server_length,
            "final_distinct_texts": self.final_distinct_texts,
            "final_distance": self.final_distance,
            "survival": self.survival,
            "survival_mean": _round(self.survival_mean),
            "interleavings": self.interleavings,
        }


@dataclass(frozen=True, slots=True)
class Measured:
    """A result plus what varies between identical runs (kept out of results.json)."""

    result: SimulationResult
    cpu_s: float  # the whole simulation: server, clients, network model, metrics
    metrics_cpu_s: float  # of which divergence sampling (edit distances)
    wall_s: float
    strategy_cpu_s: float = 0.0  # inside the strategy's own calls only (simulate.strategy_timer)


def run_simulation(config: SimulationConfig) -> Measured:
    """Run one experiment in virtual time; deterministic for a given config."""
    from trio._core import _run as trio_run

    saved = trio_run._r.getstate()
    trio_run._r.seed(f"trio:{config.seed}")
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        with timed_strategy(config.strategy) as strategy_clock:
            result, metrics_cpu = trio.run(
                _simulate, config, clock=trio.testing.MockClock(autojump_threshold=0)
            )
    finally:
        trio_run._r.setstate(saved)
    return Measured(
        result,
        time.process_time() - cpu,
        metrics_cpu,
        time.perf_counter() - wall,
        strategy_cpu_s=strategy_clock.seconds,
    )


# ------------------------------------------------------------------ the run


def editor_name(index: int) -> str:
    """How results and partitions name editor `index` (0-based)."""
    return f"editor-{index + 1}"


def editor_params(config: SimulationConfig) -> EditorParams:
    """The fleet's editor persona, set up for an experiment (see the module docstring)."""
    # every TypingModel field (rate, arrival, word shape) is an EditorParams field too
    return EditorParams(
        strategy=config.strategy, cursor_ratio=0.0, keystrokes=config.ops, **asdict(config.typing)
    )


@dataclass
class _Run:
    config: SimulationConfig
    scheduler: Scheduler
    network: Network
    server: ReferenceServer
    document: str = f"{RUN_TAG}-doc0"
    sessions: list[MeasuredDocumentSession] = field(default_factory=list)  # editor order
    start: float = 0.0
    samples: int = 0
    metrics_cpu: float = 0.0
    series: list[tuple[float, int, float | None]] = field(default_factory=list)

    def begin(self, shared: FleetShared) -> None:
        """Every editor has joined: editing starts now, and partitions count from here."""
        order = self.user_order
        joined = shared.documents.sessions[self.document]
        self.sessions = sorted(joined, key=lambda session: order[session.user_id])
        self.start = self.scheduler.now()
        self.network.partitions = [
            replace(partition, start=self.start + partition.start)
            for partition in self.config.partitions
        ]

    @property
    def user_order(self) -> dict[str, int]:
        """Editor index by the session's user id."""
        return {f"{RUN_TAG}-u{i}": i for i in range(self.config.editors)}

    @property
    def editors(self) -> dict[str, TypingEditor]:
        """Who typed, by editor name (from the session's user id, not its list position)."""
        order = self.user_order
        return {
            editor_name(order[session.user_id]): session.typist
            for session in self.sessions
            if session.typist is not None
        }

    @property
    def last_op(self) -> float:
        edits = [s.last_edit_ns for s in self.sessions if s.last_edit_ns is not None]
        return max(edits) / 1e9 if edits else self.start

    def server_text(self) -> str:
        return self.server.documents.documents[self.document].server.text()

    def texts(self) -> list[str]:
        return [session.text for session in self.sessions]

    def in_flight(self) -> bool:
        now = self.scheduler.now()
        return any(path.last_arrival > now for path in self.network.paths)

    def quiescent(self) -> bool:
        return not self.in_flight() and all(session.idle for session in self.sessions)

    def sample(self, *, distance: bool) -> None:
        began = time.process_time()
        texts, reference = self.texts(), self.server_text()
        if distance:
            distinct, mean = metrics.divergence(texts, reference)
        else:
            distinct, mean = len(set(texts)), None
        self.series.append((_round(self.scheduler.now() - self.start), distinct, _round(mean)))
        self.metrics_cpu += time.process_time() - began


async def _simulate(config: SimulationConfig) -> tuple[SimulationResult, float]:
    scheduler = Scheduler()
    clock = VirtualClock(scheduler)
    network = Network(scheduler, config.latency, seed=config.seed)
    server_config = ServerConfig(
        db_path=":memory:", default_strategy=config.strategy, ping_interval=_PATIENT
    )
    server = ReferenceServer(server_config, inline_store=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(scheduler.run)
        await nursery.start(
            lambda task_status: server.serve_in_memory(heartbeat=False, task_status=task_status)
        )
        run = _Run(config, scheduler, network, server)
        shared = _fleet(config, clock, run)
        cohort = shared.phases.cohort
        assert cohort is not None
        persona = PersonaSpec("editor", "editor", 1, editor_params(config))
        for index in range(config.editors):
            plan = BotPlan(index, "editor", "editor", "doc", 0, 0.0)
            rng = random.Random(f"{config.seed}:editor:{editor_name(index)}")
            link_factory = network.link_factory(server, editor_name(index))
            nursery.start_soon(editor, BotContext(plan, persona, shared, rng, link_factory))
        await cohort.all_arrived.wait()
        nursery.start_soon(_sample_divergence, run)
        await cohort.all_done.wait()
        result = await _settle(run)
        nursery.cancel_scope.cancel()
    return result, run.metrics_cpu


def _fleet(config: SimulationConfig, clock: VirtualClock, run: _Run) -> FleetShared:
    """What the editors share: the virtual clock, a cohort, one document."""
    shared: FleetShared
    phases = FleetPhases(
        clock.now_ns(), _NEVER, cohort=Cohort(config.editors, on_start=lambda: run.begin(shared))
    )
    shared = FleetShared(
        target="http://simulated",
        namespace="/",
        run_tag=RUN_TAG,
        recorder=Recorder(clock.now_ns(), "doc.ack", now_ns=clock.now_ns),
        delivery=DeliveryLog(),
        phases=phases,
        connect_limiter=trio.CapacityLimiter(config.editors),
        clock=clock,
        room_size=config.editors,
        stamp_ops=False,
    )
    return shared


async def _sample_divergence(run: _Run) -> None:
    """Every `sample_interval`, once everything due at that instant has been processed."""
    k = 0
    while True:
        await run.scheduler.sleep_until(run.start + k * run.config.sample_interval)
        await trio.testing.wait_all_tasks_blocked()
        run.sample(distance=k % run.config.distance_every == 0)
        k += 1


async def _settle(run: _Run) -> SimulationResult:
    """After the last op: watch until quiescent (or the grace period ends), then measure."""
    config, scheduler = run.config, run.scheduler
    equal_since: float | None = None
    deadline = run.last_op + config.grace
    while True:
        await trio.testing.wait_all_tasks_blocked()
        reference = run.server_text()
        equal = all(text == reference for text in run.texts())
        if not equal:
            equal_since = None
        elif equal_since is None:
            equal_since = scheduler.now()
        quiescent = run.quiescent()
        if quiescent or scheduler.now() >= deadline:
            break
        await scheduler.sleep_until(scheduler.now() + config.check_interval)
    run.sample(distance=True)
    return _result(run, equal, quiescent, equal_since)


def _result(
    run: _Run, converged: bool, quiescent: bool, equal_since: float | None
) -> SimulationResult:
    config = run.config
    reference = run.server_text()
    texts = run.texts()
    distinct, distance = metrics.divergence(texts, reference)
    editors = run.editors
    alphabets = {name: editor.alphabet for name, editor in editors.items()}
    kept = {name: editor.kept for name, editor in editors.items()}
    survival = metrics.survival(reference, alphabets, kept)
    # what was typed, not the budget: an editor whose session broke stopped early
    ops = sum(editor.applied for editor in editors.values())
    return SimulationResult(
        strategy=config.strategy,
        seed=config.seed,
        converged=converged,
        quiescent=quiescent,
        convergence_s=(
            _round(equal_since - run.last_op) if converged and equal_since is not None else None
        ),
        last_op_s=_round(run.last_op - run.start),
        duration_s=_round(run.scheduler.now() - run.start),
        ops=ops,
        skipped_ops=sum(editor.skipped for editor in editors.values()),
        rejected_ops=sum(len(session.errors) for session in run.sessions),
        bytes=sum(path.bytes for path in run.network.paths),
        bytes_up=sum(path.bytes for path in run.network.paths if not _towards_client(path)),
        messages=sum(path.messages for path in run.network.paths),
        scheduler_events=run.scheduler.events,
        server_length=len(reference),
        final_distinct_texts=distinct,
        final_distance=_round(distance),
        survival={user: _round(value) for user, value in survival.items()},
        interleavings=metrics.interleavings(reference, metrics.author_map(alphabets)),
        series=run.series,
    )


def _towards_client(path: Path) -> bool:
    """Down paths deliver into a client's MemoryLink; up paths into the server."""
    return isinstance(getattr(path.deliver, "__self__", None), MemoryLink)


def _round(value: float | None, digits: int = 6) -> Any:
    return None if value is None else round(value, digits)
