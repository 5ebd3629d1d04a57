"""Fugue and RGA: intention preservation, convergence, snapshots, cursors, validation."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.collab.base import CollabError, DocumentServer, Replica
from server.collab.registry import get_strategy

CRDTS = ["fugue", "rga"]


class Room:
    """Replicas behind one server, with FIFO links in both directions."""

    def __init__(self, strategy: str, names: list[str]) -> None:
        self.strategy = get_strategy(strategy)
        self.doc: DocumentServer = self.strategy.create_document()
        self.replicas: dict[str, Replica] = {}
        self.up: dict[str, deque[dict[str, Any]]] = {}
        self.down: dict[str, deque[dict[str, Any]]] = {}
        self.log: list[dict[str, Any]] = []  # ops in the order the server applied them
        for name in names:
            self.join(name)

    def join(self, name: str) -> Replica:
        replica = self.strategy.create_replica(name, self.doc.snapshot())
        self.replicas[name] = replica
        self.up[name] = deque()
        self.down[name] = deque()
        return replica

    def flush(self, name: str) -> None:
        self.up[name].extend(self.replicas[name].take_outgoing())

    def to_server(self, name: str) -> None:
        if self.up[name]:
            op = self.up[name].popleft()
            applied = self.doc.apply(op, name)
            self.replicas[name].acknowledge(applied.ack)
            self.log.append(op)
            if applied.broadcast is not None:
                for other in self.replicas:
                    if other != name:
                        self.down[other].append(applied.broadcast)

    def to_client(self, name: str) -> None:
        if self.down[name]:
            self.replicas[name].receive(self.down[name].popleft())

    def settle(self) -> None:
        for name in self.replicas:
            self.flush(name)
        while any(self.up.values()) or any(self.down.values()):
            for name in self.replicas:
                self.to_server(name)
            for name in self.replicas:
                self.to_client(name)

    def texts(self) -> list[str]:
        return [r.text() for r in self.replicas.values()]


def type_forwards(room: Room, name: str, pos: int, word: str) -> None:
    for i, ch in enumerate(word):
        room.replicas[name].insert(pos + i, ch)
        room.flush(name)  # one op per keystroke, as a live editor sends them


def type_backwards(room: Room, name: str, pos: int, word: str) -> None:
    for ch in reversed(word):
        room.replicas[name].insert(pos, ch)
        room.flush(name)


@pytest.mark.parametrize("strategy", CRDTS)
def test_concurrent_words_typed_forwards_stay_whole(strategy: str) -> None:
    room = Room(strategy, ["alice", "bob"])
    room.replicas["alice"].insert(0, "hello world")
    room.settle()
    type_forwards(room, "alice", 5, " there")
    type_forwards(room, "bob", 5, " dear")
    room.settle()
    text = room.doc.text()
    assert set(room.texts()) == {text}
    assert text in ("hello there dear world", "hello dear there world")


def test_backwards_typing_fugue_keeps_words_rga_interleaves() -> None:
    results = {}
    for strategy in CRDTS:
        room = Room(strategy, ["alice", "bob"])
        room.replicas["alice"].insert(0, "[]")
        room.settle()
        type_backwards(room, "alice", 1, "abc")
        type_backwards(room, "bob", 1, "xyz")
        room.settle()
        assert set(room.texts()) == {room.doc.text()}
        results[strategy] = room.doc.text()
    assert results["fugue"] in ("[abcxyz]", "[xyzabc]")
    inner = results["rga"][1:-1]
    assert sorted(inner) == sorted("abcxyz")
    assert "abc" not in inner and "xyz" not in inner  # RGA: character by character


def _three_replica_example(strategy: str) -> str:
    """The Fugue-paper style case where Yjs splits B's block: see test below."""
    room = Room(strategy, ["A", "B", "1"])
    a, b, c = (room.replicas[n] for n in ("A", "B", "1"))
    a.insert(0, "a")
    a.insert(0, "A")  # left of a
    a.insert(2, "á")  # right of a
    b.insert(0, "b")
    room.flush("B")
    room.to_server("B")
    room.to_client("1")  # replica "1" sees only B's "b"
    b.insert(1, "ḃ")
    c.insert(0, "B")  # left of b, concurrent with everything of A
    room.settle()
    assert set(room.texts()) == {room.doc.text()}
    return room.doc.text()


