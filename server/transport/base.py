"""What every transport offers an Engine.IO session, and the unit it carries.

An `Outgoing` is one Engine.IO packet on its way out, encoded once: the
Engine.IO form (for polling) is what the hub builds, and the WebSocket frame
is derived on first use and cached, so a broadcast to a thousand WebSocket
recipients frames its payload once and queues the same `bytes` object a
thousand times.

A `Transport` is one carrier of one session's packets (a WebSocket, a
long-polling channel, an in-memory link). Each transport module also owns
its HTTP endpoint (how a request becomes a transport): see
`server.transport.endpoint`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from server.protocol.engineio import HttpError, Packet
from server.protocol.wsframe import encode_frame

PacketSink = Callable[[Packet], Awaitable[None]]
# an endpoint's way to answer a request with one of Engine.IO's HTTP errors
Refuse = Callable[[HttpError], Awaitable[None]]
# how an endpoint starts a task that outlives its request (the server's fenced nursery)
StartTask = Callable[..., Any]


class Outgoing:
    __slots__ = ("_frame", "eio", "volatile")

    def __init__(self, eio: str | bytes, volatile: bool = False) -> None:
        self.eio = eio  # "4..." text, or raw bytes for a binary message
        self.volatile = volatile
        self._frame: bytes | None = None

    @property
    def ws_frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_frame(self.eio)
        return frame

    def __len__(self) -> int:
        return len(self.eio)


class Transport(ABC):
    """One session's carrier: enqueue without waiting, run until it ends, close."""

    name: ClassVar[str]
    # transports a session that starts on this one may upgrade to (the OPEN packet says so)
    upgrades: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def send(self, item: Outgoing) -> bool:
        """Queue one packet; False if it was dropped (volatile on a slow consumer)."""

    def send_now(self, item: Outgoing) -> bool:
        """Queue one packet and put it on the wire before anything sent later elsewhere
        (the upgrade's `3probe` must precede the old transport's next answer)."""
        return self.send(item)

    @abstractmethod
    def close(self, reason: str, *, peer_initiated: bool = False) -> None:
        """Stop: queued data is flushed where possible, then the link closes.

        `peer_initiated`: the client ended the session itself (its CLOSE
        packet, or an upgrade): a pending long-poll is released with NOOP
        rather than told CLOSE.
        """

    @property
    @abstractmethod
    def writable(self) -> bool:
        """Whether new packets would go out without piling up."""

    @property
    def pending_bytes(self) -> int:
        """Bytes queued towards the peer and not yet taken by it (best effort).

        Coalescing publishers (the dashboard) skip a subscriber while this is
        not small, so that a slow reader gets the newest state, not a backlog.
        """
        return 0

    def take_pending(self) -> list[Outgoing]:
        """Hand what is still queued to the transport that replaces this one (an upgrade)."""
        return []

    def release(self) -> None:
        """Answer whatever the peer is waiting on now (a long-poll), even with nothing.

        Only long-polling has such a wait; every other transport has nothing to do.
        """
        return None

    @abstractmethod
    async def run(self, on_packet: PacketSink) -> str:
        """Carry the peer's packets to `on_packet` until the transport ends; the reason."""
