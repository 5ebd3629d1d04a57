"""Every strategy's `encode()` loads back; fugue/rga's binary run encoding is exact and compact."""

from __future__ import annotations

import json
import random

import pytest

from server.collab.base import CollabError
from server.collab.registry import get_strategy, strategy_names
from server.collab.run_encoding import decode_runs, encode_runs
from server.collab.run_sequence import RunSequence
from server.collab.sequence_crdt import SequenceReplica
from simulate.collab_network import CollabNetwork


def _edited_network(name: str, seed: int) -> CollabNetwork:
    rng = random.Random(seed)
    net = CollabNetwork(get_strategy(name), ["a", "b", "c"])
    for _ in range(60):
        who = rng.choice("abc")
        text = net.replicas[who].text()
        if text and rng.random() < 0.3:
            pos = rng.randrange(len(text))
            net.delete(who, pos, rng.randint(1, min(4, len(text) - pos)))
        else:
            net.insert(who, rng.randint(0, len(text)), rng.choice(["é", "😀", "ab", "中c", " "]))
        for link in net.busy_links()[: rng.randint(0, 3)]:
            net.deliver(link)
    net.drain()
    return net


@pytest.mark.parametrize("name", strategy_names())
def test_an_encoded_replica_loads_back_and_keeps_editing(name: str) -> None:
    strategy = get_strategy(name)
    doc = strategy.create_document()
    source = strategy.create_replica("a", doc.snapshot())
    rng = random.Random(5)
    for _ in range(80):
        text = source.text()
        if text and rng.random() < 0.3:
            pos = rng.randrange(len(text))
            source.delete(pos, rng.randint(1, min(4, len(text) - pos)))
        else:
            source.insert(rng.randint(0, len(text)), rng.choice(["é", "😀", "ab", "中c", " "]))
        for op in source.take_outgoing():  # sent and acknowledged, as over a socket
            source.acknowledge(doc.apply(op, "a").ack)
    assert strategy.load_replica("server", doc.encode()).text() == source.text()
    loaded = strategy.load_replica("a2", source.encode())
    assert loaded.text() == source.text()
    loaded.insert(0, "ü")
    assert loaded.text() == "ü" + source.text()
    if strategy.causal:  # its ops merge into the others without a server
        for op in loaded.take_outgoing():
            source.receive(op)
        assert source.text() == loaded.text()


@pytest.mark.parametrize("name", ["fugue", "rga"])
@pytest.mark.parametrize("seed", range(6))
def test_binary_runs_decode_to_the_same_sequence_as_the_json_state(name: str, seed: int) -> None:
    core = _edited_network(name, seed).server.core  # type: ignore[attr-defined]
    via_binary = decode_runs(encode_runs(core))
    via_json = RunSequence.decode_state(core.encode_state())
    assert via_binary.encode_state() == via_json.encode_state()
    assert via_binary.text() == core.text()


def test_binary_runs_are_far_smaller_than_the_json_state() -> None:
    replica = get_strategy("fugue").create_replica("a", {})
    assert isinstance(replica, SequenceReplica)
    rng = random.Random(3)
    for _ in range(3000):  # typing with the odd backspace and jump
        length = len(replica.text())
        if length and rng.random() < 0.1:
            replica.delete(length - 1, 1)
        else:
            pos = length if rng.random() < 0.9 else rng.randint(0, length)
            replica.insert(pos, rng.choice("etaoin shrdlu"))
    binary = replica.encode()
    as_json = json.dumps(replica.core.encode_state(), separators=(",", ":")).encode()
    assert len(binary) < len(as_json) / 2


@pytest.mark.parametrize(
    "data", [b"", b"RSQ\x01", b"RSQ\x01\x01\x05abc", b"RSQ\x02", b"not runs at all"]
)
def test_malformed_binary_runs_are_refused(data: bytes) -> None:
    with pytest.raises(CollabError):
        decode_runs(data)