def test_three_replica_example_does_not_interleave_under_fugue() -> None:
    assert _three_replica_example("fugue") == "AaáBbḃ"


def test_three_replica_example_interleaves_under_yjs() -> None:
    pycrdt = pytest.importorskip("pycrdt")
    docs = {cid: pycrdt.Doc(client_id=cid) for cid in (1, 2, 3)}  # "1" < "A" < "B"
    text = {cid: d.get("t", type=pycrdt.Text) for cid, d in docs.items()}
    text[2].insert(0, "a")
    text[2].insert(0, "A")
    text[2].insert(2, "á")
    text[3].insert(0, "b")
    docs[1].apply_update(docs[3].get_update())
    text[3].insert(1, "ḃ")
    text[1].insert(0, "B")
    for target in docs.values():
        for source in docs.values():
            if source is not target:
                target.apply_update(source.get_update(target.get_state()))
    merged = {str(t) for t in text.values()}
    assert len(merged) == 1
    yjs_text = merged.pop()
    assert "Bbḃ" not in yjs_text  # Yjs splits B's block: "BAaábḃ"


# ---------------------------------------------------------------- reference
def _reference_text(strategy: str, log: list[dict[str, Any]]) -> str:
    """Per-character, O(n^2) version of the same integration rules, as an oracle."""
    items: list[dict[str, Any]] = []

    def index(ident: Any) -> int:
        if ident is None:
            return -1
        ident = tuple(ident)
        return next(i for i, it in enumerate(items) if it["id"] == ident)

    for op in log:
        if op["type"] == "delete":
            for name, counter, length in op["ranges"]:
                for k in range(length):
                    items[index((name, counter + k))]["deleted"] = True
            continue
        name, counter = op["id"]
        for k, ch in enumerate(op["text"]):
            left = op["left"] if k == 0 else (name, counter + k - 1)
            item = {
                "id": (name, counter + k),
                "left": None if left is None else tuple(left),
                "right": None if op.get("right") is None else tuple(op["right"]),
                "seq": op.get("seq", 0) + k,
                "ch": ch,
                "deleted": False,
            }
            lo = index(item["left"])
            if any(it["id"] == item["id"] for it in items):
                continue
            if strategy == "fugue":
                ro = len(items) if item["right"] is None else index(item["right"])
                dest, i, scanning = lo + 1, lo + 1, False
                while True:
                    if not scanning:
                        dest = i
                    if i == len(items) or i == ro:
                        break
                    o = items[i]
                    ol = index(o["left"])
                    orr = len(items) if o["right"] is None else index(o["right"])
                    if ol < lo:
                        break
                    if ol == lo:
                        if orr < ro:
                            scanning = True
                        elif orr == ro:
                            if name < o["id"][0]:
                                break
                            scanning = False
                        else:
                            scanning = False
                    i += 1
            else:
                dest = lo + 1
                while dest < len(items):
                    o = items[dest]
                    ol = index(o["left"])
                    if ol < lo:
                        break
                    if ol == lo and (
                        item["seq"] > o["seq"] or (item["seq"] == o["seq"] and name < o["id"][0])
                    ):
                        break
                    dest += 1
            items.insert(dest, item)
    return "".join(it["ch"] for it in items if not it["deleted"])


steps = st.lists(
    st.tuples(
        st.sampled_from(["edit", "edit", "up", "down", "down"]),
        st.integers(0, 4),
        st.integers(0, 10**6),
    ),
    max_size=60,
)


