"""The WebSocket transport and its endpoint: `FrameReader` reads, our own `Outbox` writes.

The handshake is h11's and wsproto's accept token (`WebSocketEndpoint`); after it,
client frames are split, unmasked and checked (fragmentation, UTF-8, control
frames) by `server.protocol.wsframe.FrameReader` — wsproto's per-frame event
objects cost more than the rest of the incoming path. Data frames towards
the client arrive pre-framed from the hub (see `server.transport.outbox`).
maxPayload is enforced per frame and per message before anything is
buffered beyond it.
"""

from __future__ import annotations

import fcntl
import logging
import struct
import termios

import trio
from wsproto.utilities import generate_accept_token

from server.engine import EngineServer, EngineSession
from server.protocol.engineio import HttpError, decode_packet
from server.protocol.errors import PayloadTooLarge, ProtocolError
from server.protocol.wsframe import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    frame_header,
)
from server.transport.base import Outgoing, PacketSink, Refuse, Transport
from server.transport.http import HttpConnection, Request
from server.transport.outbox import Flusher, Outbox

log = logging.getLogger(__name__)

RECEIVE_SIZE = 65536
NORMAL_CLOSURE = 1000
PROTOCOL_ERROR = 1002
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011


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
        self.reader = FrameReader(masked=True, max_message=max_payload)
        self._trailing = trailing_data
        self.max_payload = max_payload
        self._peer_closed = False
        self.outbox = Outbox(
            stream.socket.fileno(),
            flusher,
            outbox_max_bytes,
            on_need_drain=self._start_drain,
            on_error=self.close,
        )
        self._nursery: trio.Nursery | None = None
        self._drain_due = False  # the kernel buffer filled before `run` started
        self._cancel = trio.CancelScope()
        self.close_reason: str | None = None
        self._close_code = NORMAL_CLOSURE

    # ------------------------------------------------------------- Transport
    def send(self, item: Outgoing) -> bool:
        if self.close_reason is not None:
            return False  # closing: only the goodbye frame still goes out
        return self.outbox.push(item.ws_frame, item.volatile)

    def send_now(self, item: Outgoing) -> bool:
        """Queue, then write at once (not at the flusher's next batch)."""
        queued = self.outbox.push(item.ws_frame, item.volatile)
        if queued:
            self.outbox.write_now()
        return queued

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

    def close(
        self, reason: str, *, peer_initiated: bool = False, code: int = NORMAL_CLOSURE
    ) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self._close_code = code
        self._cancel.cancel()

    # ------------------------------------------------------------ read loop
    async def run(self, on_packet: PacketSink) -> str:
        """Read until the peer leaves or `close` is called; returns the reason.

        Whatever happens above (even a bug raising out of `on_packet`), the
        outbox forgets the fd before the socket closes: the fd number will be
        reused by the next connection.
        """
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._drain_due:
                    nursery.start_soon(self.outbox.drain)
                with self._cancel:
                    await self._read_loop(on_packet)
                nursery.cancel_scope.cancel()
        except BaseException:
            self.close_reason = self.close_reason or "internal error"
            self._close_code = INTERNAL_ERROR
            raise
        finally:
            self._nursery = None
            await self._finish()
        return self.close_reason or "transport closed"

    async def _read_loop(self, on_packet: PacketSink) -> None:
        data, self._trailing = self._trailing, b""
        while True:
            if data:
                try:
                    frames = self.reader.feed(data)
                except PayloadTooLarge:
                    self.close("message exceeds maxPayload", code=MESSAGE_TOO_BIG)
                    return
                except ProtocolError as exc:
                    self.close(f"WebSocket protocol error: {exc}", code=PROTOCOL_ERROR)
                    return
                for opcode, payload in frames:
                    if opcode in (OPCODE_TEXT, OPCODE_BINARY):
                        try:
                            packet = decode_packet(payload)  # type: ignore[arg-type]
                        except ProtocolError as exc:
                            self.close(f"parse error: {exc}", code=PROTOCOL_ERROR)
                            return
                        await on_packet(packet)
                        if self.close_reason is not None:
                            return
                    elif opcode == OPCODE_PING:
                        self.outbox.push(control_frame(OPCODE_PONG, payload))  # type: ignore[arg-type]
                    elif opcode == OPCODE_CLOSE:
                        self._peer_closed = True
                        code = payload[0] if isinstance(payload, tuple) else NORMAL_CLOSURE
                        self._close_code = code if code not in (1005, 1006) else NORMAL_CLOSURE
                        self.close_reason = self.close_reason or "client closed the WebSocket"
                        return
                error = self.reader.error  # bad input after good frames in the same read
                if isinstance(error, PayloadTooLarge):
                    self.close("message exceeds maxPayload", code=MESSAGE_TOO_BIG)
                    return
                if error is not None:
                    self.close(f"WebSocket protocol error: {error}", code=PROTOCOL_ERROR)
                    return
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.close_reason = self.close_reason or "connection lost"
                return
            if not data:
                self.close_reason = self.close_reason or "connection closed by peer"
                return

    def _start_drain(self) -> None:
        nursery = self._nursery
        if nursery is None:
            if self.close_reason is None:
                self._drain_due = True  # `run` starts it
            else:
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
                # our close frame: the reply to the peer's, or our own goodbye
                self.outbox.push(control_frame(OPCODE_CLOSE, self._close_code.to_bytes(2, "big")))
                await self.outbox.flush(timeout=1.0)
            except Exception:  # the peer may be gone already; nothing to tell it
                pass
            self.outbox.detach()
            await self.stream.aclose()


def control_frame(opcode: int, payload: bytes) -> bytes:
    return frame_header(opcode, len(payload)) + payload


class WebSocketEndpoint:
    """The WebSocket upgrade of one Engine.IO server: a new session, or an upgrade candidate."""

    def __init__(
        self,
        engine: EngineServer,
        flusher: Flusher,
        max_payload: int,
        outbox_max_bytes: int,
    ) -> None:
        self.engine = engine
        self.flusher = flusher
        self.max_payload = max_payload
        self.outbox_max_bytes = outbox_max_bytes

    async def handle(
        self,
        http: HttpConnection,
        request: Request,
        session: EngineSession | None,
        refuse: Refuse,
        headers: list[tuple[str, str]],
    ) -> bool:
        """Serve one upgrade request; True once the connection belongs to the WebSocket."""
        key = request.header("sec-websocket-key").encode()
        if not request.wants_websocket or request.method != "GET" or not key:
            await refuse(HttpError.BAD_REQUEST)
            return False
        trailing = await http.accept_upgrade(
            [
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-accept", generate_accept_token(key).decode("ascii")),
            ]
        )
        ws = WebSocketTransport(
            http.stream, trailing, self.flusher, self.max_payload, self.outbox_max_bytes
        )
        if session is None:
            session = self.engine.open_session(ws)
        elif not session.attach(ws):
            # upgrading or upgraded already: accepted, then closed, as engine.io does
            ws.close("session already upgrading or upgraded")
        await _carry(session, ws)
        return True


async def _carry(session: EngineSession, ws: WebSocketTransport) -> None:
    reason = "transport failed"
    try:
        reason = await ws.run(lambda packet: session.receive(packet, ws))
    finally:
        session.transport_lost(ws, reason)
