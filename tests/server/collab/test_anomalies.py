"""The anomalies docs/strategies.md describes, each with its minimal example."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.collab.registry import get_strategy
from simulate.collab_network import CollabNetwork
from simulate.traces import agent_count, load_trace, replay_causally


def _retype_and_append(strategy: str, retyper: str, appender: str) -> str:
    """Base "ab"; one user replaces "b" by "X" while the other types "Y" after "b"."""
    net = CollabNetwork(get_strategy(strategy), sorted([retyper, appender]))
    net.insert(retyper, 0, "ab")
    net.drain()
    net.delete(retyper, 1, 1)
    net.insert(retyper, 1, "X")
    net.insert(appender, 2, "Y")
    net.drain()
    assert len(set(net.texts().values())) == 1
    return net.server.text()


def test_yjs_orders_a_retyped_character_by_client_id() -> None:
    """Yrs anchors "X" after the deleted "b" (it skips the tombstone), like "Y": a tie."""
    assert _retype_and_append("yjs", "a", "b") == "aXY"
    assert _retype_and_append("yjs", "b", "a") == "aYX"  # ids swapped: Y jumps ahead of X


@pytest.mark.parametrize("strategy", ["fugue", "rga", "loro"])
def test_other_crdts_keep_the_replacement_in_place(strategy: str) -> None:
    assert _retype_and_append(strategy, "a", "b") == "aXY"
    assert _retype_and_append(strategy, "b", "a") == "aXY"


def test_ot_breaks_the_same_tie_by_server_order_not_by_ids() -> None:
    # "b" deleted, X and Y both land at index 1: the op the server accepted first wins
    assert _retype_and_append("ot", "a", "b") == _retype_and_append("ot", "b", "a") == "aYX"


def test_ot_interleaves_two_words_typed_at_once() -> None:
    net = CollabNetwork(get_strategy("ot"), ["A", "B"])
    net.insert("A", 0, "*")
    net.drain()
    for offset, char in enumerate("ab"):
        net.insert("A", 1 + offset, char)
    for offset, char in enumerate("xy"):
        net.insert("B", 1 + offset, char)
    net.drain()
    assert net.texts() == {"A": "*axby", "B": "*axby"}


SHARED = Path(__file__).resolve().parents[4] / "shared" / "traces" / "friendsforever.json.gz"


@pytest.mark.skipif(not SHARED.exists(), reason="no shared traces")
def test_yjs_replays_friendsforever_only_with_the_agents_ids_in_order() -> None:
    trace = load_trace(SHARED)
    agents = agent_count(trace)
    strategy = get_strategy("yjs")
    texts = {}
    for order in ("as recorded", "reversed"):
        names = [f"agent{a if order == 'as recorded' else agents - 1 - a}" for a in range(agents)]
        replicas = [strategy.create_replica(name, {}) for name in names]
        replay_causally(trace["txns"], replicas)
        merged = {replica.text() for replica in replicas}
        assert len(merged) == 1  # converges either way
        texts[order] = merged.pop()
    assert texts["as recorded"] == trace["endContent"]
    assert texts["reversed"] != trace["endContent"]
    assert "The whole , hh?uscene" in texts["reversed"]  # ", huh?" scrambled into the next words
