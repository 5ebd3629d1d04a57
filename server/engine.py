"""Engine.IO sessions on trio: the sans-io session, its transports, and one shared heartbeat.

`server.protocol.engine_session.EngineServerSession` decides what every
packet means; this module carries out its decisions on live transports: it
feeds the session what a transport read, writes what the session says to
write on the channel it names, retires the old transport after an upgrade,
and hands messages to the layer above (`SessionHandler`: the Socket.IO hub,
or a raw Engine.IO application).

Heartbeat: Engine.IO v4 has the *server* ping every `ping_interval`; a
client that has not answered within `ping_timeout` is gone. With constant
intervals, sessions ordered by their next deadline stay ordered, so one task
and a few FIFO queues (pings, pong deadlines, the handler's deadline such as
Socket.IO's connect timeout, upgrade deadlines) serve every session: O(1)
per event, no task per session. The sessions themselves only compare the
`now` they are handed with their deadlines.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import trio

from server.protocol.engine_session import PING, EngineServerSession
from server.protocol.engineio import Handshake, Packet
from server.protocol.errors import RemoteProtocolError
from server.protocol.events import (
    Channel,
    CloseReason,
    EngineClosed,
    EngineEvent,
    MessageReceived,
    Upgraded,
    UpgradeProbed,
)
from server.transport.base import Outgoing, Transport

log = logging.getLogger(__name__)

_PING = Outgoing(PING)  # one object for every session: its WebSocket frame is built once
_PRIMARY, _CANDIDATE = Channel.PRIMARY, Channel.CANDIDATE  # Enum member reads are slow on 3.11
_Entry = TypeVar("_Entry", bound=tuple[object, ...])

# goodbyes that are part of normal life: logged at DEBUG (a load test makes thousands)
ORDINARY_CLOSES = frozenset(
    {
        CloseReason.CLIENT_CLOSE.value,
        CloseReason.TRANSPORT_CLOSE.value,
        "client closed the WebSocket",
        "connection closed by peer",
        "connection lost",
        "client hung up",
        "server shutting down",
        "upgraded",
    }
)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """The Engine.IO contract of one server (socket.io's option names in comments)."""

    ping_interval: float = 25.0  # pingInterval, seconds
    ping_timeout: float = 20.0  # pingTimeout, seconds
    max_payload: int = 1_000_000  # maxPayload, bytes
    upgrade_timeout: float = 10.0  # upgradeTimeout: a candidate must finish its upgrade by then


class SessionHandler(Protocol):
    """The layer above one Engine.IO session, as the engine sees it."""

    async def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, reason: str) -> None: ...

    @property
    def deadline(self) -> float | None:
        """When `expire` must be asked (e.g. Socket.IO's connect timeout), or None."""

    def expire(self, now: float) -> str | None:
        """At the deadline: a reason to close the session, or None to keep it."""


class EngineSession:
    """One live Engine.IO session: its sans-io state, its transports, its handler."""

    __slots__ = ("candidate", "conn", "engine", "handler", "sid", "transport")

    def __init__(
        self, engine: EngineServer, conn: EngineServerSession, transport: Transport
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.sid = conn.sid
        self.transport = transport
        self.candidate: Transport | None = None
        self.handler: SessionHandler | None = None

    @property
    def closed(self) -> bool:
        return self.conn.closed

    def open_packet(self) -> str:
        return self.conn.open_packet()

    # ---------------------------------------------------------------- sending
    def send(self, item: Outgoing) -> bool:
        """Queue one encoded packet on the primary transport (the broadcast hot path).

        No state check here: a closed session's transports are closed too (`_finish`
        closes them), and a closed transport refuses; this runs once per delivery.
        """
        return self.transport.send(item)

    @property
    def pending_bytes(self) -> int:
        return self.transport.pending_bytes

    # -------------------------------------------------------------- receiving
    async def receive(self, packet: Packet, via: Transport) -> None:
        """One packet a transport of this session read."""
        if self.conn.closed:
            return
        if via is self.transport:
            data = self.conn.message_data(packet)
            if data is not None:  # the bulk of traffic: a message on the open session
                if self.handler is not None:
                    await self.handler.on_message(data)
                return
            channel = _PRIMARY
        elif via is self.candidate:
            channel = _CANDIDATE
        else:
            return  # a transport this session already let go of
        try:
            events = self.conn.receive(packet, channel)
        except RemoteProtocolError as exc:
            self._finish(f"protocol error: {exc}")
            return
        self._write_protocol_replies()
        for event in events:
            if isinstance(event, MessageReceived):
                if self.handler is not None:
                    await self.handler.on_message(event.data)
            else:
                self._on_event(event)

    def _write_protocol_replies(self) -> None:
        """The session's own writes (the probe's answer), on the wire before anything else:
        the client must see `3probe` before any later answer of the old transport."""
        for channel, data in self.conn.data_to_send():
            target = self.transport if channel is _PRIMARY else self.candidate
            if target is not None:
                target.send_now(Outgoing(data))

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, UpgradeProbed):
            self.transport.release()  # a pending long-poll returns so the client can pause it
        elif isinstance(event, Upgraded):
            old, new = self.transport, self.candidate
            assert new is not None
            self.transport, self.candidate = new, None
            pending = old.take_pending()
            old.close("upgraded", peer_initiated=True)
            for item in pending:
                new.send(item)
        elif isinstance(event, EngineClosed):
            detail = f": {event.detail}" if event.detail else ""
            self._finish(f"{event.reason.value}{detail}", peer_initiated=True)

    # --------------------------------------------------------------- upgrade
    def attach(self, transport: Transport) -> bool:
        """A transport opened with this sid to upgrade the session; False if it may not."""
        if not self.conn.upgradable:
            return False
        self.conn.attach_candidate(transport.name)
        self.candidate = transport
        self.engine.expect_upgrade(self, transport)
        return True

    def transport_lost(self, transport: Transport, reason: str) -> None:
        """A transport ended under us (socket closed, write error, slow consumer)."""
        if transport is self.candidate:
            self.candidate = None
            self.conn.transport_lost(Channel.CANDIDATE)
        elif transport is self.transport and not self.conn.closed:
            self.conn.transport_lost(Channel.PRIMARY, reason)
            self._finish(reason)

    # ---------------------------------------------------------------- closing
    def close(self, reason: str) -> None:
        """We end the session (server disconnect, bad input, shutdown)."""
        if self.conn.closed:
            return
        self.conn.close(CloseReason.SERVER_CLOSE, reason)
        self._finish(reason)

    def _finish(self, reason: str, *, peer_initiated: bool = False) -> None:
        """The session is over: tell the handler, retire every transport."""
        engine = self.engine
        if engine.sessions.get(self.sid) is not self:
            return
        del engine.sessions[self.sid]
        if not self.conn.closed:  # a protocol error or a lost transport closed it just now
            self.conn.close(CloseReason.PROTOCOL_ERROR, reason)
        level = logging.DEBUG if reason in ORDINARY_CLOSES else logging.INFO
        log.log(level, "session %s closed (%s, %s)", self.sid, reason, self.transport.name)
        if self.handler is not None:
            try:
                self.handler.on_close(reason)
            except Exception:
                log.exception("error in disconnect handling of session %s", self.sid)
        if self.candidate is not None:
            self.candidate.close(reason)
            self.candidate = None
        self.transport.close(reason, peer_initiated=peer_initiated)


