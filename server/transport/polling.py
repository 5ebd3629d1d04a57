"""HTTP long-polling: the fallback transport, the first step of an upgrade, and its HTTP rules.

The client keeps one GET open; it returns as soon as anything is queued
(pings guarantee it returns within pingInterval). POST bodies carry the
client's packets. The rules are engine.io's:

- a second concurrent GET, or a POST overlapping another, ends the session
  (HTTP 400);
- while the session upgrades to WebSocket, every GET is answered at once
  (NOOP when there is nothing to say), so the client can pause polling;
- when the session ends, a pending GET gets NOOP if the client ended it
  (its POSTed CLOSE, or the upgrade) and CLOSE if we did; later requests
  with that sid get 400 (the session is gone).
"""

from __future__ import annotations

import trio

from server.engine import EngineServer, EngineSession
from server.protocol.engine_session import CLOSE, NOOP
from server.protocol.engineio import HttpError, Packet, decode_payload, join_payload
from server.protocol.errors import PayloadTooLarge, ProtocolError
from server.transport.base import Outgoing, PacketSink, Refuse, StartTask, Transport
from server.transport.http import HttpConnection, Request

BODY_TIMEOUT = 30.0  # seconds for a POST body


class ConcurrentPoll(Exception):
    """A GET arrived while another GET of the same session was pending."""


class PollingTransport(Transport):
    name = "polling"
    upgrades = ("websocket",)

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.queue: list[Outgoing] = []
        self.nbytes = 0
        self.dropped = 0
        self.closed = False
        self.close_reason = ""
        self._goodbye = CLOSE
        self._released = False
        self._ready = trio.Event()
        self._done = trio.Event()
        self._polling = False
        self._deliver: PacketSink | None = None
        self.posting = False  # a POST of this session is being handled

    # ------------------------------------------------------------- Transport
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

    def close(self, reason: str, *, peer_initiated: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._goodbye = NOOP if peer_initiated else CLOSE
        self._ready.set()
        self._done.set()

    def take_pending(self) -> list[Outgoing]:
        items, self.queue, self.nbytes = self.queue, [], 0
        return items

    def release(self) -> None:
        self._released = True
        self._ready.set()

    async def run(self, on_packet: PacketSink) -> str:
        """Packets arrive through POSTs (`deliver`); this waits for the end of the transport."""
        self._deliver = on_packet
        await self._done.wait()
        return self.close_reason or "transport closed"

    # ------------------------------------------------------------- requests
    @property
    def polling(self) -> bool:
        """A GET of this session is waiting for packets."""
        return self._polling

    async def poll(self) -> str:
        """Wait for packets and return them as one payload (a goodbye once closed)."""
        if self._polling:
            raise ConcurrentPoll
        self._polling = True
        try:
            await self._ready.wait()
        finally:
            self._polling = False
        items: list[str | bytes] = [item.eio for item in self.take_pending()]
        if self.closed:
            if not items:
                items = [self._goodbye]
        elif self._released:
            if not items:
                items = [NOOP]
        else:
            self._ready = trio.Event()
        return join_payload(items)

    async def deliver(self, packets: list[Packet]) -> None:
        """The packets of one POST body, in order, until the session stops taking them."""
        deliver = self._deliver
        for packet in packets:
            if self.closed or deliver is None:
                return
            await deliver(packet)


class PollingEndpoint:
    """The HTTP rules of long-polling for one Engine.IO server."""

    def __init__(
        self,
        engine: EngineServer,
        start_task: StartTask,
        max_payload: int,
        outbox_max_bytes: int,
    ) -> None:
        self.engine = engine
        self.start_task = start_task
        self.max_payload = max_payload
        self.outbox_max_bytes = outbox_max_bytes

    async def handle(
        self,
        http: HttpConnection,
        request: Request,
        session: EngineSession | None,
        refuse: Refuse,
        headers: list[tuple[str, str]],
    ) -> None:
        if session is None:
            await self._handshake(http, request, refuse, headers)
            return
        polling = session.transport
        if not isinstance(polling, PollingTransport):
            await refuse(HttpError.UNKNOWN_SID)  # upgraded: HTTP requests with its sid are refused
            return
        if request.method == "GET":
            await self._get(http, session, polling, refuse, headers)
        elif request.method == "POST":
            if polling.posting:
                session.close("overlapping POST from the client")  # as engine.io does
                await refuse(HttpError.BAD_REQUEST)
                return
            polling.posting = True
            try:
                await self._post(http, session, polling, refuse, headers)
            finally:
                polling.posting = False
        else:
            await refuse(HttpError.BAD_HANDSHAKE_METHOD)

    async def _handshake(
        self,
        http: HttpConnection,
        request: Request,
        refuse: Refuse,
        headers: list[tuple[str, str]],
    ) -> None:
        if request.method != "GET":
            await refuse(HttpError.BAD_HANDSHAKE_METHOD)
            return
        polling = PollingTransport(self.outbox_max_bytes)
        session = self.engine.open_session(polling)
        self.start_task(_carry, session, polling)
        await http.respond(200, session.open_packet(), headers=headers)

    async def _get(
        self,
        http: HttpConnection,
        session: EngineSession,
        polling: PollingTransport,
        refuse: Refuse,
        headers: list[tuple[str, str]],
    ) -> None:
        try:
            payload = await _long_poll(http, polling)
        except ConcurrentPoll:
            session.close("concurrent polling request")
            await refuse(HttpError.BAD_REQUEST)
            return
        if payload is None:
            # like engine.io: a client that hangs up on its pending poll is gone
            session.close("polling connection closed prematurely")
            return
        await http.respond(200, payload, headers=headers)

    async def _post(
        self,
        http: HttpConnection,
        session: EngineSession,
        polling: PollingTransport,
        refuse: Refuse,
        headers: list[tuple[str, str]],
    ) -> None:
        try:
            with trio.fail_after(BODY_TIMEOUT):
                body = await http.read_body(self.max_payload)
            packets = decode_payload(body, self.max_payload)
        except trio.TooSlowError:
            session.close("polling POST body too slow")
            await http.respond(408, "request timeout", headers=headers)
            return
        except PayloadTooLarge:
            session.close("payload exceeds maxPayload")
            await http.respond(413, "payload too large", headers=headers)
            return
        except ProtocolError as exc:
            session.close(f"parse error: {exc}")
            await refuse(HttpError.BAD_REQUEST)
            return
        await polling.deliver(packets)
        await http.respond(200, "ok", headers=headers)


async def _carry(session: EngineSession, polling: PollingTransport) -> None:
    """The polling transport's life: from the handshake to its close (then the session hears)."""
    reason = "transport failed"
    try:
        reason = await polling.run(lambda packet: session.receive(packet, polling))
    finally:
        session.transport_lost(polling, reason)


async def _long_poll(http: HttpConnection, polling: PollingTransport) -> str | None:
    """Wait for packets, watching the connection meanwhile: None if the client hung up."""
    if polling.polling:
        raise ConcurrentPoll  # before the nursery: it must not arrive as an ExceptionGroup
    result: list[str] = []
    async with trio.open_nursery() as nursery:

        async def poll() -> None:
            result.append(await polling.poll())
            nursery.cancel_scope.cancel()

        nursery.start_soon(poll)
        if await http.wait_for_hangup():
            nursery.cancel_scope.cancel()
    return result[0] if result else None
