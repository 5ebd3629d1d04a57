"""How a simulated person types into a shared document: words, typos, a caret that follows.

Used by the `editor` persona (simulate/personas.py) in both engines — the
real-time fleet and the virtual-time experiments — so that what the fleet
measures and what the experiments measure come from the same typing.

Authorship without ids: each editor types letters of its own alphabet
(`simulate.metrics.editor_alphabet`), words start at a word boundary and end
with a space, so the final text alone tells who typed what and whether a
word got interleaved (`simulate.metrics.survival`, `interleavings`).

No trio here: a `TypingEditor` edits any document object with `text`,
`insert(pos, text)` and `delete(pos, length)` (a `DocumentSession`, for one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from simulate import metrics


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
    # Chance that a word is typed backwards: each keystroke goes before the previous
    # one (the caret stays put), the case in which RGA interleaves concurrent typing.
    backwards_ratio: float = 0.0
    # Chance that a word is prepended to the document (typed at its very start).
    prepend_ratio: float = 0.0


class WordShape(Protocol):
    """What `TypingEditor` reads of a model (`TypingModel` and `EditorParams` both fit).

    Read-only: both are frozen dataclasses."""

    @property
    def min_word(self) -> int: ...

    @property
    def max_word(self) -> int: ...

    @property
    def typo_ratio(self) -> float: ...

    @property
    def move_ratio(self) -> float: ...

    @property
    def move_window(self) -> int: ...

    @property
    def backwards_ratio(self) -> float: ...

    @property
    def prepend_ratio(self) -> float: ...


class Document(Protocol):
    @property
    def text(self) -> str: ...

    def insert(self, pos: int, text: str) -> None: ...

    def delete(self, pos: int, length: int) -> None: ...


class TypingEditor:
    """One simulated person typing into a document (see `TypingModel`).

    The caret is kept by diffing the replica's text after every change
    (`follow`), not by a strategy's cursor API, so every strategy is measured
    with the same caret: anchored to the character on its left (the one the
    editor typed last), as a text field's caret stays after what you typed.
    Call `on_remote_change` after the replica applied a remote change.

    `budget`: keystrokes to type (the last word is cut to end with a space
    in time), None for no end. Someone who joins a document with text in it
    starts at its end, after a space of their own if the text has none there.
    """

    def __init__(
        self,
        document: Document,
        alphabet: str,
        model: WordShape,
        rng: random.Random,
        budget: int | None = None,
    ) -> None:
        self.document = document
        self.alphabet = alphabet
        self.own = frozenset(alphabet)
        self.model = model
        self.budget = budget
        self.rng = rng
        self.last_text = document.text
        self.caret = len(self.last_text)
        self.plan: list[str | None] = []  # planned keystrokes; None = backspace
        self.backwards = False  # the planned word is typed right to left (caret stays)
        if self.last_text and not self.last_text.endswith(metrics.SEPARATOR):
            self.plan = [metrics.SEPARATOR]  # not glued to the last word
        self.keystrokes = 0  # keystrokes made (typed, deleted or skipped): the budget spent
        self.typed = 0
        self.deleted = 0
        self.skipped = 0

    @property
    def kept(self) -> int:
        return self.typed - self.deleted

    @property
    def applied(self) -> int:
        """Keystrokes that changed the text (an editor that stopped early counts what it typed)."""
        return self.keystrokes - self.skipped

    @property
    def done(self) -> bool:
        return self.budget is not None and self.budget <= 0

    def on_remote_change(self, *_: Any) -> None:
        """Runs after the replica applied the change (register it after the session's handler)."""
        self._follow()

    def _follow(self) -> None:
        text = self.document.text
        if text != self.last_text:
            self.caret = follow(self.last_text, text, self.caret, self.alphabet)
            self.last_text = text

    def keystroke(self) -> bool:
        """One keystroke: a local edit (the document's owner sends it), False if it changed nothing.

        A backspace that finds no character of ours before the caret (someone
        else's, or the text's start) is skipped: counted, not typed.
        """
        self._follow()
        if not self.plan:
            self._plan_word()
        key = self.plan.pop(0)
        text = self.last_text
        self.caret = min(self.caret, len(text))
        self.keystrokes += 1
        if self.budget is not None:
            self.budget -= 1
        if key is None:
            if self.caret > 0 and text[self.caret - 1] in self.own:
                self.document.delete(self.caret - 1, 1)
                self.caret -= 1
                self.deleted += 1
            else:
                self.skipped += 1
                return False
        else:
            self.document.insert(self.caret, key)
            if not self.backwards:
                self.caret += 1
            if key != metrics.SEPARATOR:
                self.typed += 1
        self.last_text = self.document.text
        return True

    def _plan_word(self) -> None:
        model, rng, budget = self.model, self.rng, self.budget
        self.backwards = False
        if budget is not None and budget < 2:
            self.plan = [metrics.SEPARATOR]
            return
        if model.prepend_ratio and rng.random() < model.prepend_ratio:
            self.caret = 0
        elif rng.random() < model.move_ratio:
            self.caret = self._nearby_boundary()
        if model.backwards_ratio and rng.random() < model.backwards_ratio:
            self._plan_backwards_word()
            return
        length = rng.randint(model.min_word, model.max_word)
        word: list[str | None] = [rng.choice(self.alphabet) for _ in range(length)]
        if length >= 2 and rng.random() < model.typo_ratio:
            at = rng.randint(1, length - 1)
            word[at:at] = [rng.choice(self.alphabet), None]
        if budget is not None:
            word = word[: budget - 1]
        if word and word[-1] is None:  # never end on a half-fixed typo
            word = word[:-2]
        self.plan = [*word, metrics.SEPARATOR]

    def _plan_backwards_word(self) -> None:
        """A word typed right to left: its space first, then its letters last to first.

        Every keystroke lands at the same caret, before the one typed just
        now, so the text reads the word forwards once done. No typos here: a
        backspace would remove the wrong neighbour.
        """
        model, rng, budget = self.model, self.rng, self.budget
        length = rng.randint(model.min_word, model.max_word)
        word = [rng.choice(self.alphabet) for _ in range(length)]
        if budget is not None:
            word = word[: budget - 1]
        self.backwards = True
        self.plan = [metrics.SEPARATOR, *reversed(word)]

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
