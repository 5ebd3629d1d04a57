"""Editing experiments in virtual time: the real server, real clients, a simulated network.

One `run_simulation(config)` hosts the reference server in-process, connects
`config.editors` Socket.IO clients to it through `simulate.network` (seeded
latency per path, partitions that hold messages until they heal), lets each
editor type into one shared document under one conflict strategy, and
measures divergence, convergence and intention (see `simulate.metrics`).

Everything runs under `trio.testing.MockClock(autojump_threshold=0)`:
minutes of typing take a fraction of a second. Same config → byte-identical
`SimulationResult.as_dict()`, because every source of nondeterminism is
pinned:

- trio's scheduler shuffles runnable tasks with `trio._core._run._r`: it is
  seeded from the run's seed for the duration of the run, then restored;
- equal trio deadlines wake in an arbitrary order: only the `Scheduler`
  owns deadlines (all waiting here goes through it, and the observer waits
  with `wait_all_tasks_blocked`, which involves no deadline);
- every random choice draws from a `random.Random` seeded with a string
  derived from the run's seed (string seeds hash with SHA-512, not with the
  per-process `hash()`), and no result iterates over a set of strings;
- wall-clock values the server adds (`timestamp`, `lastSeen`) never reach
  the results; the store is inline and in memory (no thread), the
  heartbeat is off (no ping timers).

Times in results are virtual seconds since editing started (after every
editor has joined), so partitions given as `5s@10s` mean 10 s into the
typing.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any

import trio
import trio.testing

from server.app import ReferenceServer
from server.config import ServerConfig
from simulate import metrics
from simulate.client import SocketIOClient
from simulate.document_session import DocumentSession
from simulate.network import Latency, MemoryLink, Network, Partition, Path, Scheduler
from simulate.schedule import arrival_times

DOCUMENT_ID = "experiment"
_NEVER = 2**62  # "no stop" for arrival_times, in ns
_PATIENT = 1e9  # connect/join timeouts: never shorter than a partition


@dataclass(frozen=True, slots=True)
class TypingModel:
    """How an editor types: one keystroke (one local edit) per arrival.

    People type words at their caret, correct typos with backspace, and now
    and then click elsewhere nearby. Words start at a word boundary and end
    with a space, so in a correct merge every word keeps one author (what the
    interleaving metric relies on).
    """

    rate: float = 5.0  # keystrokes per second per editor (5/s is about 60 words a minute)
    arrival: str = "poisson"  # or "constant"
    min_word: int = 2
    max_word: int = 7
    typo_ratio: float = 0.08  # chance that a word contains a typo, fixed with backspace
    move_ratio: float = 0.15  # chance to move the caret to another word boundary before a word
    move_window: int = 40  # characters either side of the caret a move may reach


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


def run_simulation(config: SimulationConfig) -> Measured:
    """Run one experiment in virtual time; deterministic for a given config."""
    from trio._core import _run as trio_run

    saved = trio_run._r.getstate()
    trio_run._r.seed(f"trio:{config.seed}")
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        result, metrics_cpu = trio.run(
            _simulate, config, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    finally:
        trio_run._r.setstate(saved)
    return Measured(result, time.process_time() - cpu, metrics_cpu, time.perf_counter() - wall)


# ------------------------------------------------------------------ editors


class TypingEditor:
    """One simulated person typing into a `DocumentSession` (see `TypingModel`).

    The caret is kept by diffing the replica's text after every change
    (`follow`), not by a strategy's cursor API, so every strategy is measured
    with the same caret: anchored to the character on its left (the one the
    editor typed last), as a text field's caret stays after what you typed.
    """

    def __init__(
        self,
        session: DocumentSession,
        alphabet: str,
        model: TypingModel,
        budget: int,
        rng: random.Random,
    ) -> None:
        self.session = session
        self.alphabet = alphabet
        self.own = frozenset(alphabet)
        self.model = model
        self.budget = budget
        self.rng = rng
        self.caret = 0
        self.last_text = ""
        self.plan: list[str | None] = []  # planned keystrokes; None = backspace
        self.typed = 0
        self.deleted = 0
        self.skipped = 0
        session.client.on("document-change", self.on_remote_change)

    @property
    def kept(self) -> int:
        return self.typed - self.deleted

    def on_remote_change(self, _change: Any) -> None:
        """Runs after the session applied the change (handlers run in registration order)."""
        self._follow()

    def _follow(self) -> None:
        text = self.session.text
        if text != self.last_text:
            self.caret = follow(self.last_text, text, self.caret, self.alphabet)
            self.last_text = text

    def keystroke(self) -> None:
        """One local edit; the session's pump sends it."""
        self._follow()
        if not self.plan:
            self._plan_word()
        key = self.plan.pop(0)
        text = self.last_text
        self.caret = min(self.caret, len(text))
        self.budget -= 1
        if key is None:
            if self.caret > 0 and text[self.caret - 1] in self.own:
                self.session.delete(self.caret - 1, 1)
                self.caret -= 1
                self.deleted += 1
            else:
                self.skipped += 1
                return
        else:
            self.session.insert(self.caret, key)
            self.caret += 1
            if key != metrics.SEPARATOR:
                self.typed += 1
        self.last_text = self.session.text

    def _plan_word(self) -> None:
        model, rng = self.model, self.rng
        if self.budget < 2:
            self.plan = [metrics.SEPARATOR]
            return
        if rng.random() < model.move_ratio:
            self.caret = self._nearby_boundary()
        length = rng.randint(model.min_word, model.max_word)
        word: list[str | None] = [rng.choice(self.alphabet) for _ in range(length)]
        if length >= 2 and rng.random() < model.typo_ratio:
            at = rng.randint(1, length - 1)
            word[at:at] = [rng.choice(self.alphabet), None]
        word = word[: self.budget - 1]
        if word and word[-1] is None:  # never end on a half-fixed typo
            word = word[:-2]
        self.plan = [*word, metrics.SEPARATOR]

    def _nearby_boundary(self) -> int:
        """A word start near the caret: the text's start or just after a space."""
        text, caret, window = self.last_text, self.caret, self.model.move_window
        lo, hi = max(0, caret - window), min(len(text), caret + window)
        boundaries = [0] if lo == 0 else []
        boundaries += [i + 1 for i in range(lo, hi) if text[i] == metrics.SEPARATOR]
        return self.rng.choice(boundaries) if boundaries else caret


