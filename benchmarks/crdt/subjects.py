"""What the suite drives: every strategy (through Replica/DocumentServer) and two raw libraries.

Every subject edits a text; the raw libraries also have a map (`maps`), which
the suite's B3.1-B3.3 need and no strategy has.

A `Group` is the suite's set of documents that exchange updates. Its members
are edited in place, `publish` returns what a member sent since the last
call, and `deliver` hands an update to another member. For a causal strategy
(CRDTs) an update goes straight from member to member, as in the suite; a
strategy that needs the server's order (ot, naive, lww) sends through a
`DocumentServer`, which acknowledges (OT releases its next op on the ack)
and broadcasts: for those, publish includes the server's apply.

Update sizes are payload bytes: the binary update for strategies whose op
wraps one in base64 (yjs, loro) and for the raw libraries, else the op's
compact JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.baselines import LoroText, PycrdtText
from benchmarks.crdt.maps import MAP_LIBRARIES, MapLibrary
from server.collab.base import Applied, DocumentServer, Replica
from server.collab.registry import Strategy, get_strategy, strategies


def payload_bytes(update: Any) -> int:
    if isinstance(update, bytes | bytearray):
        return len(update)
    if isinstance(update, dict) and set(update) == {"update"} and isinstance(update["update"], str):
        return len(base64.b64decode(update["update"]))
    return len(json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode())


class Group:
    """Members 0..n-1 of one subject; see the module docstring."""

    def text(self, member: int) -> str:
        raise NotImplementedError

    def insert(self, member: int, pos: int, text: str) -> None:
        raise NotImplementedError

    def delete(self, member: int, pos: int, length: int) -> None:
        raise NotImplementedError

    def publish(self, member: int) -> list[Any]:
        raise NotImplementedError

    def deliver(self, member: int, update: Any) -> None:
        raise NotImplementedError

    def deliver_all(self, member: int, updates: list[Any]) -> None:
        """Several updates in one transaction (the suite's B3.4 `transact`), where there is one."""
        for update in updates:
            self.deliver(member, update)

    def encode(self, member: int) -> bytes:
        raise NotImplementedError


class StrategyGroup(Group):
    """Members are replicas; a non-causal strategy's ops go through one server, in its order.

    The server keeps a log of what it applied. Delivering an update to a
    member brings that member up to the update's place in the log: every
    earlier broadcast and its own acks, in order, as one socket would (OT
    needs exactly that order).
    """

    def __init__(self, strategy: Strategy, members: int) -> None:
        self.strategy = strategy
        self.server: DocumentServer | None = None if strategy.causal else strategy.create_document()
        empty = strategy.create_document().snapshot()
        self.names = [f"m{i}" for i in range(members)]
        self.replicas: list[Replica] = [strategy.create_replica(n, empty) for n in self.names]
        self.log: list[tuple[int, Applied]] = []  # (sender, what the server did)
        self.read = [0] * members  # log entries each member has processed

    def text(self, member: int) -> str:
        return self.replicas[member].text()

    def insert(self, member: int, pos: int, text: str) -> None:
        self.replicas[member].insert(pos, text)

    def delete(self, member: int, pos: int, length: int) -> None:
        self.replicas[member].delete(pos, length)

    def publish(self, member: int) -> list[Any]:
        replica = self.replicas[member]
        server = self.server
        if server is None:
            return replica.take_outgoing()
        sent: list[Any] = []
        while ops := replica.take_outgoing():  # OT: one op in flight, the rest after the ack
            for op in ops:
                self.log.append((member, server.apply(op, self.names[member])))
                sent.append(_Relayed(op, len(self.log)))
            self._catch_up(member, len(self.log))
        return sent

    def deliver(self, member: int, update: Any) -> None:
        if isinstance(update, _Relayed):
            self._catch_up(member, update.position)
        else:
            self.replicas[member].receive(update)

    def deliver_all(self, member: int, updates: list[Any]) -> None:
        if self.server is None:
            self.replicas[member].receive_all(updates)
        elif updates:
            self._catch_up(member, max(u.position for u in updates))

    def _catch_up(self, member: int, position: int) -> None:
        replica = self.replicas[member]
        for sender, applied in self.log[self.read[member] : position]:
            if sender == member:
                replica.acknowledge(applied.ack)
            elif applied.broadcast is not None:
                replica.receive(applied.broadcast)
        self.read[member] = max(self.read[member], position)

    def encode(self, member: int) -> bytes:
        return self.replicas[member].encode()


@dataclass(frozen=True, slots=True)
class _Relayed:
    """An op as sent (its size is what counts) and where the server's log has it."""

    sent: Any
    position: int  # log entries up to and including this op


class LibraryGroup(Group):
    def __init__(self, factory: Callable[[int], Any], members: int) -> None:
        self.docs = [factory(i) for i in range(members)]

    def text(self, member: int) -> str:
        return str(self.docs[member].value())

    def insert(self, member: int, pos: int, text: str) -> None:
        self.docs[member].insert(pos, text)

    def delete(self, member: int, pos: int, length: int) -> None:
        self.docs[member].delete(pos, length)

    def publish(self, member: int) -> list[Any]:
        return list(self.docs[member].take_outgoing())

    def deliver(self, member: int, update: Any) -> None:
        self.docs[member].receive(update)

    def deliver_all(self, member: int, updates: list[Any]) -> None:
        self.docs[member].receive_all(updates)

    def encode(self, member: int) -> bytes:
        return bytes(self.docs[member].encode())


@dataclass(frozen=True, slots=True)
class Subject:
    """A column of the table."""

    name: str
    group: Callable[[int], Group]
    load: Callable[[bytes], Any]  # an encoded document -> a live object holding it
    whole_document: bool = False  # every op carries the whole text (lww)
    native: bool = False
    text_of: Callable[[Any], str] = lambda loaded: str(loaded.text())
    maps: MapLibrary | None = None  # None: no map type, the map rows (B3.1-B3.3) do not apply


def update_size(update: Any) -> int:
    return payload_bytes(update.sent if isinstance(update, _Relayed) else update)


def _strategy_subject(strategy: Strategy) -> Subject:
    return Subject(
        strategy.name,
        lambda members: StrategyGroup(strategy, members),
        lambda data: strategy.load_replica("loaded", data),
        whole_document=strategy.whole_document,
        native=strategy.native_heap,
    )


RAW = {
    "pycrdt (raw)": (lambda i: PycrdtText(client_id=i + 1), PycrdtText.load),
    "loro (raw)": (lambda i: LoroText(peer_id=i + 1), LoroText.load),
}


def _library_group(factory: Callable[[int], Any]) -> Callable[[int], Group]:
    return lambda members: LibraryGroup(factory, members)


def all_subjects() -> list[Subject]:
    subjects = [_strategy_subject(s) for s in strategies()]
    for name, (factory, load) in RAW.items():
        subjects.append(
            Subject(
                name,
                _library_group(factory),
                load,
                native=True,
                text_of=lambda loaded: str(loaded.value()),
                maps=MAP_LIBRARIES.get(name),
            )
        )
    return subjects


def subject(name: str) -> Subject:
    for candidate in all_subjects():
        if candidate.name == name:
            return candidate
    get_strategy(name)  # raises the registry's error with the known names
    raise KeyError(name)
