"""The WebSocket transport: wsproto reads, our own `Outbox` writes.

wsproto parses client frames (masking, fragmentation, UTF-8 checks, control
frames) and builds control replies (pong, close). Data frames towards the
client bypass it: they arrive pre-framed from the hub (see
`server.transport.outbox`). maxPayload is enforced while a message is still
arriving, so a peer cannot make us buffer more than that.
"""

from __future__ import annotations

import fcntl
import logging
import struct
import termios
from collections.abc import Awaitable, Callable

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import ProtocolError as WsProtocolError

from server.protocol.engineio import Packet, decode_packet
from server.protocol.errors import ProtocolError
from server.transport.base import Outgoing, Transport
from server.transport.outbox import Flusher, Outbox

log = logging.getLogger(__name__)

RECEIVE_SIZE = 65536


class WebSocketTransport(Transport):
    name = "websocket"

    def __init__(
        self,
        stream: trio.SocketStream,
        trailing_data: bytes,
        flusher: Flusher,
        max_payload: int,
        outbox_max_bytes: int,
    ) -> None:
        self.stream = stream
        self.ws = Connection(ConnectionType.SERVER, trailing_data=trailing_data)
        self.max_payload = max_payload
        self.outbox = Outbox(
            stream.socket.fileno(),
            flusher,
            outbox_max_bytes,
            on_need_drain=self._start_drain,
            on_error=self.close,
        )
        self._nursery: trio.Nursery | None = None
        self._cancel = trio.CancelScope()
        self.close_reason: str | None = None
        self._close_code = CloseReason.NORMAL_CLOSURE

    # ------------------------------------------------------------- Transport
    def send(self, item: Outgoing) -> bool:
        return self.outbox.push(item.ws_frame, item.volatile)

    @property
    def writable(self) -> bool:
        return not self.outbox.congested

    @property
    def pending_bytes(self) -> int:
        """Our queue plus what the kernel still holds for the peer (TIOCOUTQ)."""
        queued = self.outbox.nbytes
        if self.outbox.draining:
            return queued + 1
        try:
            buf = fcntl.ioctl(self.outbox.fd, termios.TIOCOUTQ, b"\0\0\0\0")
            return queued + struct.unpack("i", buf)[0]
        except OSError:
            return queued

    def close(self, reason: str, code: int = CloseReason.NORMAL_CLOSURE) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self._close_code = code
        self._cancel.cancel()

    # ------------------------------------------------------------ read loop
    async def run(
        self,
        on_packet: Callable[[Packet], Awaitable[None]],
        on_ready: Callable[[], None] | None = None,
    ) -> str:
        """Read until the peer leaves or `close` is called; returns the reason."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            with self._cancel:
                if on_ready is not None:
                    on_ready()
                await self._read_loop(on_packet)
            nursery.cancel_scope.cancel()
        self._nursery = None
        await self._finish()
        return self.close_reason or "transport closed"

    async def _read_loop(self, on_packet: Callable[[Packet], Awaitable[None]]) -> None:
        parts: list[str | bytes] = []
        size = 0
        ws = self.ws
        while True:
            # Handle what the handshake left over (trailing data) before reading more.
            for event in ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    size += len(event.data)
                    if size > self.max_payload:
                        self.close("message exceeds maxPayload", CloseReason.MESSAGE_TOO_BIG)
                        return
                    parts.append(event.data)
                    if not event.message_finished:
                        continue
                    message = parts[0] if len(parts) == 1 else type(parts[0])().join(parts)
                    parts, size = [], 0
                    try:
                        packet = decode_packet(message)
                    except ProtocolError as exc:
                        self.close(f"parse error: {exc}", CloseReason.PROTOCOL_ERROR)
                        return
                    await on_packet(packet)
                    if self.close_reason is not None:
                        return
                elif isinstance(event, Ping):
                    self.outbox.push(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.close_reason = self.close_reason or "client closed the WebSocket"
                    return
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.close_reason = self.close_reason or "connection lost"
                return
            if not data:
                self.close_reason = self.close_reason or "connection closed by peer"
                return
            try:
                ws.receive_data(data)
            except WsProtocolError as exc:
                self.close(f"WebSocket protocol error: {exc}", CloseReason.PROTOCOL_ERROR)
                return

    def _start_drain(self) -> None:
        nursery = self._nursery
        if nursery is None:
            self.outbox.detach()
            return
        try:
            nursery.start_soon(self.outbox.drain)
        except RuntimeError:  # the connection is already finishing: nothing more to send
            self.outbox.detach()

    async def _finish(self) -> None:
        """Say goodbye in a close frame if the link still works, then close the socket."""
        with trio.CancelScope(shield=True):
            try:
                if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self.outbox.push(self.ws.send(CloseConnection(code=self._close_code)))
                await self.outbox.flush(timeout=1.0)
            except Exception:  # the peer may be gone already; nothing to tell it
                pass
            self.outbox.detach()
            await self.stream.aclose()
