"""An in-memory transport: the server's end of a simulated connection.

Virtual-time simulations host the server in-process and connect bots
through a network model instead of sockets. Messages are Engine.IO packets
exactly as on a WebSocket (text or bytes), so everything above the
transport runs unchanged. How and when a message arrives is the network's
business: `to_client` is called synchronously for every outgoing packet
(the network schedules its delivery), and the network feeds client packets
into `deliver`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

from server.engine import EngineServer
from server.protocol.engineio import decode_packet
from server.protocol.errors import ProtocolError
from server.transport.base import Outgoing, PacketSink, StartTask, Transport

ToClient = Callable[[str | bytes | None], None]  # None: the server closed the connection


class MemoryTransport(Transport):
    name = "memory"

    def __init__(self, to_client: ToClient, max_payload: int) -> None:
        self.to_client = to_client
        self.max_payload = max_payload
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes | None](math.inf)
        self._cancel = trio.CancelScope()
        self.close_reason: str | None = None

    # ------------------------------------------------------------- Transport
    def send(self, item: Outgoing) -> bool:
        if self.close_reason is not None:
            return False
        self.to_client(item.eio)
        return True

    @property
    def writable(self) -> bool:
        return self.close_reason is None

    def close(self, reason: str, *, peer_initiated: bool = False) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self.to_client(None)
        self._cancel.cancel()

    # --------------------------------------------------------- from the client
    def deliver(self, message: str | bytes | None) -> None:
        """A client packet arrives (None: the client hung up)."""
        self._inbox_send.send_nowait(message)

    async def run(self, on_packet: PacketSink) -> str:
        with self._cancel:
            async for message in self._inbox:
                if message is None:
                    self.close_reason = self.close_reason or "client hung up"
                    break
                if len(message) > self.max_payload:
                    self.close("message exceeds maxPayload")
                    break
                try:
                    packet = decode_packet(message)
                except ProtocolError as exc:
                    self.close(f"parse error: {exc}")
                    break
                await on_packet(packet)
                if self.close_reason is not None:
                    break
        return self.close_reason or "transport closed"


def open_memory_session(
    engine: EngineServer, start_task: StartTask, to_client: ToClient, max_payload: int
) -> Callable[[str | bytes | None], None]:
    """Open a simulated connection; returns the function that delivers client packets.

    The OPEN packet goes to the client at once, as a WebSocket's first frame would.
    """
    transport = MemoryTransport(to_client, max_payload)
    session = engine.open_session(transport)
    transport.send(Outgoing(session.open_packet()))

    async def carry() -> None:
        reason = "transport failed"
        try:
            reason = await transport.run(lambda packet: session.receive(packet, transport))
        finally:
            session.transport_lost(transport, reason)

    start_task(carry)
    return transport.deliver
