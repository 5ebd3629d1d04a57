"""The yjs strategy's own traps: tie order, per-op updates, units, cursors.

Scenarios are generated here; the real trace files are never read.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.collab import text_ops, yjs
from server.collab.registry import get_strategy
from simulate.collab_network import CollabNetwork
from simulate.traces import replay

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _txn(agent: int, parents: list[int], *patches: list[Any]) -> dict[str, Any]:
    return {
        "parents": parents,
        "numChildren": 0,
        "agent": agent,
        "time": "",
        "patches": list(patches),
    }


def retype_after_a_deletion_trace() -> dict[str, Any]:
    """The shape of friendsforever's first divergence, in miniature.

    Both agents start from "sX\\n". Agent 0 deletes X and types ", hu" in its
    place; meanwhile agent 1 types " " right after X. Neither inserts where
    the other does (agent 0 is left of X, agent 1 right of it), so every
    CRDT must give "s, hu \\n"; but Yjs skips the tombstone X when inserting,
    which makes the two insertions siblings and leaves the order to the
    client ids: agent 0's must be the lower one.
    """
    txns = [
        _txn(0, [], [0, 0, "s"]),
        _txn(0, [0], [1, 0, "X"]),
        _txn(0, [1], [2, 0, "\n"]),
        _txn(0, [2], [1, 1, ""]),  # 3
        _txn(0, [3], [1, 0, ","]),
        _txn(0, [4], [2, 0, " "]),
        _txn(1, [2], [2, 0, " "]),  # 6: concurrent with 3..
        _txn(0, [5], [3, 0, "h"]),
        _txn(0, [7], [4, 0, "u"]),
        _txn(1, [6, 8], [0, 0, ">"]),  # merge
        _txn(0, [9], [8, 0, "!"]),
    ]
    return {"kind": "concurrent", "endContent": ">s, hu \n!", "numAgents": 2, "txns": txns}


@pytest.mark.parametrize("strategy", ["yjs", "fugue", "rga"])
def test_concurrent_retype_after_a_deletion_replays_to_the_reference(strategy: str) -> None:
    """Regression: friendsforever ended `ok: false` with yjs (crc32 client ids)."""
    result = replay(retype_after_a_deletion_trace(), strategy, measure_memory=False)
    assert result.ok


def test_yatas_ties_follow_the_replica_ids_whoever_types_first() -> None:
    for left, right in [("agent0", "agent1"), ("a", "b"), ("b1", "b2")]:
        for first in (left, right):
            net = CollabNetwork(get_strategy("yjs"), [left, right])
            net.insert(left, 0, "sXn")
            net.drain()
            # the edits of the trace above, made concurrently (nothing delivered between)
            if first == left:
                net.delete(left, 1, 1)
                net.insert(left, 1, ",")
                net.insert(right, 2, " ")
            else:
                net.insert(right, 2, " ")
                net.delete(left, 1, 1)
                net.insert(left, 1, ",")
            net.drain()
            assert net.texts() == {left: "s, n", right: "s, n"}
            assert net.server.text() == "s, n"


def test_client_ids_are_ordered_like_short_replica_ids_and_never_collide() -> None:
    short = [
        "",
        " ",
        "a",
        "a ",
        "ab",
        "agent0",
        "agent1",
        "b",
        "bot12",
        "sim-u9",
        "zzzzzz",
        "~~~~~~",
    ]
    ids = [yjs._client_id(name) for name in short]
    assert short == sorted(short)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    long = [f"user-{n:08d}" for n in range(2000)] + ["é", "é😀", "a\0"]
    long_ids = {yjs._client_id(name) for name in long}
    assert len(long_ids) == len(long)
    assert min(long_ids) > max(ids)
    assert max(long_ids) < 2**53  # what JavaScript Yjs can hold


def test_similar_replica_ids_spread_over_the_low_bits() -> None:
    """Yrs hashes client ids by identity: ids alike in their low bits share one bucket."""
    ids = [yjs._client_id(f"m{i}") for i in range(1540)]
    assert len({client & 0x7FF for client in ids}) > 1000


def _update_sizes(ops: list[dict[str, Any]]) -> list[int]:
    return [len(base64.b64decode(op["update"])) for op in ops]


def test_each_op_carries_only_its_own_edit_not_the_documents_deletions() -> None:
    """`get_update(state_before)` repeats the whole delete set in every op."""
    replica = yjs.YjsReplica("a")
    for i in range(300):  # 300 scattered deletions: 300 delete-set ranges
        replica.insert(i, "xy")
        replica.delete(i + 1, 1)
    replica.take_outgoing()
    replica.insert(0, "z")
    replica.delete(5, 1)
    (insert, delete) = _update_sizes(replica.take_outgoing())
    assert insert < 40 and delete < 40


def test_ops_replayed_elsewhere_rebuild_the_text() -> None:
    a, b = yjs.YjsReplica("a"), yjs.YjsReplica("b")
    server = yjs.YjsDocument()
    edits: list[tuple[str, int, Any]] = [
        ("i", 0, "héllo"),
        ("i", 5, " wörld"),
        ("d", 1, 3),
        ("i", 2, "😀中"),
        ("d", 0, 1),
    ]
    for kind, pos, arg in edits:
        a.insert(pos, arg) if kind == "i" else a.delete(pos, arg)
    for op in a.take_outgoing():
        server.apply(op, "a")
        b.receive(op)
    assert a.text() == b.text() == server.text() == "o😀中 wörld"


def test_cursor_names_its_character_after_earlier_deletions() -> None:
    """The id used to come from the first range of the whole delete set."""
    net = CollabNetwork(get_strategy("yjs"), ["a", "b", "c"])
    net.insert("a", 0, "hello world")
    net.drain()
    net.delete("b", 0, 2)  # "llo world": b's deletion is in every later delete set
    net.drain()
    wire = net.replicas["a"].encode_cursor(4)  # "llo |world"
    assert wire["len"] == 1 and wire["clock"] == 6
    net.insert("c", 0, "¡")
    net.drain()
    net.replicas["b"].set_remote_cursor("a", wire)
    assert net.replicas["b"].remote_cursors() == {"a": 5}
    net.delete("c", 0, 4)  # "¡llo" goes: the caret follows "world"
    net.drain()
    assert net.replicas["b"].remote_cursors() == {"a": 1}


def test_cursors_follow_remote_edits_across_ascii_and_non_ascii_text() -> None:
    net = CollabNetwork(get_strategy("yjs"), ["a", "b"])
    net.insert("a", 0, "abcdef")
    net.drain()
    net.replicas["b"].set_remote_cursor("a", net.replicas["a"].encode_cursor(4))  # before e
    steps: list[tuple[str, int, Any]] = [
        ("i", 1, "😀é"),
        ("d", 0, 2),
        ("i", 0, "xy"),
        ("d", 0, 3),
        ("i", 5, "中"),
    ]
    expected_text = "abcdef"
    for kind, pos, arg in steps:
        if kind == "i":
            net.insert("a", pos, arg)
            expected_text = expected_text[:pos] + arg + expected_text[pos:]
        else:
            net.delete("a", pos, arg)
            expected_text = expected_text[:pos] + expected_text[pos + arg :]
        net.drain()
        assert net.replicas["b"].text() == expected_text
        assert net.replicas["b"].remote_cursors() == {"a": expected_text.index("e")}
    # b's own edits move the cursor too, and b's units follow what a sent
    net.insert("b", 0, "é")
    net.delete("b", expected_text.index("e"), 1)
    net.drain()
    assert net.replicas["b"].remote_cursors() == {"a": expected_text.index("e")}
    assert net.texts()["a"] == net.texts()["b"]


class TinyUnits(yjs._Units):
    CHUNK = 2


edit = st.tuples(
    st.booleans(), st.integers(0, 40), st.integers(0, 5), st.text("ab😀é中 ", max_size=6)
)


@SETTINGS
@given(st.text("ab😀é中", max_size=30), st.lists(edit, max_size=40))
def test_unit_map_matches_utf8(initial: str, edits: list[tuple[bool, int, int, str]]) -> None:
    """_Units with tiny chunks (splits, empty chunks) against str and its UTF-8 encoding."""
    units = TinyUnits(initial)
    text = initial
    for is_delta, pos, length, inserted in edits:
        pos = min(pos, len(text))
        length = min(length, len(text) - pos)
        if is_delta:  # as a pycrdt delta in bytes, checked against text_ops
            before = text
            delta: list[dict[str, Any]] = []
            if pos:
                delta.append({"retain": len(text[:pos].encode())})
            if length:
                delta.append({"delete": len(text[pos : pos + length].encode())})
            if inserted:
                delta.append({"insert": inserted})
            text = text[:pos] + inserted + text[pos + length :]
            op = units.apply_delta(delta)
            assert text_ops.apply(before, text_ops.normalize(op)) == text
        else:
            units.delete(pos, length)
            units.insert(pos, inserted)
            text = text[:pos] + inserted + text[pos + length :]
        assert "".join(units.chunks) == text
        assert units.chars == len(text) and units.size == len(text.encode())
        for index in range(len(text) + 1):
            offset = len(text[:index].encode())
            assert units.byte_offset(index) == offset
            assert units.char_index(offset) == index


@SETTINGS
@given(st.data())
def test_replicas_keep_code_points_through_mixed_local_and_remote_edits(
    data: st.DataObject,
) -> None:
    """Local edits after remote ones land where a str splice puts them (ASCII fast path,
    the switch to a unit map and back)."""
    net = CollabNetwork(get_strategy("yjs"), ["a", "b"])
    model = ""
    for _ in range(data.draw(st.integers(1, 25))):
        who = data.draw(st.sampled_from(["a", "b"]))
        pos = data.draw(st.integers(0, len(model)))
        if model and data.draw(st.booleans()):
            length = data.draw(st.integers(1, len(model) - pos)) if pos < len(model) else 0
            net.delete(who, pos, length)
            model = model[:pos] + model[pos + length :]
        else:
            inserted = data.draw(st.text("ab😀é", min_size=1, max_size=4))
            net.insert(who, pos, inserted)
            model = model[:pos] + inserted + model[pos:]
        net.drain()  # sequential: every edit is seen by both before the next
        assert net.texts() == {"a": model, "b": model}
