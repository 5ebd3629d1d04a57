"""HTTP long-polling: the fallback transport and the first step of an upgrade.

The client keeps one GET open; it returns as soon as anything is queued
(pings guarantee it returns within pingInterval). POST bodies carry the
client's packets. A second concurrent GET is a protocol violation and ends
the session, as in the reference implementation.
"""

from __future__ import annotations

import base64

import trio

from server.protocol.engineio import RECORD_SEPARATOR
from server.transport.base import Outgoing, Transport


class ConcurrentPoll(Exception):
    """A GET arrived while another GET of the same session was pending."""


class PollingTransport(Transport):
    name = "polling"

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.queue: list[Outgoing] = []
        self.nbytes = 0
        self.dropped = 0
        self.closed = False
        self.close_reason = ""
        self._ready = trio.Event()
        self._polling = False
        self.posting = False  # a POST of this session is being handled

    def send(self, item: Outgoing) -> bool:
        if self.closed:
            return False
        if item.volatile and not self.writable:
            self.dropped += 1
            return False
        if self.nbytes + len(item) > self.max_bytes:
            self.dropped += 1
            self.close("slow consumer: outbox full")
            return False
        self.queue.append(item)
        self.nbytes += len(item)
        self._ready.set()
        return True

    @property
    def writable(self) -> bool:
        return self.nbytes <= self.max_bytes // 2

    @property
    def pending_bytes(self) -> int:
        return self.nbytes

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
        self._ready.set()

    def take_pending(self) -> list[Outgoing]:
        """Hand what is still queued to the transport that replaces this one."""
        items, self.queue, self.nbytes = self.queue, [], 0
        return items

    @property
    def polling(self) -> bool:
        """A GET of this session is waiting for packets."""
        return self._polling

    async def poll(self) -> str:
        """Wait for packets and return them as one payload (a CLOSE packet once closed)."""
        if self._polling:
            raise ConcurrentPoll
        self._polling = True
        try:
            await self._ready.wait()
        finally:
            self._polling = False
        items = self.take_pending()
        self._ready = trio.Event()
        if self.closed:
            # NOOP after an upgrade lets the client finish it; CLOSE tells it we are done.
            if not items:
                items = [Outgoing("6" if self.close_reason == "upgraded" else "1")]
            self._ready.set()
        return encode_items(items)


def encode_items(items: list[Outgoing]) -> str:
    records = []
    for item in items:
        data = item.eio
        records.append("b" + base64.b64encode(data).decode() if isinstance(data, bytes) else data)
    return RECORD_SEPARATOR.join(records)
