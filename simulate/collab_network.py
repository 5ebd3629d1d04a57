"""A deterministic in-memory network: one DocumentServer, N replicas, FIFO links.

Each replica has two queues, replica->server and server->replica, because
that is all a WebSocket promises: order on one link, nothing across links.
Acks and broadcasts share the server->replica queue, as they share the
socket. Nothing moves until the caller says which link advances, so a test
(or a hypothesis strategy, or an experiment with a seeded RNG) controls the
interleaving completely and every run is reproducible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from server.collab.base import DocumentServer, Replica
from server.collab.registry import Strategy

Direction = Literal["up", "down"]  # up: replica -> server, down: server -> replica


@dataclass(frozen=True, slots=True)
class Link:
    direction: Direction
    replica_id: str


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: Literal["ack", "change"]
    message: dict[str, Any]


class CollabNetwork:
    def __init__(self, strategy: Strategy, replica_ids: Iterable[str] = ()) -> None:
        self.strategy = strategy
        self.server: DocumentServer = strategy.create_document()
        self.replicas: dict[str, Replica] = {}
        self._up: dict[str, deque[dict[str, Any]]] = {}
        self._down: dict[str, deque[Delivery]] = {}
        for replica_id in replica_ids:
            self.join(replica_id)

    def join(self, replica_id: str) -> Replica:
        """Connect a replica now, from the server's current snapshot (late joiners too)."""
        replica = self.strategy.create_replica(replica_id, self.server.snapshot())
        self.replicas[replica_id] = replica
        self._up[replica_id] = deque()
        self._down[replica_id] = deque()
        return replica

    # -- edits -------------------------------------------------------------
    def insert(self, replica_id: str, pos: int, text: str) -> None:
        self.replicas[replica_id].insert(pos, text)
        self._send(replica_id)

    def delete(self, replica_id: str, pos: int, length: int) -> None:
        self.replicas[replica_id].delete(pos, length)
        self._send(replica_id)

    # -- delivery ------------------------------------------------------------
    def busy_links(self) -> list[Link]:
        """Links with a message waiting, in a stable order."""
        links = [Link("up", r) for r, queue in self._up.items() if queue]
        links += [Link("down", r) for r, queue in self._down.items() if queue]
        return links

    def deliver(self, link: Link) -> None:
        """Move the oldest message on one link."""
        if link.direction == "up":
            change = self._up[link.replica_id].popleft()
            applied = self.server.apply(change, link.replica_id)
            self._down[link.replica_id].append(Delivery("ack", applied.ack))
            if applied.broadcast is not None:
                for other, queue in self._down.items():
                    if other != link.replica_id:
                        queue.append(Delivery("change", applied.broadcast))
            return
        delivery = self._down[link.replica_id].popleft()
        replica = self.replicas[link.replica_id]
        if delivery.kind == "ack":
            replica.acknowledge(delivery.message)
        else:
            replica.receive(delivery.message)
        self._send(link.replica_id)  # an ack may release OT's buffered edits

    def drain(self, choose: Callable[[list[Link]], Link] = lambda links: links[0]) -> None:
        """Deliver until nothing is waiting; `choose` picks the next link."""
        while links := self.busy_links():
            self.deliver(choose(links))

    def is_quiescent(self) -> bool:
        return not self.busy_links() and all(r.is_idle() for r in self.replicas.values())

    def texts(self) -> dict[str, str]:
        return {replica_id: replica.text() for replica_id, replica in self.replicas.items()}

    def _send(self, replica_id: str) -> None:
        self._up[replica_id].extend(self.replicas[replica_id].take_outgoing())