@pytest.mark.parametrize("strategy", CRDTS)
@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 5), plan=steps, seed=st.integers(0, 2**16))
def test_random_concurrent_edits_converge(strategy: str, n: int, plan: list, seed: int) -> None:
    names = [f"r{i}" for i in range(n)]
    room = Room(strategy, names)
    rng = random.Random(seed)
    for action, who, r in plan:
        name = names[who % n]
        replica = room.replicas[name]
        if action == "edit":
            length = len(replica.text())
            if length and r % 3 == 0:
                pos = r % length
                replica.delete(pos, 1 + rng.randrange(min(3, length - pos)))
            else:
                word = "".join(rng.choice("xyzé😀") for _ in range(1 + r % 4))
                if r % 2:
                    replica.insert(r % (length + 1), word)
                else:
                    type_backwards(room, name, r % (length + 1), word)
            if r % 5:
                room.flush(name)
        elif action == "up":
            room.to_server(name)
        else:
            room.to_client(name)
    room.settle()
    text = room.doc.text()
    assert room.texts() == [text] * n
    assert _reference_text(strategy, room.log) == text


@pytest.mark.parametrize("strategy", CRDTS)
def test_late_joiner_from_snapshot_converges(strategy: str) -> None:
    room = Room(strategy, ["a", "b"])
    rng = random.Random(7)
    for i in range(40):
        name = "ab"[i % 2]
        replica = room.replicas[name]
        length = len(replica.text())
        if length > 3 and i % 3 == 0:
            replica.delete(rng.randrange(length - 2), 2)
        else:
            replica.insert(rng.randrange(length + 1), f"w{i}")
        room.flush(name)
        if i % 4 == 0:
            room.settle()
    room.to_server("a")  # leave some ops in flight while "late" joins
    late = room.join("late")
    assert late.text() == room.doc.text()
    late.insert(0, "L>")
    late.insert(len(late.text()), "<L")
    room.replicas["a"].insert(1, "A")
    room.settle()
    assert set(room.texts()) == {room.doc.text()}
    assert room.doc.text().startswith("L") and room.doc.text().endswith("<L")


@pytest.mark.parametrize("strategy", CRDTS)
def test_remote_cursor_stays_on_its_character(strategy: str) -> None:
    room = Room(strategy, ["a", "b"])
    a, b = room.replicas["a"], room.replicas["b"]
    a.insert(0, "hello world")
    room.settle()
    b.set_remote_cursor("alice", a.encode_cursor(6))  # after "hello "
    b.set_remote_cursor("start", a.encode_cursor(0))
    assert b.remote_cursors() == {"alice": 6, "start": 0}
    a.insert(0, ">> ")
    room.settle()
    assert b.remote_cursors()["alice"] == 9
    a.delete(7, 2)  # deletes "o " - the character the cursor hangs on is the space
    room.settle()
    assert b.text() == ">> hellworld"
    assert b.remote_cursors()["alice"] == 7  # after "hell", its nearest visible left
    assert b.remote_cursors()["start"] == 0


@pytest.mark.parametrize("strategy", CRDTS)
def test_positions_count_code_points(strategy: str) -> None:
    room = Room(strategy, ["a", "b"])
    a = room.replicas["a"]
    a.insert(0, "héllo 😀 世界")
    a.insert(7, "👍")  # after the emoji: code point 7
    a.delete(1, 1)  # the é
    room.settle()
    assert room.doc.text() == "hllo 😀👍 世界"
    b = room.replicas["b"]
    b.insert(len(b.text()), "ñ")
    b.delete(5, 2)
    room.settle()
    assert set(room.texts()) == {"hllo  世界ñ"}


