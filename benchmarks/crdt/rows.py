"""The suite's rows: seeded inputs and how each row drives a subject.

Each row function takes a `Subject` and returns a `Cell` of measurements
(and the encoded document, for the memory probe). Inputs are generated once
per row from `random.Random(f"{seed}:{row id}")`, so every subject gets the
same edits and a row's inputs do not depend on which other rows ran.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from benchmarks.crdt.maps import MapDocument, MapLibrary
from benchmarks.crdt.subjects import Group, Subject, update_size

Edit = tuple[str, int, Any]  # ("i", pos, text) or ("d", pos, count)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class Cell:
    ok: bool
    time_s: float
    update_bytes: float | None  # the suite's avgUpdateSize / updateSize
    encode_s: float
    doc_bytes: int
    parse_s: float
    encoded: bytes = field(repr=False, default=b"")
    offline_s: float | None = None  # M1 only: typing both branches while offline


@dataclass(frozen=True, slots=True)
class Settings:
    n: int = 6000
    seed: int = 42
    b4_repeat: int = 3
    patches: Sequence[Sequence[Any]] = ()  # the B4 trace (automerge-paper)
    expected_b4: str = ""
    expected_b4_repeated: str = ""
    merge_fork: float = 0.1  # M1: the share of the trace typed before the branches split
    merge_patches: int = 20_000  # M1: how much of the trace (OT composes every offline edit)


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str
    run: Callable[[Subject, Settings], Cell]
    needs_trace: bool = False
    skips_whole_document: bool = False
    needs_map: bool = False  # B3.1-B3.3: only subjects with a map type run it


# ------------------------------------------------------------------ inputs
def word(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def _rng(settings: Settings, row: str) -> random.Random:
    return random.Random(f"{settings.seed}:{row}")


def _insert_or_delete(rng: random.Random, text: str, index: int) -> Edit:
    """The suite's mixed step: a word of 2-10 letters, or a delete of 1-9 characters."""
    if index == len(text) or rng.random() < 0.5:
        return ("i", index, word(rng, 2, 10))
    return ("d", index, rng.randint(1, min(9, len(text) - index)))


def _apply(group: Group, member: int, edit: Edit) -> None:
    kind, pos, arg = edit
    if kind == "i":
        group.insert(member, pos, arg)
    else:
        group.delete(member, pos, arg)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Time an encode or a load without Python's cyclic collector running inside it.

    When a row ends, the process holds the row's whole group (every member's
    replica, the server, the updates), several times the document being
    loaded. A full collection triggered by the load's allocations walks all
    of that: on B4 fugue's parse took 70 ms or 400 ms depending on whether
    one fell inside. That is the harness's heap, not the decoder's cost: a
    fresh process loading the same B4 document with the collector on takes
    38 ms, and 36 ms here with it paused. So collect first and pause the
    collector for the timed call. The native libraries never run it.
    (Not `simulate.traces.frozen_heap`: its exit unfreezes everything,
    including the trace that `__main__` froze for the whole run.)
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _splice(text: str, edit: Edit) -> str:
    kind, pos, arg = edit
    if kind == "i":
        return text[:pos] + str(arg) + text[pos:]
    return text[:pos] + text[pos + int(arg) :]


def _finish(subject: Subject, group: Group, member: int, cell: Cell) -> Cell:
    """encodeTime, docSize and parseTime of one member's document."""
    with _collector_paused():
        began = time.perf_counter()
        encoded = group.encode(member)
        cell.encode_s = time.perf_counter() - began
    cell.doc_bytes = len(encoded)
    with _collector_paused():
        began = time.perf_counter()
        loaded = subject.load(encoded)
        cell.parse_s = time.perf_counter() - began
    cell.ok = cell.ok and subject.text_of(loaded) == group.text(member)
    cell.encoded = encoded
    return cell


# ------------------------------------------------------------------ B1: no conflicts
def _b1(edits: list[Edit], expected: str) -> Callable[[Subject, Settings], Cell]:
    def run(subject: Subject, settings: Settings) -> Cell:
        group = subject.group(2)
        updates: list[Any] = []
        began = time.perf_counter()
        for edit in edits:
            _apply(group, 0, edit)
            updates.extend(group.publish(0))
        elapsed = time.perf_counter() - began
        for update in updates:
            group.deliver(1, update)
        ok = group.text(0) == group.text(1) == expected
        size = sum(update_size(u) for u in updates) / len(edits)
        return _finish(subject, group, 0, Cell(ok, elapsed, size, 0.0, 0, 0.0))

    return run


