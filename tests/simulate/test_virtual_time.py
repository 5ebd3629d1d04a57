"""The virtual-time runner, its network model, its metrics, and the persona it drives.

Simulations here run the real server and clients under MockClock: minutes of
simulated typing take well under a second, so these are ordinary fast tests.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

from simulate import metrics, personas, virtual_time
from simulate.clock import RealClock, VirtualClock
from simulate.network import (
    ConstantLatency,
    EmpiricalLatency,
    Jittered,
    LogNormalLatency,
    Network,
    NormalLatency,
    Partition,
    Path,
    Scheduler,
)
from simulate.typing_model import TypingEditor
from simulate.virtual_time import SimulationConfig, TypingModel, follow, run_simulation

LATENCY = Jittered(ConstantLatency(0.08), 0.03)


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def path_for(network: Network, client: str, log: list[tuple[float, Any]], seed: str) -> Path:
    def deliver(message: Any) -> None:
        log.append((network.scheduler.now(), message))

    path = Path(network, client, deliver, random.Random(seed))
    network.paths.append(path)
    return path


# ------------------------------------------------------------------ network model


def test_path_keeps_fifo_order_despite_jitter() -> None:
    async def main() -> list[tuple[float, Any]]:
        scheduler = Scheduler()
        network = Network(scheduler, Jittered(ConstantLatency(0.05), 0.045), seed=1)
        log: list[tuple[float, Any]] = []
        path = path_for(network, "a", log, "fifo")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run)
            for i in range(200):
                path.send(str(i))
                await scheduler.sleep(0.001)
            await scheduler.sleep(1)
            nursery.cancel_scope.cancel()
        return log

    log = run_virtual(main)
    assert [message for _, message in log] == [str(i) for i in range(200)]
    times = [t for t, _ in log]
    assert times == sorted(times)


def test_partition_holds_messages_then_releases_them() -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        scheduler = Scheduler()
        partition = Partition(start=1.0, duration=2.0, clients=frozenset({"cut"}))
        network = Network(scheduler, ConstantLatency(0.1), seed=1, partitions=[partition])
        cut_log: list[tuple[float, Any]] = []
        free_log: list[tuple[float, Any]] = []
        cut = path_for(network, "cut", cut_log, "cut")
        free = path_for(network, "free", free_log, "free")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run)
            await scheduler.sleep(1.5)
            cut.send("offline edit")
            free.send("online edit")
            await scheduler.sleep(0.5)
            cut.send("second offline edit")
            await scheduler.sleep(5)
            nursery.cancel_scope.cancel()
        return cut_log, free_log

    cut_log, free_log = run_virtual(main)
    assert [m for _, m in cut_log] == ["offline edit", "second offline edit"]
    assert all(t >= 3.0 for t, _ in cut_log)  # held until the partition healed
    assert all(t < 3.5 for t, _ in cut_log)  # and then released
    assert free_log == [(pytest.approx(1.6), "online edit")]


@pytest.mark.parametrize("reverse", [False, True], ids=["in-time-order", "reversed"])
def test_overlapping_partitions_hold_a_message_until_the_last_one_heals(reverse: bool) -> None:
    # --partition 3s@10s --partition 5s@12s: a message sent at 10.5 s is held by the
    # first until 13 s, which is inside the second: it arrives after 17 s, in either order
    partitions = [Partition(10.0, 3.0), Partition(12.0, 5.0)]
    if reverse:
        partitions.reverse()

    async def main() -> list[tuple[float, Any]]:
        scheduler = Scheduler()
        network = Network(scheduler, ConstantLatency(0.08), seed=1, partitions=partitions)
        log: list[tuple[float, Any]] = []
        path = path_for(network, "editor-1", log, "p")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run)
            await scheduler.sleep(10.5)
            path.send("held twice")
            await scheduler.sleep(10)
            nursery.cancel_scope.cancel()
        return log

    assert run_virtual(main) == [(pytest.approx(17.08), "held twice")]


@pytest.mark.parametrize(
    "latency",
    [
        NormalLatency(0.08, 0.03),
        LogNormalLatency(0.08, 0.5),
        Jittered(ConstantLatency(0.08), 0.03),
        EmpiricalLatency((0.01, 0.05, 0.2, 0.9)),
    ],
    ids=["normal", "lognormal", "jittered", "empirical"],
)
def test_latency_distributions_are_seeded(latency: Any) -> None:
    def draw(seed: str) -> list[float]:
        rng = random.Random(seed)
        return [latency.sample(rng) for _ in range(50)]

    assert draw("1") == draw("1")
    assert draw("1") != draw("2")
    assert all(value >= 0 for value in draw("3"))


def test_empirical_latency_reads_milliseconds(tmp_path: Any) -> None:
    samples = tmp_path / "rtt.txt"
    samples.write_text("10\n20.5\n\n300\n")
    assert EmpiricalLatency.from_file(samples).samples == (0.01, 0.0205, 0.3)


# ------------------------------------------------------------------ metrics


def _levenshtein_dp(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_matches_the_textbook_algorithm() -> None:
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choices("abc ", k=rng.randint(0, 15)))
        b = "".join(rng.choices("abc ", k=rng.randint(0, 15)))
        assert metrics.levenshtein(a, b) == _levenshtein_dp(a, b), (a, b)
    long = "".join(rng.choices("abcdefgh ", k=3000))
    assert metrics.levenshtein(long, long[:1000] + "xyz" + long[1002:]) == 3


def test_divergence_counts_distinct_texts_and_mean_distance() -> None:
    assert metrics.divergence(["abcd", "abcd", "abxd", "abcd"], "abcd") == (2, 0.0625)
    assert metrics.divergence(["same"] * 3, "same") == (1, 0.0)


def test_alphabets_are_disjoint_for_large_fleets() -> None:
    for editors in (1, 2, 8, 40):
        alphabets = [metrics.editor_alphabet(i, editors) for i in range(editors)]
        letters = "".join(alphabets)
        assert len(set(letters)) == len(letters)
        assert metrics.SEPARATOR not in letters
        assert all(len(a) >= 4 for a in alphabets)


def test_survival_and_interleavings_read_authorship_from_alphabets() -> None:
    alphabets = {"a": "abc", "b": "xyz"}
    authors = metrics.author_map(alphabets)
    assert metrics.interleavings("abc xyz cab ", authors) == 0
    assert metrics.interleavings("axbycz ", authors) == 5
    assert metrics.survival("abc z", alphabets, {"a": 3, "b": 4}) == {"a": 1.0, "b": 0.25}


def test_caret_sticks_to_the_character_on_its_left() -> None:
    assert follow("abc", "Xabc", 2) == 3  # insert before: shifted
    assert follow("abc", "abXc", 2) == 2  # insert exactly at the caret: stays left of it
    assert follow("abcd", "ad", 3) == 1  # deleted around: lands at the cut
    # one change on both sides of the caret: found again behind our own character
    assert follow("ab|cd", "XXab|cdYY", 3, own="|") == 5


# ------------------------------------------------------------------ simulations


def test_ten_simulated_minutes_run_in_virtual_time() -> None:
    typing = TypingModel(rate=0.5, arrival="constant")
    config = SimulationConfig("fugue", 3, LATENCY, editors=2, ops=301, typing=typing)
    result = run_simulation(config).result
    assert result.duration_s >= 600
    assert result.converged and result.quiescent
    assert result.series[-1][0] >= 600


def test_same_seed_same_result_other_seed_other_result() -> None:
    def run(seed: int) -> tuple[dict[str, Any], list[Any]]:
        config = SimulationConfig("yjs", seed, LATENCY, editors=3, ops=40)
        result = run_simulation(config).result
        return result.as_dict(), result.series

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_naive_diverges_when_two_editors_type_at_one_place() -> None:
    # no caret moves: both type at the start of the document, a round trip apart
    typing = TypingModel(rate=4, arrival="constant", move_ratio=0.0)
    slow = ConstantLatency(0.2)
    results = [
        run_simulation(SimulationConfig("naive", seed, slow, editors=2, ops=40, typing=typing))
        for seed in (1, 2)
    ]
    assert not all(measured.result.converged for measured in results)
    assert all(measured.result.quiescent for measured in results)


def test_an_offline_editor_keeps_typing_and_converges_after_the_heal() -> None:
    # editing lasts 12 s; editor-1 is cut off from 6 s to 16 s
    partition = Partition(6.0, 10.0, frozenset({"editor-1"}))
    typing = TypingModel(rate=5, arrival="constant")
    config = SimulationConfig(
        "fugue", 2, LATENCY, editors=3, ops=60, typing=typing, partitions=(partition,), grace=30
    )
    result = run_simulation(config).result
    assert result.last_op_s < partition.end
    assert result.converged
    assert result.convergence_s is not None
    assert result.last_op_s + result.convergence_s >= partition.end
    assert result.survival["editor-1"] == 1.0  # the offline typing survived
    assert max(distinct for _, distinct, _ in result.series) >= 2


# ------------------------------------------------------------------ one persona, two clocks


def test_virtual_clock_waits_are_scheduler_entries_in_order() -> None:
    async def main() -> tuple[list[tuple[int, str]], float, float]:
        scheduler = Scheduler()
        clock = VirtualClock(scheduler)
        woke: list[tuple[int, str]] = []

        async def sleeper(name: str, at_ns: int) -> None:
            await clock.sleep_until_ns(at_ns)
            woke.append((clock.now_ns(), name))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run)
            async with trio.open_nursery() as sleepers:
                for name in ("a", "b", "c"):
                    sleepers.start_soon(sleeper, name, 2_000_000_000)
                    await trio.testing.wait_all_tasks_blocked()
                sleepers.start_soon(sleeper, "early", 1_000_000_000)
            nursery.cancel_scope.cancel()
        return woke, clock.timeout(10.0), RealClock().timeout(10.0)

    woke, virtual_timeout, real_timeout = run_virtual(main)
    # (tasks woken at one instant resume in trio's order, which run_simulation seeds)
    assert woke[0] == (1_000_000_000, "early")
    assert sorted(woke[1:]) == [(2_000_000_000, n) for n in "abc"]
    assert virtual_timeout == float("inf")  # no trio deadline may race the scheduler's
    assert real_timeout == 10.0


class _Text:
    def __init__(self) -> None:
        self.text = ""

    def insert(self, pos: int, text: str) -> None:
        self.text = self.text[:pos] + text + self.text[pos:]

    def delete(self, pos: int, length: int) -> None:
        self.text = self.text[:pos] + self.text[pos + length :]


def test_typing_editor_types_words_of_its_own_alphabet_within_its_budget() -> None:
    document = _Text()
    model = TypingModel(typo_ratio=0.5)
    typist = TypingEditor(document, "abcd", model, random.Random(1), budget=200)
    while not typist.done:
        typist.keystroke()
    assert set(document.text) <= set("abcd ")
    assert document.text.endswith(" ")
    assert typist.deleted > 0  # typos, fixed with backspace
    assert typist.kept == len(document.text.replace(" ", ""))


def test_experiments_drive_the_fleets_editor_persona(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    persona = virtual_time.editor

    async def spy(ctx: Any) -> None:
        seen.append(ctx)
        await persona(ctx)

    monkeypatch.setattr(virtual_time, "editor", spy)
    config = SimulationConfig("fugue", 1, LATENCY, editors=3, ops=30)
    result = run_simulation(config).result
    assert seen and all(ctx.persona.kind == "editor" for ctx in seen)
    assert virtual_time.editor is spy and persona is personas.PERSONAS["editor"]
    assert len(seen) == 3
    assert all(isinstance(ctx.clock, VirtualClock) and ctx.link_factory for ctx in seen)
    assert result.converged and result.ops == 90 - result.skipped_ops
    assert result.survival == {f"editor-{i}": 1.0 for i in (1, 2, 3)}


def test_results_count_what_was_typed_and_name_editors_by_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """editor-1's session breaks after 10 keystrokes; editor-2 types with no typist recorded."""
    make_typist = personas._typist

    def typist(ctx: Any, session: Any, params: Any) -> TypingEditor:
        keyboard = make_typist(ctx, session, params)
        if ctx.plan.index == 0:
            keystroke = keyboard.keystroke

            def breaking() -> bool:
                changed = keystroke()
                if keyboard.keystrokes >= 10:
                    session.broken = True  # as a reconnect does: the editor stops typing
                return changed

            monkeypatch.setattr(keyboard, "keystroke", breaking)
        elif ctx.plan.index == 1:
            session.typist = None
        return keyboard

    monkeypatch.setattr(personas, "_typist", typist)
    config = SimulationConfig("fugue", 1, LATENCY, editors=3, ops=30)
    result = run_simulation(config).result
    # editor-1 typed 10 of its 30, editor-3 all 30 (editor-2 is not counted)
    assert result.ops == 40 - result.skipped_ops
    assert set(result.survival) == {"editor-1", "editor-3"}
    assert result.survival["editor-1"] == result.survival["editor-3"] == 1.0


def test_a_late_joiner_types_after_the_text_not_glued_to_its_last_word() -> None:
    document = _Text()
    document.text = "abc"  # someone else's unfinished word
    typist = TypingEditor(document, "xyz", TypingModel(move_ratio=0.0), random.Random(2), budget=9)
    while not typist.done:
        typist.keystroke()
    assert document.text.startswith("abc ")
    authors = metrics.author_map({"them": "abc", "me": "xyz"})
    assert metrics.interleavings(document.text, authors) == 0
    assert set(document.text[4:]) <= set("xyz ")