@pytest.mark.parametrize("strategy", CRDTS)
def test_bad_ops_are_rejected_and_change_nothing(strategy: str) -> None:
    room = Room(strategy, ["a"])
    room.replicas["a"].insert(0, "abc")
    room.settle()
    before = room.doc.snapshot()
    extra = {"right": None} if strategy == "fugue" else {"seq": 9}
    bad_ops: list[Any] = [
        "nope",
        {"type": "move"},
        {"type": "insert", "id": ["a", 3], "left": None, "text": "", **extra},
        {"type": "insert", "id": ["a", "x"], "left": None, "text": "q", **extra},
        {"type": "insert", "id": ["a", 9], "left": None, "text": "q", **extra},  # gap
        {"type": "insert", "id": ["z", 0], "left": ["a", 7], "text": "q", **extra},
        {"type": "delete", "ranges": []},
        {"type": "delete", "ranges": [["a", 2, 5]]},
        {"type": "delete", "ranges": [["a", 0, 1], ["ghost", 0, 1]]},
    ]
    if strategy == "fugue":
        # right origin before left origin
        bad_ops.append(
            {"type": "insert", "id": ["z", 0], "left": ["a", 2], "right": ["a", 0], "text": "q"}
        )
        # shaped like a keystroke continuing "abc" (the relay's fast path), with a bad right origin
        for right in (["ghost", 0], ["a", 99], ["a"], "a", 3):
            bad_ops.append(
                {"type": "insert", "id": ["a", 3], "left": ["a", 2], "right": right, "text": "d"}
            )
    else:
        bad_ops.append({"type": "insert", "id": ["z", 0], "left": ["a", 2], "seq": 1, "text": "q"})
        # shaped like a keystroke continuing "abc" (stamps 0-2), with a bad stamp
        for seq in (2, -1, True, "3", 3.0, None):
            bad_ops.append(
                {"type": "insert", "id": ["a", 3], "left": ["a", 2], "seq": seq, "text": "d"}
            )
    for op in bad_ops:
        with pytest.raises(CollabError) as info:
            room.doc.apply(op, "a")
        assert info.value.code in ("bad_request", "conflict")
        assert room.doc.snapshot() == before
    with pytest.raises(CollabError):
        room.replicas["a"].insert(99, "x")
    with pytest.raises(CollabError):
        room.replicas["a"].delete(2, 5)
    # a duplicated op is acknowledged without being broadcast again
    room.replicas["a"].insert(3, "d")
    (op,) = room.replicas["a"].take_outgoing()
    assert room.doc.apply(op, "a").broadcast == op
    assert room.doc.apply(op, "a").broadcast is None
    assert room.doc.text() == "abcd"


@pytest.mark.parametrize("strategy", CRDTS)
def test_typing_a_word_travels_as_one_op(strategy: str) -> None:
    room = Room(strategy, ["a"])
    a = room.replicas["a"]
    for i, ch in enumerate("hello"):
        a.insert(i, ch)
    a.delete(4, 1)
    a.delete(3, 1)
    ops = a.take_outgoing()
    assert [op["type"] for op in ops] == ["insert", "delete"]
    assert ops[0]["text"] == "hello" and ops[0]["id"] == ["a", 0]
    assert sum(n for _, _, n in ops[1]["ranges"]) == 2


# ------------------------------------------------------- editing fast paths
def _check(replica: Replica) -> None:
    replica.core.check_invariants()  # type: ignore[attr-defined]


def _edit_like_a_person(rng: random.Random, replica: Replica, model: list[str], caret: int) -> int:
    """One editing gesture at or near a caret: typing, backspaces, forward deletes, a jump."""
    gesture = rng.random()
    length = len(model)
    if gesture < 0.1 or length == 0:  # jump somewhere, then type
        caret = rng.randrange(length + 1)
    if gesture < 0.55:
        for ch in rng.choice(["x", "yz", "héllo", "😀"]) * rng.randrange(1, 4):
            replica.insert(caret, ch)
            model.insert(caret, ch)
            caret += 1
    elif gesture < 0.8:
        for _ in range(rng.randrange(1, 5)):
            if caret == 0:
                break
            count = 1 if rng.random() < 0.8 else min(caret, 3)
            replica.delete(caret - count, count)
            del model[caret - count : caret]
            caret -= count
    else:
        for _ in range(rng.randrange(1, 5)):
            if caret >= len(model):
                break
            count = 1 if rng.random() < 0.8 else min(len(model) - caret, 2)
            replica.delete(caret, count)
            del model[caret : caret + count]
    return caret