def b1_rows(settings: Settings) -> list[Row]:
    n = settings.n
    rows: list[Row] = []

    rng = _rng(settings, "B1.1")
    string = word(rng, n, n)
    rows.append(
        Row("B1.1", "Append N characters", _b1([("i", i, c) for i, c in enumerate(string)], string))
    )

    rng = _rng(settings, "B1.2")
    string = word(rng, n, n)
    rows.append(Row("B1.2", "Insert string of length N", _b1([("i", 0, string)], string)))

    rng = _rng(settings, "B1.3")
    string = word(rng, n, n)
    rows.append(
        Row("B1.3", "Prepend N characters", _b1([("i", 0, c) for c in reversed(string)], string))
    )

    for row_id, title, low, high in (
        ("B1.4", "Insert N characters at random positions", 1, 1),
        ("B1.5", "Insert N words at random positions", 2, 10),
    ):
        rng = _rng(settings, row_id)
        text, edits = "", []
        for _ in range(n):
            edit: Edit = ("i", rng.randint(0, len(text)), word(rng, low, high))
            text = _splice(text, edit)
            edits.append(edit)
        rows.append(Row(row_id, title, _b1(edits, text)))

    rng = _rng(settings, "B1.6")
    string = word(rng, n, n)
    rows.append(
        Row("B1.6", "Insert string, then delete it", _b1([("i", 0, string), ("d", 0, n)], ""))
    )

    rng = _rng(settings, "B1.7")
    text, edits = "", []
    for _ in range(n):
        edit = _insert_or_delete(rng, text, rng.randint(0, len(text)))
        text = _splice(text, edit)
        edits.append(edit)
    rows.append(Row("B1.7", "Insert/Delete strings at random positions", _b1(edits, text)))
    return rows


# ------------------------------------------------------------------ B2: two users
def _b2(
    first: list[Edit], second: list[Edit], length: int | None
) -> Callable[[Subject, Settings], Cell]:
    def run(subject: Subject, settings: Settings) -> Cell:
        group = subject.group(2)
        init = word(_rng(settings, "B2 init text"), 100, 100)
        group.insert(0, 0, init)
        for update in group.publish(0):
            group.deliver(1, update)
        published: list[Any] = []
        began = time.perf_counter()
        for member, edits in ((0, first), (1, second)):
            for edit in edits:  # one transaction: published once, at its end
                _apply(group, member, edit)
            for update in group.publish(member):
                published.append(update)
                group.deliver(1 - member, update)
        elapsed = time.perf_counter() - began
        # Sized after the clock stops, as in B1 and B3: a JSON op costs a json.dumps
        # to size, which is the benchmark's work, not the subject's.
        sent = sum(update_size(update) for update in published)
        ok = group.text(0) == group.text(1)
        if length is not None:
            ok = ok and len(group.text(0)) == length
        return _finish(subject, group, 0, Cell(ok, elapsed, sent / 2, 0.0, 0, 0.0))

    return run


def _random_inserts(rng: random.Random, n: int, low: int, high: int, deletes: bool) -> list[Edit]:
    text = "x" * 100  # stands for the 100-character initial text: only its length matters
    edits: list[Edit] = []
    for _ in range(n):
        index = rng.randint(0, len(text))
        edit: Edit = ("i", index, word(rng, low, high))
        text = _splice(text, edit)
        edits.append(edit)
        if deletes:
            edit = _insert_or_delete(rng, text, index)
            text = _splice(text, edit)
            edits.append(edit)
    return edits


def b2_rows(settings: Settings) -> list[Row]:
    n = settings.n
    rng = _rng(settings, "B2.1")
    rows = [
        Row(
            "B2.1",
            "Concurrently insert string of length N at index 0",
            _b2([("i", 0, word(rng, n, n))], [("i", 0, word(rng, n, n))], 2 * n + 100),
        )
    ]
    for row_id, title, low, high, deletes, length in (
        ("B2.2", "Concurrently insert N characters at random positions", 1, 1, False, 2 * n + 100),
        ("B2.3", "Concurrently insert N words at random positions", 3, 9, False, None),
        ("B2.4", "Concurrently insert & delete", 3, 9, True, None),
    ):
        rng = _rng(settings, row_id)
        first = _random_inserts(rng, n, low, high, deletes)
        second = _random_inserts(rng, n, low, high, deletes)
        rows.append(Row(row_id, title, _b2(first, second, length)))
    return rows


