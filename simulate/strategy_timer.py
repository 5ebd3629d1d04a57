"""CPU time spent inside a strategy's own code, measured around each of its calls.

Why: an experiment's process time is mostly trio, the network model and
Socket.IO framing, and it varies 2x between identical runs, so "CPU per op"
of the whole simulation says little about the strategy. Here every call
into a strategy object (a replica's insert, delete, take_outgoing, receive,
acknowledge; the server's apply) is timed with the thread's CPU clock, and
only that is summed.

The clock is the thread's CPU time, not the wall clock: on a loaded machine
the process is preempted at system calls, and a strategy that makes more
of them (Loro's calls do) would be charged for other processes' work
(seen here: Loro's wall time inside its calls was 4x its CPU time under
load). Each timed call reads the clock twice (about a microsecond each
here), the same for every strategy.

`timed_strategy(name)` swaps the registry entry for one whose factories
wrap each object in a timing proxy, for the duration of one run (each
experiment process runs one simulation at a time), then puts it back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from server.collab.base import Applied, DocumentServer, Replica
from server.collab.registry import get_strategy, register

_cpu = time.thread_time_ns


@dataclass
class StrategyClock:
    ns: int = 0
    calls: int = 0

    @property
    def seconds(self) -> float:
        return self.ns / 1e9


class TimedReplica(Replica):
    """A replica whose editing and integrating calls are timed; everything else is passed on."""

    def __init__(self, inner: Replica, clock: StrategyClock) -> None:
        super().__init__(inner.replica_id)
        self.inner = inner
        self.strategy = inner.strategy
        self.clock = clock

    def _timed(self, call: Any, *args: Any) -> Any:
        began = _cpu()
        try:
            return call(*args)
        finally:
            self.clock.ns += _cpu() - began
            self.clock.calls += 1

    def insert(self, pos: int, text: str) -> None:
        self._timed(self.inner.insert, pos, text)

    def delete(self, pos: int, length: int) -> None:
        self._timed(self.inner.delete, pos, length)

    def take_outgoing(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._timed(self.inner.take_outgoing)
        return result

    def receive(self, change: dict[str, Any]) -> None:
        self._timed(self.inner.receive, change)

    def receive_all(self, changes: list[dict[str, Any]]) -> None:
        self._timed(self.inner.receive_all, changes)

    def acknowledge(self, ack: dict[str, Any]) -> None:
        self._timed(self.inner.acknowledge, ack)

    def text(self) -> str:
        return self.inner.text()

    def encode_cursor(self, pos: int) -> Any:
        return self.inner.encode_cursor(pos)

    def set_remote_cursor(self, user_id: str, wire: Any) -> None:
        self.inner.set_remote_cursor(user_id, wire)

    def remote_cursors(self) -> dict[str, int]:
        return self.inner.remote_cursors()

    def is_idle(self) -> bool:
        return self.inner.is_idle()

    def encode(self) -> bytes:
        return self.inner.encode()


class TimedDocument(DocumentServer):
    def __init__(self, inner: DocumentServer, clock: StrategyClock) -> None:
        self.inner = inner
        self.strategy = inner.strategy
        self.clock = clock

    def apply(self, change: Any, sender: str) -> Applied:
        began = _cpu()
        try:
            return self.inner.apply(change, sender)
        finally:
            self.clock.ns += _cpu() - began
            self.clock.calls += 1

    def snapshot(self) -> dict[str, Any]:
        return self.inner.snapshot()

    def text(self) -> str:
        return self.inner.text()

    def encoded_size(self) -> int:
        return self.inner.encoded_size()

    def encode(self) -> bytes:
        return self.inner.encode()


@contextmanager
def timed_strategy(name: str) -> Iterator[StrategyClock]:
    """While inside, every document and replica of `name` made through the registry is timed."""
    original = get_strategy(name)
    clock = StrategyClock()
    register(
        replace(
            original,
            create_document=lambda: TimedDocument(original.create_document(), clock),
            create_replica=lambda replica_id, snapshot: TimedReplica(
                original.create_replica(replica_id, snapshot), clock
            ),
        )
    )
    try:
        yield clock
    finally:
        register(original)
