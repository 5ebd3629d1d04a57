"""The Fugue paper's interleaving cases, replayed through every strategy.

    python -m simulate experiment --preset fugue-cases [--out DIR]

Weidner, Gentle and Kleppmann ("The Art of the Fugue: Minimizing
Interleaving in Collaborative Text Editing") show that text typed
concurrently at one place can come out interleaved: RGA interleaves text
typed *backwards* (each keystroke before the previous one), Yjs/YATA splits
a character from the one a second replica typed it in front of when a third
replica inserts there concurrently (`yjs_backward`), and Fugue keeps every
such block together. Their Figure 7 is the one execution where plain Fugue and FugueMax
differ: some backward interleaving is forced there, and FugueMax keeps the
one pair that can stay together. Random typing rarely produces these
executions, so each case here is an exact script of edits and deliveries
over `CollabNetwork` (one server, FIFO links that move only when told, so
the schedule is the script's).

Each case names the blocks that a non-interleaving merge keeps contiguous;
a block whose characters do not appear as one run in the final text counts
as one interleaving. Ties between whole blocks (which comes first) are
allowed to differ between strategies: that is a tie-break, not an anomaly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.collab.registry import get_strategy
from simulate.collab_network import CollabNetwork, Link


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    description: str
    blocks: tuple[str, ...]  # each should end up contiguous
    play: Callable[[CollabNetwork], None]
    replicas: tuple[str, ...] = ("A", "B")


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: str
    strategy: str
    text: str
    converged: bool
    interleavings: int  # blocks whose characters all survived but not as one run
    lost: int  # blocks with characters missing from the text (lww overwrites)

    def as_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "strategy": self.strategy,
            "text": self.text,
            "converged": self.converged,
            "interleavings": self.interleavings,
            "lost": self.lost,
        }


def type_forwards(net: CollabNetwork, who: str, pos: int, word: str) -> None:
    for offset, char in enumerate(word):  # one op per keystroke, as a live editor sends
        net.insert(who, pos + offset, char)


def type_backwards(net: CollabNetwork, who: str, pos: int, word: str) -> None:
    for char in reversed(word):  # each keystroke goes before the previous one
        net.insert(who, pos, char)


def _base(net: CollabNetwork, text: str) -> None:
    net.insert("A", 0, text)
    net.drain()


Typist = Callable[[CollabNetwork, str, int, str], None]


def _two_words(
    base: str, words: tuple[str, str], typists: tuple[Typist, Typist]
) -> Callable[[CollabNetwork], None]:
    """A and B type one word each at index 1 of `base`, concurrently."""

    def play(net: CollabNetwork) -> None:
        _base(net, base)
        for who, word, typist in zip("AB", words, typists, strict=True):
            typist(net, who, 1, word)

    return play


# Base "*"; A types "ab" and B types "xy" at index 1, one op each in flight.
_ot_keystrokes = _two_words("*", ("ab", "xy"), (type_forwards, type_forwards))
_forwards = _two_words("[]", ("abc", "xyz"), (type_forwards, type_forwards))
_backwards = _two_words("[]", ("abc", "xyz"), (type_backwards, type_backwards))
_mixed = _two_words("[]", ("abc", "xyz"), (type_forwards, type_backwards))


def _prepends(net: CollabNetwork) -> None:
    """Both keep adding words at the very start of the document (a log, newest first)."""
    _base(net, ".")
    for word_a, word_b in (("abc ", "xyz "), ("def ", "uvw ")):
        type_forwards(net, "A", 0, word_a)
        type_forwards(net, "B", 0, word_b)


def yjs_backward(
    net: CollabNetwork, author: str = "C", prepender: str = "A", interloper: str = "B"
) -> None:
    """The Fugue paper's Yjs anomaly: a prepend to relayed text, split by a third replica.

    `author` types "c"; `prepender` receives it and types "a" in front of
    it, so "ac" is a block; `interloper`, having seen neither, types "b"
    into its empty document. With the paper's roles (prepender, interloper
    and author in increasing id order: A, B, C here as 1, 2, 3 there) Yjs
    merges to "abc": b lands between a and c. Fugue keeps "ac" whole.

    Source: the paper's companion repository mweidner037/fugue, script
    `yjs-interleave/index.js` (run against the real Yjs library). Its stored
    versions run this same execution: commit 4dfd164 with these letters,
    printing ["a","b","c"]; commit aff9b04 with "b" by replica 3, "a" by 1,
    "x" by 2, printing "axb". One version of the repository's README calls
    it "the paper's Yjs interleaving anomaly (Proposition C.4)", another the
    "Yjs backward interleaving (multi-replica) code from the paper's
    Appendix A.1.9" (presumably the numbering of arXiv v1 and v3; the PDF
    itself was not read). The script has the shape of the Yjs example in
    automerge/automerge-classic#395 (Kleppmann, 2021-06-28), with one
    character where that example has runs of five.

    Checked, not assumed: pycrdt 0.14.13 (Yrs) gives "abc" through our yjs
    strategy and on bare `pycrdt.Doc`s with client ids 1, 2, 3, as does
    Yjs 13.6.8 under Node. The roles are parameters so a test can show
    that the split needs that id order.
    """
    net.insert(author, 0, "c")
    net.deliver(Link("up", author))  # c reaches the server...
    net.deliver(Link("down", prepender))  # ...and the prepender, nobody else yet
    net.insert(prepender, 0, "a")
    net.insert(interloper, 0, "b")


def _yjs_backward_words(net: CollabNetwork) -> None:
    """`yjs_backward` grown into words: ours, not a published execution.

    B types "b"; only replica "1" receives it before typing "B" in front of
    it; B then types "ḃ" after its "b". Concurrently A types "a", then "A"
    before it and "á" after it. Blocks: A's "Aaá" and the "Bbḃ" that "1" and
    B built together. Yjs gives "BAaábḃ": A's word lands between "1"'s "B"
    and B's "bḃ".

    No source was found for this exact script (it was added to this project
    as "the three-replica case of the Fugue paper", which it is not). Its
    core is the paper's Yjs anomaly with the same id order: "1" (the
    prepender) sorts before A (the interloper), which sorts before B (the
    author). Around that core it adds a backward and a forward keystroke to
    the interloper's word and a forward one to the author's.
    """
    net.insert("A", 0, "a")
    net.insert("A", 0, "A")
    net.insert("A", 2, "á")
    net.insert("B", 0, "b")
    net.deliver(Link("up", "B"))  # b reaches the server...
    net.deliver(Link("down", "1"))  # ...and replica 1, nobody else yet
    net.insert("B", 1, "ḃ")
    net.insert("1", 0, "B")


def figure_7_letters(net: CollabNetwork) -> None:
    """Figure 7 up to the two late keystrokes: A, B, C typed at once; only A travels.

    Replicas "1", "2" and "3" each type one letter at the start of the empty
    document, concurrently. A reaches the server, then replica "2" (which
    now shows "AB") and replica "3" (which shows "AC"), and nothing else
    moves. Separate from `_figure_7` so a test can check those two views,
    which the execution needs: they depend on each strategy ordering the
    three concurrent letters by replica id, as A B C.
    """
    for who, letter in (("1", "A"), ("2", "B"), ("3", "C")):
        net.insert(who, 0, letter)
    net.deliver(Link("up", "1"))
    net.deliver(Link("down", "2"))
    net.deliver(Link("down", "3"))


def _figure_7(net: CollabNetwork) -> None:
    """Figure 7 of the Fugue paper (arXiv 2305.00583v3 / IEEE TPDS 2025, Section 5.3).

    After `figure_7_letters`, replica "2" types Y between A and B and
    replica "3" types X between A and C; both then meet everything. X and Y
    share the left origin A but have different right origins (C and B).

    The paper's point, in its terms: every algorithm that never interleaves
    forwards must put X before B (Lemma 5), so X can never end up next to C;
    that split is forced and is not counted as a block here. Y can stay next
    to B: FugueMax orders right-side siblings by the reverse order of their
    right origins and gives A X Y B C whatever the ids. Plain Fugue orders
    them by id, so it gives A Y X B C when Y's id is the lower one (as here:
    replica "2" before "3"), splitting YB; "the advantage of FugueMax is only
    that it backward-interleaves one fewer pair of characters (here YB)".

    Not read from the paper's PDF: the execution and the quotes come from two
    independent transcriptions that agree, fplaunchpad/sal
    (whiteboard/fugue-maximal-noninterleaving.md, quoting v3; and
    whiteboard/litmus/fugue_noninterleave_check.py) and calimero-network/core
    (crates/storage/tests/fugue_conformance.rs, `figure_7_merged`).
    """
    figure_7_letters(net)
    net.insert("2", 1, "Y")
    net.insert("3", 1, "X")


CASES: tuple[Case, ...] = (
    Case("keystrokes", 'base "*", A types "ab", B types "xy" at 1', ("ab", "xy"), _ot_keystrokes),
    Case("forwards", "A and B type a word forwards at one place", ("abc", "xyz"), _forwards),
    Case("backwards", "A and B type a word backwards at one place", ("abc", "xyz"), _backwards),
    Case("mixed", "A types forwards, B backwards, at one place", ("abc", "xyz"), _mixed),
    Case(
        "prepends",
        "both prepend words to the document, twice",
        ("abc", "xyz", "def", "uvw"),
        _prepends,
    ),
    Case(
        "yjs-backward",
        "the Fugue paper's Yjs anomaly (Prop. C.4 / App. A.1.9; mweidner037/fugue yjs-interleave)",
        ("ac", "b"),  # "b" alone can only be lost (lww), never split
        yjs_backward,
        replicas=("A", "B", "C"),
    ),
    Case(
        "yjs-backward-words",
        "yjs-backward grown into words (ours; no published source)",
        ("Aaá", "Bbḃ"),
        _yjs_backward_words,
        replicas=("A", "B", "1"),
    ),
    Case(
        "figure-7",
        "the Fugue paper's Figure 7 (FugueMax keeps YB, plain Fugue may split it)",
        ("YB",),
        _figure_7,
        replicas=("1", "2", "3"),
    ),
)


def run_case(case: Case, strategy: str) -> CaseResult:
    net = CollabNetwork(get_strategy(strategy), case.replicas)
    case.play(net)
    net.drain()
    texts = set(net.texts().values())
    text = net.server.text()
    converged = texts == {text}
    lost = sum(1 for block in case.blocks if any(char not in text for char in block))
    split = sum(1 for block in case.blocks if block not in text) - lost
    return CaseResult(case.name, strategy, text, converged, split, lost)


def run_cases(strategies: list[str]) -> list[CaseResult]:
    return [run_case(case, strategy) for case in CASES for strategy in strategies]


def cases_table(results: list[CaseResult], strategies: list[str]) -> str:
    """Interleavings per case (rows) and strategy (columns); the merged text under it."""
    width = max(16, *(len(s) + 2 for s in strategies))
    lines = [f"{'case':<20}" + "".join(f"{s:>{width}}" for s in strategies)]
    lines.append("-" * len(lines[0]))
    by_key = {(r.case, r.strategy): r for r in results}
    for case in CASES:
        cells = []
        for strategy in strategies:
            result = by_key[(case.name, strategy)]
            cell = str(result.interleavings)
            if result.lost:
                cell += f" +{result.lost} lost"
            cells.append(cell + ("" if result.converged else " diverged"))
        lines.append(f"{case.name:<20}" + "".join(f"{c:>{width}}" for c in cells))
    lines.append(
        "interleavings: blocks typed as one run that ended split; lost: blocks overwritten"
    )
    lines.append("")
    lines.append("merged texts (server):")
    for case in CASES:
        texts = "  ".join(f"{s}={by_key[(case.name, s)].text!r}" for s in strategies)
        lines.append(f"  {case.name:<18} {texts}")
    return "\n".join(lines) + "\n"