# ------------------------------------------------------------------ B3: many clients
def _clients(settings: Settings) -> int:
    return math.isqrt(settings.n) * 20


def b3_map_rows(settings: Settings) -> list[Row]:
    """B3.1-B3.3: every client sets the same key of a map ("v"), with a number, an object, a string.

    The suite's values (js-lib/b3.js): client i sets `i`, `{name: str(i),
    address: "here"}`, or str(i) repeated 20√N times. No randomness: the
    inputs are the client numbers. One key set concurrently by everyone
    measures how a library resolves (and stores) a many-way conflict.
    """
    clients = _clients(settings)
    values: tuple[tuple[str, str, Callable[[int], Any]], ...] = (
        ("B3.1", "number", lambda i: i),
        ("B3.2", "Object", lambda i: {"name": str(i), "address": "here"}),
        ("B3.3", "String", lambda i: str(i) * clients),
    )
    return [
        Row(
            row_id,
            f"20√N clients concurrently set {kind} in Map ({clients} clients)",
            _b3_map(clients, value),
            needs_map=True,
        )
        for row_id, kind, value in values
    ]


def _b3_map(clients: int, value: Callable[[int], Any]) -> Callable[[Subject, Settings], Cell]:
    def run(subject: Subject, settings: Settings) -> Cell:
        library = subject.maps
        if library is None:  # run_cell marks these cells n/a before it gets here
            raise TypeError(f"{subject.name} has no map type")
        docs = [library.create(i) for i in range(clients)]
        updates: list[tuple[int, bytes]] = []
        for i, doc in enumerate(docs):
            doc.set("v", value(i))
            updates.extend((i, u) for u in doc.take_outgoing())
        # as in B3.4: client 0 syncs first, for reference (untimed); then client 1, timed
        docs[0].receive_all([u for sender, u in updates if sender != 0])
        others = [u for sender, u in updates if sender != 1]
        began = time.perf_counter()
        docs[1].receive_all(others)
        elapsed = time.perf_counter() - began
        entries = docs[0].entries()
        # the suite compares the two maps; ours also checks that one client's value won
        ok = entries == docs[1].entries() and list(entries) == ["v"]
        ok = ok and any(entries["v"] == value(i) for i in range(clients))
        size = float(sum(len(u) for _, u in updates))
        return _finish_map(library, docs[0], Cell(ok, elapsed, size, 0.0, 0, 0.0))

    return run


def _finish_map(library: MapLibrary, doc: MapDocument, cell: Cell) -> Cell:
    """`_finish` for a map document: the loaded copy must hold the same entries."""
    with _collector_paused():
        began = time.perf_counter()
        encoded = doc.encode()
        cell.encode_s = time.perf_counter() - began
    cell.doc_bytes = len(encoded)
    with _collector_paused():
        began = time.perf_counter()
        loaded = library.load(encoded)
        cell.parse_s = time.perf_counter() - began
    cell.ok = cell.ok and loaded.entries() == doc.entries()
    cell.encoded = encoded
    return cell


def b3_text_row(settings: Settings) -> Row:
    """B3.4: every client inserts its own number at index 0, and one client integrates them all.

    The suite inserts into an Array; rtlab's strategies are texts, so the
    numbers go into a text instead (the same many-way conflict at one place).
    The id stays the suite's, B3.4, so a table lines up with the suite's README.
    """
    clients = _clients(settings)

    def run(subject: Subject, settings: Settings) -> Cell:
        group = subject.group(clients)
        updates: list[tuple[int, Any]] = []
        for i in range(clients):
            group.insert(i, 0, str(i))
            updates.extend((i, u) for u in group.publish(i))
        # client 0 syncs first, for reference (untimed); then client 1, timed: each
        # receives everyone else's updates in one transaction, as the suite does
        group.deliver_all(0, [u for sender, u in updates if sender != 0])
        others = [u for sender, u in updates if sender != 1]
        began = time.perf_counter()
        group.deliver_all(1, others)
        elapsed = time.perf_counter() - began
        ok = group.text(0) == group.text(1) and len(group.text(0)) == sum(
            len(str(i)) for i in range(clients)
        )
        size = float(sum(update_size(u) for _, u in updates))
        return _finish(subject, group, 0, Cell(ok, elapsed, size, 0.0, 0, 0.0))

    return Row("B3.4", f"20√N clients concurrently insert text ({clients} clients)", run)


