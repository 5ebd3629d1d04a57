"""What every transport offers the engine layer, and the unit it carries.

An `Outgoing` is one Engine.IO packet on its way out, encoded once: the
Engine.IO form (for polling) is what the hub builds, and the WebSocket frame
is derived on first use and cached, so a broadcast to a thousand WebSocket
recipients frames its payload once and queues the same `bytes` object a
thousand times.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from server.protocol.wsframe import encode_frame


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
    """The engine session's view of a transport: enqueue without waiting, or close."""

    name: str

    @abstractmethod
    def send(self, item: Outgoing) -> bool:
        """Queue one packet; False if it was dropped (volatile on a slow consumer)."""

    @abstractmethod
    def close(self, reason: str) -> None:
        """Stop the transport: queued data is flushed where possible, then the link closes."""

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