@pytest.mark.parametrize("strategy", CRDTS)
@pytest.mark.parametrize("seed", range(12))
def test_keystroke_fast_paths_match_a_plain_string(strategy: str, seed: int) -> None:
    """Typing on, backspacing and forward-deleting at a caret, one op per keystroke.

    Those take the caret and boundary-moving paths of the run list; after
    every gesture the local text equals a plain list model, every index and
    cache agrees with the runs, and the server's copy and a second replica
    (which integrate the same ops through the remote paths) agree too.
    """
    rng = random.Random(seed)
    room = Room(strategy, ["a", "b"])
    a = room.replicas["a"]
    model: list[str] = []
    caret = 0
    for step in range(150):
        caret = _edit_like_a_person(rng, a, model, caret)
        assert a.text() == "".join(model)
        _check(a)
        if step % 7 == 0:
            room.settle()
            _check(room.replicas["b"])
            room.doc.core.check_invariants()  # type: ignore[attr-defined]
    room.settle()
    assert room.texts() == ["".join(model)] * 2 == [room.doc.text()] * 2
    assert _reference_text(strategy, room.log) == room.doc.text()


@pytest.mark.parametrize("strategy", CRDTS)
@pytest.mark.parametrize("seed", range(8))
def test_fast_paths_stay_right_while_remote_edits_arrive(strategy: str, seed: int) -> None:
    """Two people edit at their own carets while each other's ops trickle in.

    A remote op changes the document under the local caret (shifting it, or
    splitting its run), so every cached position must be dropped or kept
    exactly right; the oracle and convergence say whether it was.
    """
    rng = random.Random(1000 + seed)
    room = Room(strategy, ["a", "b"])
    carets = {"a": 0, "b": 0}
    for _ in range(120):
        name = rng.choice("ab")
        replica = room.replicas[name]
        model = list(replica.text())
        carets[name] = min(carets[name], len(model))
        carets[name] = _edit_like_a_person(rng, replica, model, carets[name])
        assert replica.text() == "".join(model)
        room.flush(name)
        for _ in range(rng.randrange(3)):
            room.to_server(rng.choice("ab"))
            room.to_client(rng.choice("ab"))
        _check(room.replicas["a"])
        _check(room.replicas["b"])
    room.settle()
    texts = room.texts()
    assert texts == [room.doc.text()] * 2
    assert _reference_text(strategy, room.log) == room.doc.text()
    room.doc.core.check_invariants()  # type: ignore[attr-defined]


@pytest.mark.parametrize("strategy", CRDTS)
def test_a_long_passage_typed_without_corrections_keeps_runs_bounded(strategy: str) -> None:
    """A str cannot grow in place: unbounded runs made every keystroke copy the passage."""
    from server.collab.run_sequence import MAX_RUN_TEXT

    room = Room(strategy, ["a", "b"])
    a = room.replicas["a"]
    passage = "".join(chr(ord("a") + i % 26) for i in range(5 * MAX_RUN_TEXT + 7))
    for i, ch in enumerate(passage):
        a.insert(i, ch)
        room.flush("a")
    room.settle()
    copies: tuple[Any, ...] = (a, room.replicas["b"], room.doc)
    for copy in copies:
        core = copy.core
        core.check_invariants()
        lengths = [len(s.text) for c in core.chunks for s in c.spans if s.text is not None]
        assert max(lengths) <= MAX_RUN_TEXT and sum(lengths) == len(passage)
        assert copy.text() == passage
    # the seams between runs are invisible on the wire: one op per keystroke, in order
    assert [op["text"] for op in room.log] == list(passage)