# ------------------------------------------------------------------ B4: the real trace
def _replay(group: Group, patches: Sequence[Sequence[Any]], times: int) -> float:
    insert, delete, publish = group.insert, group.delete, group.publish
    began = time.perf_counter()
    for _ in range(times):
        for pos, deleted, inserted in patches:
            if deleted:
                delete(0, pos, deleted)
            if inserted:
                insert(0, pos, inserted)
            publish(0)  # an editor sends every keystroke; the update is dropped
    return time.perf_counter() - began


def b4_rows(settings: Settings) -> list[Row]:
    def replayed(times: int, expected: str) -> Callable[[Subject, Settings], Cell]:
        def run(subject: Subject, settings: Settings) -> Cell:
            group = subject.group(1)
            elapsed = _replay(group, settings.patches, times)
            ok = group.text(0) == expected
            return _finish(subject, group, 0, Cell(ok, elapsed, None, 0.0, 0, 0.0))

        return run

    b4 = replayed(1, settings.expected_b4)
    b4_repeated = replayed(settings.b4_repeat, settings.expected_b4_repeated)

    return [
        Row(
            "B4",
            "Apply real-world editing dataset",
            b4,
            needs_trace=True,
            skips_whole_document=True,
        ),
        Row(
            f"B4x{settings.b4_repeat}",
            f"Apply real-world editing dataset {settings.b4_repeat} times",
            b4_repeated,
            needs_trace=True,
            skips_whole_document=True,
        ),
    ]


# ------------------------------------------------------------------ M1: long-diverged merge
def merge_row(settings: Settings) -> Row:
    """Two replicas type the first `merge_fork` of the trace together, then go offline.

    Offline, each replays the rest of the trace on its own copy (the same
    patches: positions stay valid on both, and every insert conflicts with
    the other branch's at the same place, the worst case). Then they merge:
    `time` is exchanging and integrating both branches' updates (for OT,
    through the server: each branch's offline edits are composed into one
    buffered op, which the server transforms against the other's).
    """

    def run(subject: Subject, settings: Settings) -> Cell:
        patches = settings.patches[: settings.merge_patches]
        fork = int(len(patches) * settings.merge_fork)
        group = subject.group(2)
        for pos, deleted, inserted in patches[:fork]:
            if deleted:
                group.delete(0, pos, deleted)
            if inserted:
                group.insert(0, pos, inserted)
            for update in group.publish(0):
                group.deliver(1, update)
        branches: list[list[Any]] = [[], []]
        offline = time.perf_counter()
        for member in (0, 1):
            for pos, deleted, inserted in patches[fork:]:
                if deleted:
                    group.delete(member, pos, deleted)
                if inserted:
                    group.insert(member, pos, inserted)
        began = time.perf_counter()
        offline = began - offline
        for member in (0, 1):
            branches[member] = group.publish(member)
        for member in (0, 1):
            for update in branches[member]:
                group.deliver(1 - member, update)
        elapsed = time.perf_counter() - began
        size = float(sum(update_size(u) for b in branches for u in b))
        ok = group.text(0) == group.text(1)
        cell = Cell(ok, elapsed, size, 0.0, 0, 0.0, offline_s=offline)
        return _finish(subject, group, 0, cell)

    return Row(
        "M1",
        f"Long-diverged merge: 2 branches type {100 - 100 * settings.merge_fork:.0f}% of "
        f"{settings.merge_patches:,} trace edits offline",
        run,
        needs_trace=True,
        skips_whole_document=True,
    )


def suite(settings: Settings, with_trace: bool) -> list[Row]:
    rows = b1_rows(settings) + b2_rows(settings) + b3_map_rows(settings) + [b3_text_row(settings)]
    if with_trace:
        rows += [*b4_rows(settings), merge_row(settings)]
    return rows