def follow(old: str, new: str, caret: int, own: str = "") -> int:
    """Where a caret at `caret` in `old` is in `new`, sticking to the character on its left.

    One remote op changes one region, and the caret is before it, after it,
    or (deletes) inside it. A change that spans the caret on both sides (an
    OT op composed of edits at several places, a whole-text LWW write) is
    resolved by our own characters (`own`: the editor's alphabet), which
    only we insert: the caret goes back behind the same one of them.
    """
    start, old_end, new_end = metrics.changed_region(old, new)
    if caret <= start:
        return caret
    if caret >= old_end:
        return caret + new_end - old_end
    anchor = _last_own_index(old, caret, own)
    if anchor is not None:
        rank = sum(old.count(char, 0, anchor + 1) for char in own)
        found = _nth_own_index(new, rank, own)
        if found is not None:
            return min(len(new), found + caret - anchor)
    return min(caret, new_end)


def _last_own_index(text: str, caret: int, own: str) -> int | None:
    """Index of the last of our characters before `caret` (None: there is none)."""
    best = max((text.rfind(char, 0, caret) for char in own), default=-1)
    return best if best >= 0 else None


def _nth_own_index(text: str, rank: int, own: str) -> int | None:
    """Index of our `rank`-th character (1-based) in `text`."""
    if rank <= 0:
        return None
    seen = 0
    for index, char in enumerate(text):
        if char in own:
            seen += 1
            if seen == rank:
                return index
    return None