@pytest.mark.parametrize(
    ("sibling", "stamp", "expected", "in_place"),
    [
        ("z", 2, "abcX", True),  # same stamp, larger name: RGA orders b's keystroke first
        ("a", 2, "abXc", False),  # same stamp, smaller name: the sibling goes first
        ("z", 5, "abXc", False),  # newer stamp: the sibling goes first
        ("z", 1, None, False),  # not newer than its left origin: refused
    ],
)
def test_rga_typing_on_yields_to_a_concurrent_sibling(
    sibling: str, stamp: int, expected: str | None, in_place: bool
) -> None:
    """RGA's keystroke path extends a run in place only where the full scan would put it.

    b types "ab", then "c" after its "b"; meanwhile `sibling` inserted "X"
    after that same "b" and reached everyone first. Whether "c" may extend
    b's run depends on the sibling's stamp and name (`RunSequence.extend_run`),
    and the server, a replica and the per-character oracle must agree.
    """
    strat = get_strategy("rga")
    ops: list[dict[str, Any]] = [
        {"type": "insert", "id": ["b", 0], "left": None, "seq": 0, "text": "ab"},
        {"type": "insert", "id": [sibling, 0], "left": ["b", 1], "seq": stamp, "text": "X"},
        {"type": "insert", "id": ["b", 2], "left": ["b", 1], "seq": 2, "text": "c"},
    ]
    doc = strat.create_document()
    replica = strat.create_replica("r", strat.create_document().snapshot())
    doc.apply(ops[0], "b")
    replica.receive(ops[0])
    if expected is None:
        with pytest.raises(CollabError):
            doc.apply(ops[1], sibling)
        return
    for op in ops[1:]:
        doc.apply(op, "b")
        replica.receive(op)
    assert doc.text() == replica.text() == _reference_text("rga", ops) == expected
    for core in (doc.core, replica.core):  # type: ignore[attr-defined]
        core.check_invariants()
        b_runs = core.owner[core.rindex["b"]]
        assert (b_runs[2] is b_runs[0]) is in_place  # one run "abc", or "c" a run of its own


@pytest.mark.parametrize("strategy", CRDTS)
@pytest.mark.parametrize("seed", range(40))
def test_concurrent_typists_one_keystroke_per_op_match_the_oracle(strategy: str, seed: int) -> None:
    """Two or three people type on at their carets, each keystroke its own op, delivered late.

    Every relayed keystroke that continues its author's run meets the
    server's and the replicas' in-place path (`RunSequence.extend_run`), and
    concurrent typists at one place make the siblings that path must yield
    to; the end texts must equal the per-character oracle's.
    """
    rng = random.Random(seed)
    names = ["a", "b", "c"][: rng.randint(2, 3)]
    room = Room(strategy, names)
    carets = dict.fromkeys(names, 0)
    for _ in range(200):
        name = rng.choice(names)
        replica = room.replicas[name]
        carets[name] = min(carets[name], len(replica.text()))
        gesture = rng.random()
        if gesture < 0.1:
            carets[name] = rng.randint(0, len(replica.text()))
        elif gesture < 0.7:
            for _ in range(rng.randint(1, 4)):
                replica.insert(carets[name], rng.choice("xyz"))
                carets[name] += 1
                if rng.random() < 0.7:
                    room.flush(name)
        elif gesture < 0.8 and carets[name] > 0:
            carets[name] -= 1
            replica.delete(carets[name], 1)
            room.flush(name)
        elif gesture < 0.9:
            room.to_server(rng.choice(names))
        else:
            room.to_client(rng.choice(names))
    room.settle()
    text = room.doc.text()
    assert room.texts() == [text] * len(names)
    assert _reference_text(strategy, room.log) == text
    room.doc.core.check_invariants()  # type: ignore[attr-defined]
