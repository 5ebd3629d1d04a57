"""What each conflict strategy promises, checked against adversarial delivery orders.

The network in `collab_network` only moves a message when told to, so
hypothesis chooses the whole interleaving (which replica edits, which link
advances) while each link stays FIFO, as a WebSocket does.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from server.collab import text_ops
from server.collab.base import CollabError
from server.collab.registry import Strategy, get_strategy
from simulate.collab_network import CollabNetwork, Link

# Multi-byte on purpose: é is 2 UTF-8 bytes, 😀 is 4 (and 2 UTF-16 units), 中 is 3.
ALPHABET = "abé😀中"
CONVERGENT = ["ot", "yjs", "lww", "fugue", "rga", "loro"]
ALL = ["naive", "ot", "lww", "yjs", "fugue", "rga", "loro"]

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def load_strategy(name: str) -> Strategy:
    """The strategy, or a skip while a colleague's module does not exist yet.

    A module's own STRATEGY is preferred over the registry so that one
    half-written strategy module cannot break the tests of the others
    (`get_strategy` imports them all).
    """
    module = pytest.importorskip(f"server.collab.{name}")
    return getattr(module, "STRATEGY", None) or get_strategy(name)


def random_edit(net: CollabNetwork, data: st.DataObject, *, allow_delete: bool = True) -> None:
    replica_id = data.draw(st.sampled_from(sorted(net.replicas)), label="editor")
    current = net.replicas[replica_id].text()
    if allow_delete and current and data.draw(st.booleans(), label="delete?"):
        pos = data.draw(st.integers(0, len(current) - 1), label="pos")
        length = data.draw(st.integers(1, min(3, len(current) - pos)), label="length")
        net.delete(replica_id, pos, length)
    else:
        pos = data.draw(st.integers(0, len(current)), label="pos")
        chunk = data.draw(st.text(ALPHABET, min_size=1, max_size=3), label="text")
        net.insert(replica_id, pos, chunk)


def run_random_schedule(net: CollabNetwork, data: st.DataObject, *, allow_delete: bool) -> None:
    """Random edits and deliveries, then a random drain to quiescence."""
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        links = net.busy_links()
        if links and bool(data.draw(st.booleans(), label="deliver?")):
            net.deliver(data.draw(st.sampled_from(links), label="link"))
        else:
            random_edit(net, data, allow_delete=allow_delete)
    while links := net.busy_links():
        net.deliver(data.draw(st.sampled_from(links), label="drain"))


def flush(net: CollabNetwork, *links: Link) -> None:
    for link in links:
        net.deliver(link)


# -- convergence ---------------------------------------------------------------


@pytest.mark.parametrize("name", CONVERGENT)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_concurrent_edits_converge_at_quiescence(name: str, data: st.DataObject) -> None:
    strategy = load_strategy(name)
    replicas = data.draw(st.integers(2, 5), label="replicas")
    net = CollabNetwork(strategy, [f"r{i}" for i in range(replicas)])

    run_random_schedule(net, data, allow_delete=True)

    assert net.is_quiescent()
    assert net.texts() == dict.fromkeys(net.replicas, net.server.text())


def test_naive_diverges_on_concurrent_inserts_at_one_place() -> None:
    """Both users type at index 0 of an empty document at the same moment.

    The server applies a's "a" then b's "b" at raw index 0: "ba", and relays
    both unchanged. a gets "b"@0 on top of its "a": "ba". But b gets "a"@0 on
    top of its own "b": "ab". Nobody adjusted an index for an edit it had not
    seen, so b now disagrees with the server forever.
    """
    net = CollabNetwork(load_strategy("naive"), ["a", "b"])
    net.insert("a", 0, "a")
    net.insert("b", 0, "b")
    flush(net, Link("up", "a"), Link("up", "b"))
    net.drain()

    assert net.is_quiescent()
    assert net.server.text() == "ba"
    assert net.replicas["a"].text() == "ba"
    assert net.replicas["b"].text() == "ab"


# -- intention -----------------------------------------------------------------

# Disjoint alphabets make every character traceable to the user who typed it.
USER_ALPHABETS = ["aé", "b😀", "c中", "dñ", "e€"]


@pytest.mark.parametrize("name", ["ot", "yjs", "fugue", "rga", "loro"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_everyones_typing_survives_when_nobody_deletes(name: str, data: st.DataObject) -> None:
    strategy = load_strategy(name)
    replicas = data.draw(st.integers(2, 5), label="replicas")
    net = CollabNetwork(strategy, [f"r{i}" for i in range(replicas)])
    typed: dict[str, Counter[str]] = {replica_id: Counter() for replica_id in net.replicas}

    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        links = net.busy_links()
        if links and bool(data.draw(st.booleans(), label="deliver?")):
            net.deliver(data.draw(st.sampled_from(links), label="link"))
            continue
        replica_id = data.draw(st.sampled_from(sorted(net.replicas)), label="typist")
        alphabet = USER_ALPHABETS[int(replica_id[1:])]
        pos = data.draw(st.integers(0, len(net.replicas[replica_id].text())), label="pos")
        chunk = data.draw(st.text(alphabet, min_size=1, max_size=3), label="text")
        net.insert(replica_id, pos, chunk)
        typed[replica_id].update(chunk)
    net.drain()

    final = Counter(net.server.text())
    for replica_id, characters in typed.items():
        alphabet = USER_ALPHABETS[int(replica_id[1:])]
        assert Counter({c: final[c] for c in alphabet if final[c]}) == characters, replica_id


def test_lww_loses_one_users_concurrent_typing() -> None:
    """Last writer wins converges by throwing work away.

    a and b type into the empty document at the same time. Both full-text
    writes carry Lamport time 1, so the replica id breaks the tie: b wins,
    and every copy, a's included, ends up without a's "hello".
    """
    net = CollabNetwork(load_strategy("lww"), ["a", "b"])
    net.insert("a", 0, "hello")
    net.insert("b", 0, "wörld 😀")
    net.drain()

    assert net.is_quiescent()
    assert net.texts() == {"a": "wörld 😀", "b": "wörld 😀"}
    assert "hello" not in net.server.text()  # a's typing is lost, not merged


# -- late joiners ----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_late_joiner_starts_from_the_snapshot_and_keeps_up(name: str) -> None:
    strategy = load_strategy(name)
    net = CollabNetwork(strategy, ["a", "b"])
    net.insert("a", 0, "héllo")
    net.drain()
    net.insert("b", 5, " wörld")
    net.drain()
    if strategy.convergent:
        net.insert("a", 0, "😀")  # still on its way to the server when c joins

    late = net.join("c")
    assert late.text() == net.server.text()

    net.drain()
    net.insert("c", len(late.text()), " 中")
    net.drain()
    net.insert("b", 1, "!")
    net.drain()

    assert net.is_quiescent()
    expected = "😀!héllo wörld 中" if strategy.convergent else "h!éllo wörld 中"
    assert net.server.text() == expected
    assert net.texts() == dict.fromkeys(net.replicas, net.server.text())


# -- cursors -------------------------------------------------------------------


def _share_cursor_then_insert_before_it(name: str) -> int:
    """b shows a its caret at 6 ("héllo |wörld"); c then types two characters at 0."""
    net = CollabNetwork(load_strategy(name), ["a", "b", "c"])
    net.insert("a", 0, "héllo wörld")
    net.drain()
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(6))
    assert net.replicas["a"].remote_cursors() == {"b": 6}

    net.insert("c", 0, "😀中")
    net.drain()
    return net.replicas["a"].remote_cursors()["b"]


@pytest.mark.parametrize("name", ["ot", "yjs", "loro"])
def test_remote_cursor_follows_a_remote_insert_before_it(name: str) -> None:
    assert _share_cursor_then_insert_before_it(name) == 8


def test_naive_remote_cursor_keeps_its_raw_index() -> None:
    assert (
        _share_cursor_then_insert_before_it("naive") == 6
    )  # now points at "lo", as in the tutorial


@pytest.mark.parametrize("name", ["ot", "yjs", "loro"])
def test_remote_cursor_after_deletes_and_inserts_around_it(name: str) -> None:
    net = CollabNetwork(load_strategy(name), ["a", "b"])
    net.insert("a", 0, "héllo wörld")
    net.drain()
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(6))
    net.delete("a", 0, 2)  # local delete before it
    net.insert("a", 7, "!")  # local insert after it
    assert net.replicas["a"].remote_cursors() == {"b": 4}
    net.drain()
    assert net.replicas["a"].remote_cursors() == {"b": 4}


@pytest.mark.parametrize("name", ["ot", "yjs", "loro"])
def test_remote_cursor_at_end_of_text(name: str) -> None:
    net = CollabNetwork(load_strategy(name), ["a", "b"])
    net.insert("a", 0, "é😀")
    net.drain()
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(2))
    net.insert("a", 0, "中")
    assert net.replicas["a"].remote_cursors() == {"b": 3}


def test_ot_cursor_sent_with_unacknowledged_ops_is_placed_in_server_terms() -> None:
    """b's caret is behind text b typed that nobody else has yet.

    The wire cursor is expressed in the last server revision b knows, so a
    places it before b's pending text; when that text arrives, the caret
    (its author's) moves to after it.
    """
    net = CollabNetwork(load_strategy("ot"), ["a", "b"])
    net.insert("a", 0, "héllo")
    net.drain()
    net.insert("b", 5, "😀😀")  # queued, not delivered
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(7))
    assert net.replicas["a"].remote_cursors() == {"b": 5}
    net.drain()
    assert net.replicas["a"].remote_cursors() == {"b": 7}


def test_ot_cursor_from_a_revision_the_receiver_has_not_reached_waits() -> None:
    net = CollabNetwork(load_strategy("ot"), ["a", "b", "c"])
    net.insert("c", 0, "wörld")
    net.drain()
    net.insert("c", 0, "中中 ")
    flush(net, Link("up", "c"), Link("down", "b"))  # b has c's insert, a does not
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(4))
    assert net.replicas["a"].remote_cursors() == {}
    net.drain()
    assert net.replicas["a"].remote_cursors() == {"b": 4}


def test_yjs_cursor_on_text_not_received_yet_appears_when_it_arrives() -> None:
    net = CollabNetwork(load_strategy("yjs"), ["a", "b"])
    net.insert("b", 0, "é😀中")
    net.replicas["a"].set_remote_cursor("b", net.replicas["b"].encode_cursor(1))
    assert net.replicas["a"].remote_cursors() == {}
    net.drain()
    assert net.replicas["a"].remote_cursors() == {"b": 1}


# -- bad input -------------------------------------------------------------------

NAIVE_CHANGE = {"userId": "x", "position": 0, "insert": "x"}
OT_CHANGE = {"rev": 1, "ops": ["x"]}
YJS_CHANGE = {"update": base64.b64encode(b"\x01\x01").decode()}


def _loro_update_on_unseen_ops() -> dict[str, str]:
    """A Loro update whose ops build on a history the server never received."""
    from loro import ExportMode, LoroDoc

    doc = LoroDoc()
    doc.peer_id = 77
    text = doc.get_text("text")
    text.insert(0, "seen nowhere")
    doc.commit()
    version = doc.oplog_vv
    text.insert(0, "then more ")
    doc.commit()
    return {"update": base64.b64encode(doc.export(ExportMode.Updates(version))).decode()}


LORO_FROM_ANOTHER_DOCUMENT = _loro_update_on_unseen_ops()

BAD_CHANGES: dict[str, list[Any]] = {
    "naive": [
        "position 0, insert x",
        {"position": -1, "insert": "x"},
        {"position": 6, "insert": "x"},
        {"position": 3, "delete": 3},
        {"position": "0", "insert": "x"},
        {"position": True, "insert": "x"},
        {"position": 0},
        {"position": 0, "insert": 5},
        {"position": 0, "delete": -1},
        OT_CHANGE,
    ],
    "ot": [
        NAIVE_CHANGE,
        YJS_CHANGE,
        {"rev": 2, "ops": ["x"]},
        {"rev": -1, "ops": ["x"]},
        {"rev": "1", "ops": ["x"]},
        {"rev": 1, "ops": "x"},
        {"rev": 1, "ops": [6, "x"]},
        {"rev": 1, "ops": [{"d": 6}]},
        {"rev": 0, "ops": [1, "x"]},  # fits today's text, not revision 0's (empty)
        {"rev": 1, "ops": [0, "x"]},
        {"rev": 1, "ops": [""]},
        {"rev": 1, "ops": [True]},
        {"rev": 1, "ops": [None]},
        {"rev": 1, "ops": [{"x": 1}]},
        {"rev": 1, "ops": [{"d": 1, "x": 1}]},
    ],
    "lww": [
        NAIVE_CHANGE,
        {"ts": "9", "replica": "x", "content": "y"},
        {"ts": True, "replica": "x", "content": "y"},
        {"ts": 0, "replica": "x", "content": "y"},
        {"ts": 9, "replica": "", "content": "y"},
        {"ts": 9, "replica": "x"},
        {"ts": 9, "replica": "x", "content": 5},
    ],
    "yjs": [
        NAIVE_CHANGE,
        OT_CHANGE,
        {"update": "not base64!"},
        {"update": "AAA"},
        {"update": ""},
        {"update": 5},
        YJS_CHANGE,
    ],
    "loro": [
        NAIVE_CHANGE,
        OT_CHANGE,
        YJS_CHANGE,  # valid base64, not a Loro blob
        {"update": "not base64!"},
        {"update": ""},
        {"update": 5},
        LORO_FROM_ANOTHER_DOCUMENT,  # needs ops this document has never seen
    ],
}


@pytest.mark.parametrize(
    ("name", "change"),
    [(name, change) for name, changes in BAD_CHANGES.items() for change in changes],
)
def test_unacceptable_change_is_refused_and_leaves_the_document_alone(
    name: str, change: Any
) -> None:
    net = CollabNetwork(load_strategy(name), ["a"])
    net.insert("a", 0, "héllo")
    net.drain()
    before = net.server.snapshot()

    with pytest.raises(CollabError) as refused:
        net.server.apply(change, "a")

    assert refused.value.code in {"bad_request", "conflict"}
    assert net.server.text() == "héllo"
    assert net.server.snapshot() == before


@pytest.mark.parametrize("name", ["naive", "ot", "lww", "yjs", "loro"])
def test_local_edit_outside_the_text_is_refused(name: str) -> None:
    replica = load_strategy(name).create_replica(
        "a", load_strategy(name).create_document().snapshot()
    )
    replica.insert(0, "é😀")
    for edit in (lambda: replica.insert(3, "x"), lambda: replica.delete(1, 2)):
        with pytest.raises(CollabError):
            edit()
    assert replica.text() == "é😀"


# -- units and the OT algebra ------------------------------------------------------


@pytest.mark.parametrize("name", ["naive", "ot", "lww", "yjs", "loro"])
@settings(max_examples=60, deadline=None)
@given(edits=st.lists(st.tuples(st.booleans(), st.integers(0, 50), st.text(ALPHABET, max_size=4))))
def test_local_edits_count_code_points_like_python_str(
    name: str, edits: list[tuple[bool, int, str]]
) -> None:
    strategy = load_strategy(name)
    replica = strategy.create_replica("a", strategy.create_document().snapshot())
    model = ""
    for is_delete, raw_pos, chunk in edits:
        pos = raw_pos % (len(model) + 1)
        if is_delete:
            length = min(len(chunk), len(model) - pos)
            replica.delete(pos, length)
            model = model[:pos] + model[pos + length :]
        else:
            replica.insert(pos, chunk)
            model = model[:pos] + chunk + model[pos:]
        assert replica.text() == model


def test_pycrdt_text_indexes_by_utf8_bytes_and_clocks_by_utf16_units() -> None:
    """Pins the units yjs.py converts between; if pycrdt changes them, so must yjs.py.

    "aé😀" is a(1) é(2) 😀(4) bytes: offset 3 is between é and 😀, whereas
    code point 3 would be the end. An offset inside é is not refused: the
    text lands at the end. Deleting the emoji removes 2 clock ticks (UTF-16
    units), which is what a yjs cursor's "len" records.
    """
    doc: Doc[Any] = Doc(client_id=1)
    text: Text = doc.get("t", type=Text)
    text.insert(0, "aé😀")
    assert len(text) == 7
    text.insert(3, "X")
    assert str(text) == "aéX😀"

    elsewhere: Doc[Any] = Doc()
    inside_a_character: Text = elsewhere.get("t", type=Text)
    inside_a_character.insert(0, "aé😀")
    inside_a_character.insert(2, "Y")
    assert str(inside_a_character) == "aé😀Y"

    before = doc.get_state()
    del text[4:8]
    # no structs; delete set: 1 client (id 1), 1 range: clock 2 (after a, é), length 2
    assert doc.get_update(before) == bytes([0, 1, 1, 1, 2, 2])


@st.composite
def doc_and_two_ops(draw: st.DrawFn) -> tuple[str, text_ops.TextOp, text_ops.TextOp]:
    doc = draw(st.text(ALPHABET, max_size=8))

    def edits_on(text: str) -> text_ops.TextOp:
        op: text_ops.TextOp = []
        for _ in range(draw(st.integers(1, 3))):
            if text and draw(st.booleans()):
                pos = draw(st.integers(0, len(text) - 1))
                step = text_ops.delete_op(pos, draw(st.integers(1, len(text) - pos)))
            else:
                step = text_ops.insert_op(
                    draw(st.integers(0, len(text))), draw(st.text(ALPHABET, min_size=1, max_size=3))
                )
            text = text_ops.apply(text, step)
            op = text_ops.compose(op, step)
        return op

    return doc, edits_on(doc), edits_on(doc)


@settings(max_examples=300, deadline=None)
@given(case=doc_and_two_ops())
def test_ot_transform_meets_from_both_sides(
    case: tuple[str, text_ops.TextOp, text_ops.TextOp],
) -> None:
    doc, a, b = case
    via_a = text_ops.apply(text_ops.apply(doc, a), text_ops.transform(b, a, "right"))
    via_b = text_ops.apply(text_ops.apply(doc, b), text_ops.transform(a, b, "left"))
    assert via_a == via_b
    both = text_ops.compose(a, text_ops.transform(b, a, "right"))
    assert text_ops.apply(doc, both) == via_a


def test_yjs_cursor_survives_deletion_of_its_character_and_emoji_anchors() -> None:
    net = CollabNetwork(load_strategy("yjs"), ["a", "b", "c"])
    net.insert("a", 0, "é😀中x")
    net.drain()
    on_emoji = net.replicas["b"].encode_cursor(1)
    assert on_emoji["len"] == 2  # the emoji is two UTF-16 clock ticks
    net.replicas["a"].set_remote_cursor("b", on_emoji)
    net.delete("c", 0, 2)  # removes é and the emoji the cursor was anchored on
    net.drain()
    assert net.replicas["a"].text() == "中x"
    assert net.replicas["a"].remote_cursors() == {"b": 0}
    net.insert("c", 0, "ñ")
    net.drain()
    assert net.replicas["a"].remote_cursors() == {"b": 1}