class EngineServer:
    """The sessions of one Engine.IO path, and the heartbeat that serves them all."""

    def __init__(
        self,
        options: EngineOptions,
        make_handler: Callable[[EngineSession], SessionHandler],
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.options = options
        self.make_handler = make_handler
        self.clock = clock
        self.sessions: dict[str, EngineSession] = {}
        self._pings: deque[tuple[float, EngineSession]] = deque()
        self._pongs: deque[tuple[float, EngineSession]] = deque()
        self._deadlines: deque[tuple[float, EngineSession]] = deque()
        self._upgrades: deque[tuple[float, EngineSession, Transport]] = deque()
        self._wakeup = trio.lowlevel.ParkingLot()
        self.opened = 0

    def open_session(self, transport: Transport) -> EngineSession:
        now = self.clock()
        options = self.options
        handshake = Handshake(
            secrets.token_urlsafe(15),
            transport.upgrades,
            int(options.ping_interval * 1000),
            int(options.ping_timeout * 1000),
            options.max_payload,
        )
        session = EngineSession(
            self, EngineServerSession(handshake, transport.name, now), transport
        )
        self.sessions[session.sid] = session
        self.opened += 1
        if transport.handshake_in_band:
            transport.send(Outgoing(session.open_packet()))  # before anything the handler sends
        handler = session.handler = self.make_handler(session)
        self._queue(self._pings, (now + options.ping_interval, session))
        deadline = handler.deadline
        if deadline is not None:
            self._queue(self._deadlines, (deadline, session))
        log.debug("session %s opened (%s)", session.sid, transport.name)
        return session

    def expect_upgrade(self, session: EngineSession, candidate: Transport) -> None:
        self._queue(
            self._upgrades, (self.clock() + self.options.upgrade_timeout, session, candidate)
        )

    def _queue(self, queue: deque[_Entry], entry: _Entry) -> None:
        queue.append(entry)
        if len(queue) == 1:
            self._wakeup.unpark_all()

    async def run_heartbeat(self) -> None:
        pings, pongs, deadlines, upgrades = (
            self._pings,
            self._pongs,
            self._deadlines,
            self._upgrades,
        )
        interval = self.options.ping_interval
        while True:
            now = self.clock()
            while pongs and pongs[0][0] <= now:
                _, session = pongs.popleft()
                if not session.closed and session.conn.expire(now):
                    session._finish(CloseReason.PING_TIMEOUT.value)
            while deadlines and deadlines[0][0] <= now:
                _, session = deadlines.popleft()
                if not session.closed and session.handler is not None:
                    reason = session.handler.expire(now)
                    if reason is not None:
                        session.close(reason)
            while upgrades and upgrades[0][0] <= now:
                _, session, candidate = upgrades.popleft()
                if session.candidate is candidate:
                    candidate.close("upgrade timeout")
            while pings and pings[0][0] <= now:
                _, session = pings.popleft()
                if session.closed:
                    continue
                awaiting = session.conn.pong_deadline is not None
                session.conn.ping(now)
                session.send(_PING)
                if not awaiting:
                    pongs.append((now + self.options.ping_timeout, session))
                pings.append((now + interval, session))
            heads = [q[0][0] for q in (pings, pongs, deadlines, upgrades) if q]
            if heads:
                with trio.move_on_at(min(heads)):
                    await self._wakeup.park()
            else:
                await self._wakeup.park()

    def close_all(self, reason: str) -> None:
        for session in list(self.sessions.values()):
            session.close(reason)
