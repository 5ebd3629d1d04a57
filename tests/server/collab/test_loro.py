"""The loro strategy: convergence under any causal delivery order, sync by version vector."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.collab.loro import LoroReplica
from server.collab.registry import get_strategy

ALPHABET = "abé😀中 "


@dataclass
class Peer:
    replica: LoroReplica
    seen: set[int] = field(default_factory=set)  # op numbers applied here


def _random_edit(rng: random.Random, replica: LoroReplica) -> None:
    text = replica.text()
    if text and rng.random() < 0.3:
        pos = rng.randrange(len(text))
        replica.delete(pos, rng.randint(1, min(3, len(text) - pos)))
    else:
        word = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))
        replica.insert(rng.randint(0, len(text)), word)


def _run_peer_to_peer(seed: int, peers: int, steps: int) -> list[str]:
    """Peers edit and broadcast; every op reaches every peer in a random causal order.

    No server and no FIFO links: an op may overtake older ops of other peers,
    never one it depends on (everything its author had applied when sending).
    """
    rng = random.Random(seed)
    strategy = get_strategy("loro")
    empty = strategy.create_document().snapshot()
    group = [Peer(LoroReplica(f"p{i}")) for i in range(peers)]
    assert all(p.replica.text() == "" for p in group) and empty["content"] == ""
    ops: list[tuple[int, dict[str, Any], frozenset[int]]] = []  # (author, op, dependencies)
    pending: list[list[int]] = [[] for _ in group]
    for _ in range(steps):
        who = rng.randrange(peers)
        peer = group[who]
        if pending[who] and rng.random() < 0.5:
            ready = [n for n in pending[who] if ops[n][2] <= peer.seen]
            if ready:
                n = rng.choice(ready)
                pending[who].remove(n)
                peer.replica.receive(ops[n][1])
                peer.seen.add(n)
                continue
        _random_edit(rng, peer.replica)
        for op in peer.replica.take_outgoing():
            number = len(ops)
            ops.append((who, op, frozenset(peer.seen)))
            peer.seen.add(number)
            for other in range(peers):
                if other != who:
                    pending[other].append(number)
    for who, peer in enumerate(group):  # drain, still in a random causal order
        while pending[who]:
            ready = [n for n in pending[who] if ops[n][2] <= peer.seen]
            n = rng.choice(ready)
            pending[who].remove(n)
            peer.replica.receive(ops[n][1])
            peer.seen.add(n)
    return [peer.replica.text() for peer in group]


@pytest.mark.parametrize("seed", range(40))
def test_replicas_are_equal_after_random_causal_delivery(seed: int) -> None:
    texts = _run_peer_to_peer(seed, peers=2 + seed % 4, steps=60)
    assert len(set(texts)) == 1, texts
    assert texts[0]  # something was typed and survived


def test_two_long_diverged_branches_merge_by_version_vector() -> None:
    a, b = LoroReplica("a"), LoroReplica("b")
    a.insert(0, "shared base ")
    b.receive(a.take_outgoing()[0])
    for i in range(200):  # offline: nothing is exchanged
        a.insert(len(a.text()), "x" if i % 2 else "é")
        b.insert(0, "😀" if i % 3 else "y")
        if i % 7 == 0:
            b.delete(len(b.text()) - 1, 1)
    a_alone, b_alone = a.text(), b.text()
    a_lacks, b_lacks = a.version(), b.version()
    a_update, b_update = b.updates_since(a_lacks), a.updates_since(b_lacks)
    a.receive({"update": _b64(a_update)})
    b.receive({"update": _b64(b_update)})
    assert a.text() == b.text()
    merged = a.text()
    for char in "éx":  # only a typed these, only b deleted
        assert merged.count(char) == a_alone.count(char)
    for char in "😀y":
        assert merged.count(char) == b_alone.count(char)
    assert "shared base" not in merged and len(merged) == len(a_alone) + len(b_alone) - 12


def test_peer_ids_follow_replica_ids_so_runs_repeat() -> None:
    first = _run_peer_to_peer(7, peers=3, steps=40)
    again = _run_peer_to_peer(7, peers=3, steps=40)
    assert first == again


def test_a_replica_rebuilt_from_its_own_snapshot_keeps_typing() -> None:
    strategy = get_strategy("loro")
    doc = strategy.create_document()
    a = strategy.create_replica("a", doc.snapshot())
    a.insert(0, "héllo")
    for op in a.take_outgoing():
        doc.apply(op, "a")
    again = strategy.create_replica("a", doc.snapshot())  # the same user reconnects
    again.insert(5, " wörld")
    for op in again.take_outgoing():
        doc.apply(op, "a")
    assert doc.text() == "héllo wörld"


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