# ------------------------------------------------------------------ the run


@dataclass
class _Run:
    config: SimulationConfig
    scheduler: Scheduler
    network: Network
    server: ReferenceServer
    sessions: list[DocumentSession]
    editors: list[TypingEditor]
    start: float = 0.0
    last_op: float = 0.0
    samples: int = 0
    metrics_cpu: float = 0.0
    series: list[tuple[float, int, float | None]] = field(default_factory=list)

    def server_text(self) -> str:
        return self.server.documents.documents[DOCUMENT_ID].server.text()

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
        run = _Run(config, scheduler, network, server, [], [])
        await _join_editors(run, nursery)
        # Editing starts now: partitions and every reported time count from here.
        run.start = scheduler.now()
        network.partitions = [
            replace(partition, start=run.start + partition.start) for partition in config.partitions
        ]
        for session in run.sessions:
            nursery.start_soon(session.run_pump)
        nursery.start_soon(_sample_divergence, run)
        async with trio.open_nursery() as typing:
            for index, editor in enumerate(run.editors):
                typing.start_soon(_type, run, index, editor)
        result = await _settle(run)
        nursery.cancel_scope.cancel()
    return result, run.metrics_cpu


async def _join_editors(run: _Run, nursery: trio.Nursery) -> None:
    config = run.config
    for index in range(config.editors):
        user = editor_name(index)
        client = SocketIOClient(
            "http://simulated",
            auth={"userId": user},
            link_factory=run.network.link_factory(run.server, user),
            connect_timeout=_PATIENT,
            reconnect=False,
            seed=index,
        )
        await nursery.start(client.run)
        session = DocumentSession(client, DOCUMENT_ID, user)
        await session.join(config.strategy)
        run.sessions.append(session)
        rng = random.Random(f"{config.seed}:typing:{user}")
        alphabet = metrics.editor_alphabet(index, config.editors)
        run.editors.append(TypingEditor(session, alphabet, config.typing, config.ops, rng))


def editor_name(index: int) -> str:
    return f"editor-{index + 1}"


async def _sleep_until(scheduler: Scheduler, when: float) -> None:
    done = trio.Event()
    scheduler.call_at(when, done.set)
    await done.wait()


async def _type(run: _Run, index: int, editor: TypingEditor) -> None:
    model = run.config.typing
    rng = random.Random(f"{run.config.seed}:arrivals:{editor_name(index)}")
    arrivals = arrival_times(rng, model.rate, model.arrival, 0, _NEVER)
    for _, offset_ns in zip(range(run.config.ops), arrivals, strict=False):
        await _sleep_until(run.scheduler, run.start + offset_ns / 1e9)
        editor.keystroke()
        run.last_op = max(run.last_op, run.scheduler.now())


async def _sample_divergence(run: _Run) -> None:
    """Every `sample_interval`, once everything due at that instant has been processed."""
    k = 0
    while True:
        await _sleep_until(run.scheduler, run.start + k * run.config.sample_interval)
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
        await _sleep_until(scheduler, scheduler.now() + config.check_interval)
    run.sample(distance=True)
    return _result(run, equal, quiescent, equal_since)


def _result(
    run: _Run, converged: bool, quiescent: bool, equal_since: float | None
) -> SimulationResult:
    config = run.config
    reference = run.server_text()
    texts = run.texts()
    distinct, distance = metrics.divergence(texts, reference)
    alphabets = {editor_name(i): editor.alphabet for i, editor in enumerate(run.editors)}
    kept = {editor_name(i): editor.kept for i, editor in enumerate(run.editors)}
    survival = metrics.survival(reference, alphabets, kept)
    ops = sum(config.ops - editor.skipped for editor in run.editors)
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
        skipped_ops=sum(editor.skipped for editor in run.editors),
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
