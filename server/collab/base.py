"""The one interface every conflict strategy implements.

A strategy is pure, deterministic replica logic with no I/O: the server's
document feature hosts one `DocumentServer` per document, and every client
(bot, test, virtual-time experiment) holds a `Replica`. Both exchange plain
JSON-compatible dicts, so the same objects work over real sockets, over the
in-memory transport and in trace replay.

Message flow for one local edit::

    replica.insert(pos, text)          # applied locally at once
    for op in replica.take_outgoing(): # ops ready to send now (OT holds
        send("document-change", op)    #   back all but one in flight)
    server.apply(op, sender)  -> Applied(ack=..., broadcast=...)
    sender:  replica.acknowledge(applied.ack)
    others:  replica.receive(applied.broadcast)

Invariants: `receive` is called with broadcasts in the order the server
produced them (one WebSocket link keeps order); `acknowledge` is called once
per op sent, in send order, and acks travel on the same ordered link as
the broadcasts (OT relies on it). The `sender` given to
`DocumentServer.apply` is the same id that replicas see as `user_id` in
`set_remote_cursor`. At quiescence, every replica of a convergent
strategy has `text() == server.text()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

JSON = Any


class CollabError(ValueError):
    """An op that the document cannot accept (bad shape, out of range, wrong strategy).

    `code` is one of the EVENTS.md error codes (`bad_request`, `conflict`,
    `not_found`, ...) so the server can answer with it unchanged.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Applied(NamedTuple):
    """What the server does with one accepted op.

    `ack` goes back to the sender (in the `document-change` ack, next to
    `ok: true`); `broadcast` goes to every other member of the document's room
    (None: nothing to broadcast).

    A NamedTuple rather than a frozen dataclass: one is made per op on the
    server's hot path, and a frozen dataclass's __init__ (object.__setattr__
    per field) cost more than integrating a typed character (measured on the
    automerge-paper trace: 0.33 s of 1.55 s of fugue's server apply).
    """

    ack: dict[str, JSON]
    broadcast: dict[str, JSON] | None = None


class DocumentServer(ABC):
    """The server-side state of one document under one strategy."""

    strategy: str

    @abstractmethod
    def apply(self, change: JSON, sender: str) -> Applied:
        """Validate and apply one client op; raise CollabError if it is unacceptable.

        On CollabError the document must be unchanged.
        """

    @abstractmethod
    def snapshot(self) -> dict[str, JSON]:
        """State for a late joiner: `{content, revision, state}` (state is strategy-specific)."""

    @abstractmethod
    def text(self) -> str: ...

    def encoded_size(self) -> int:
        """Bytes a snapshot costs on the wire (for experiments and trace replay)."""
        import json

        return len(json.dumps(self.snapshot(), separators=(",", ":")).encode())

    def encode(self) -> bytes:
        """The document in the strategy's most compact form (what a benchmark calls docSize).

        Default: the JSON snapshot. Strategies with a binary form override it
        (and `Strategy.load_replica` reads it back).
        """
        import json

        return json.dumps(self.snapshot(), separators=(",", ":")).encode()


class Replica(ABC):
    """A client's copy of one document."""

    strategy: str

    def __init__(self, replica_id: str) -> None:
        self.replica_id = replica_id

    # -- local edits (applied at once; positions count Unicode code points) --
    @abstractmethod
    def insert(self, pos: int, text: str) -> None: ...

    @abstractmethod
    def delete(self, pos: int, length: int) -> None: ...

    @abstractmethod
    def take_outgoing(self) -> list[dict[str, JSON]]:
        """Ops to send now, in order; each one is later `acknowledge`d."""

    # -- from the server --
    @abstractmethod
    def receive(self, change: dict[str, JSON]) -> None:
        """Apply a broadcast op from another replica."""

    def receive_all(self, changes: list[dict[str, JSON]]) -> None:
        """Apply several broadcasts in order, as one batch where the strategy has one.

        A client catching up (a reconnect, a late sync of many peers) gets
        them together; Loro imports a batch far faster than one at a time.
        """
        for change in changes:
            self.receive(change)

    def acknowledge(self, ack: dict[str, JSON]) -> None:  # noqa: B027 - optional hook
        """The server accepted our oldest outstanding op (OT needs this; CRDTs do not)."""

    @abstractmethod
    def text(self) -> str: ...

    # -- cursors --
    @abstractmethod
    def encode_cursor(self, pos: int) -> JSON:
        """The wire form of our cursor at index `pos` (int for naive, element id for CRDTs)."""

    @abstractmethod
    def set_remote_cursor(self, user_id: str, wire: JSON) -> None:
        """Record another user's cursor as received in `cursor-update`."""

    @abstractmethod
    def remote_cursors(self) -> dict[str, int]:
        """Current index of every remote cursor, kept attached through later edits."""

    def is_idle(self) -> bool:
        """No local op waits to be sent or acknowledged."""
        return True

    @abstractmethod
    def encode(self) -> bytes:
        """This replica's document, in the form `Strategy.load_replica` reads back."""
