"""Backwards runs and prepends in the typing model; strategy CPU and bootstrap intervals."""

from __future__ import annotations

import random

from server.collab.registry import get_strategy
from simulate.bootstrap import bootstrap_ci
from simulate.strategy_timer import TimedReplica, timed_strategy
from simulate.typing_model import TypingEditor, TypingModel


class Text:
    """The smallest document: a str with insert/delete, recording where inserts land."""

    def __init__(self) -> None:
        self.text = ""
        self.inserts: list[int] = []

    def insert(self, pos: int, text: str) -> None:
        self.inserts.append(pos)
        self.text = self.text[:pos] + text + self.text[pos:]

    def delete(self, pos: int, length: int) -> None:
        self.text = self.text[:pos] + self.text[pos + length :]


def _type(model: TypingModel, keystrokes: int, seed: int = 1) -> Text:
    doc = Text()
    editor = TypingEditor(doc, "abc", model, random.Random(seed), budget=keystrokes)
    while not editor.done:
        editor.keystroke()
    return doc


def test_backwards_words_put_every_keystroke_before_the_previous_one() -> None:
    doc = _type(TypingModel(backwards_ratio=1.0, move_ratio=0.0, typo_ratio=0.0), 40)
    # typed at the end of the text, each word's keystrokes land at one caret
    repeats = sum(1 for a, b in zip(doc.inserts, doc.inserts[1:], strict=False) if a == b)
    assert repeats >= 30
    words = doc.text.split()
    assert words and all(set(word) <= set("abc") for word in words)
    assert doc.text.endswith(" ")


def test_forwards_words_advance_the_caret() -> None:
    doc = _type(TypingModel(move_ratio=0.0, typo_ratio=0.0), 40)
    assert doc.inserts == list(range(40))


def test_prepends_type_words_at_the_document_start() -> None:
    doc = _type(TypingModel(prepend_ratio=1.0, typo_ratio=0.0), 60)
    starts = [i for i, pos in enumerate(doc.inserts) if pos == 0]
    assert len(starts) >= 8  # one per word at least


def test_strategy_timer_counts_only_the_strategys_calls() -> None:
    with timed_strategy("fugue") as clock:
        strategy = get_strategy("fugue")
        replica = strategy.create_replica("a", strategy.create_document().snapshot())
        assert isinstance(replica, TimedReplica)
        for i in range(200):
            replica.insert(i, "x")
            replica.take_outgoing()
    assert clock.calls == 400 and clock.ns > 0
    assert not isinstance(get_strategy("fugue").create_replica("b", {}), TimedReplica)


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_seeds() -> None:
    rng = random.Random(0)
    few = [rng.gauss(10, 2) for _ in range(5)]
    many = [rng.gauss(10, 2) for _ in range(80)]
    low, high = bootstrap_ci(few)  # type: ignore[misc]
    assert low <= sum(few) / 5 <= high
    wide, narrow = high - low, bootstrap_ci(many)
    assert narrow is not None and narrow[1] - narrow[0] < wide
    assert bootstrap_ci([]) is None and bootstrap_ci([3.0]) == (3.0, 3.0)
    assert bootstrap_ci(few) == bootstrap_ci(few)  # seeded
