"""Engine.IO sessions: handshake, heartbeat, transport upgrade; transport-agnostic.

A session outlives the transport it started on (polling upgraded to
WebSocket keeps its sid). Everything above this layer (the Socket.IO hub)
sees only `EngineSession.send` and the `SessionHandler` callbacks.

Heartbeat: Engine.IO v4 has the *server* ping every `ping_interval`; a
client that has not answered within `ping_timeout` is gone. With a constant
interval, sessions ordered by their next ping stay ordered, so one task and
two FIFO queues serve every session (O(1) per ping, no task per session).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Protocol

import trio

from server.config import ServerConfig
from server.protocol.engineio import Packet, PacketType
from server.transport.base import Outgoing, Transport

log = logging.getLogger(__name__)

PING = Outgoing("2")
ORDINARY_CLOSES = frozenset(
    {
        "client close",
        "client closed the WebSocket",
        "connection closed by peer",
        "connection lost",
        "client hung up",
        "server shutting down",
        "upgraded",
    }
)
NOOP = "6"


class SessionHandler(Protocol):
    """The layer above (Socket.IO) as the engine sees it."""

    async def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, reason: str) -> None: ...


class EngineSession:
    __slots__ = (
        "_attached",
        "_on_close_hooks",
        "awaiting_pong",
        "close_reason",
        "closed",
        "engine",
        "handler",
        "opened_at",
        "ping_seq",
        "probing",
        "sid",
        "transport",
    )

    def __init__(self, engine: EngineServer, sid: str, transport: Transport) -> None:
        self.engine = engine
        self.sid = sid
        self.transport = transport
        self.handler: SessionHandler | None = None
        self.closed = False
        self.close_reason = ""
        self.awaiting_pong = False
        self.probing: Transport | None = None
        self._on_close_hooks: list[Callable[[str], None]] = []
        # transports that asked to join this session (upgrades): closed with it
        self._attached: list[Transport] = []
        self.opened_at = trio.current_time()
        self.ping_seq = 0

    # ---------------------------------------------------------------- sending
    def send(self, item: Outgoing) -> bool:
        if self.closed:
            return False
        return self.transport.send(item)

    def open_packet(self, upgrades: list[str]) -> str:
        cfg = self.engine.config
        body = {
            "sid": self.sid,
            "upgrades": upgrades,
            "pingInterval": int(cfg.ping_interval * 1000),
            "pingTimeout": int(cfg.ping_timeout * 1000),
            "maxPayload": cfg.max_payload,
        }
        return "0" + json.dumps(body, separators=(",", ":"))

    # -------------------------------------------------------------- receiving
    async def receive(self, packet: Packet, via: Transport) -> None:
        """One packet from a transport of this session (the current one or a probing one)."""
        ptype = packet.type
        if ptype is PacketType.MESSAGE:
            if via is not self.transport:
                self.close("message on a transport that is not upgraded yet")
                return
            if self.handler is not None:
                await self.handler.on_message(packet.data)
        elif ptype is PacketType.PONG:
            self.awaiting_pong = False
        elif ptype is PacketType.PING and packet.data == "probe" and via is not self.transport:
            # Upgrade, step 1: answer the probe on the new transport and make the
            # pending poll return so the client can pause polling.
            self.probing = via
            via.send(Outgoing("3probe"))
            self.transport.send(Outgoing(NOOP))
        elif ptype is PacketType.UPGRADE and via is self.probing:
            old, self.transport, self.probing = self.transport, via, None
            pending = old.take_pending() if hasattr(old, "take_pending") else []
            old.close("upgraded")
            for item in pending:
                via.send(item)
        elif ptype is PacketType.CLOSE:
            self.close("client close")
        elif ptype is PacketType.NOOP:
            pass
        else:
            self.close(f"unexpected {ptype.name} packet")

    def attach(self, transport: Transport) -> None:
        """A WebSocket opened with this sid: it lives no longer than the session."""
        self._attached.append(transport)

    def transport_lost(self, transport: Transport, reason: str) -> None:
        """A transport ended under us (socket closed, write error)."""
        if transport in self._attached:
            self._attached.remove(transport)
        if transport is self.probing:
            self.probing = None
        elif transport is self.transport:
            self.close(reason)

    # ---------------------------------------------------------------- closing
    def on_close(self, hook: Callable[[str], None]) -> None:
        self._on_close_hooks.append(hook)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.engine.sessions.pop(self.sid, None)
        # Ordinary goodbyes are DEBUG (a load test makes thousands); a session the
        # server had to end (bad input, timeout, slow consumer) is worth an INFO line.
        level = logging.DEBUG if reason in ORDINARY_CLOSES else logging.INFO
        log.log(level, "session %s closed (%s, %s)", self.sid, reason, self.transport.name)
        if self.handler is not None:
            try:
                self.handler.on_close(reason)
            except Exception:
                log.exception("error in disconnect handling of session %s", self.sid)
        for hook in self._on_close_hooks:
            hook(reason)
        if self.probing is not None:
            self.probing.close(reason)
        for attached in self._attached:
            attached.close(reason)
        self.transport.close(reason)


class EngineServer:
    """Session registry and the shared heartbeat."""

    def __init__(
        self, config: ServerConfig, make_handler: Callable[[EngineSession], SessionHandler]
    ) -> None:
        self.config = config
        self.make_handler = make_handler
        self.sessions: dict[str, EngineSession] = {}
        self._ping_queue: deque[tuple[float, EngineSession]] = deque()
        self._timeout_queue: deque[tuple[float, EngineSession, int]] = deque()
        self._wakeup = trio.lowlevel.ParkingLot()
        self.opened = 0

    def open_session(self, transport: Transport) -> EngineSession:
        sid = secrets.token_urlsafe(15)
        session = EngineSession(self, sid, transport)
        self.sessions[sid] = session
        self.opened += 1
        session.handler = self.make_handler(session)
        self._schedule_ping(session)
        log.debug("session %s opened (%s)", sid, transport.name)
        return session

    def _schedule_ping(self, session: EngineSession) -> None:
        self._ping_queue.append((trio.current_time() + self.config.ping_interval, session))
        if len(self._ping_queue) == 1:
            self._wakeup.unpark_all()

    async def run_heartbeat(self) -> None:
        pings, timeouts = self._ping_queue, self._timeout_queue
        while True:
            now = trio.current_time()
            while timeouts and timeouts[0][0] <= now:
                _, session, seq = timeouts.popleft()
                # only the ping this entry was set for counts (pingTimeout may exceed pingInterval)
                if session.awaiting_pong and session.ping_seq == seq and not session.closed:
                    session.close("ping timeout")
            while pings and pings[0][0] <= now:
                _, session = pings.popleft()
                if session.closed:
                    continue
                sockets = getattr(session.handler, "sockets", None)
                if not sockets and now - session.opened_at > self.config.connect_timeout:
                    session.close("no Socket.IO connect within connectTimeout")
                    continue
                if not session.awaiting_pong:
                    session.ping_seq += 1  # a new ping; an unanswered one keeps its deadline
                    timeouts.append((now + self.config.ping_timeout, session, session.ping_seq))
                session.awaiting_pong = True
                session.send(PING)
                pings.append((now + self.config.ping_interval, session))
            heads = [q[0][0] for q in (pings, timeouts) if q]
            if heads:
                with trio.move_on_at(min(heads)):
                    await self._wakeup.park()
            else:
                await self._wakeup.park()

    def close_all(self, reason: str) -> None:
        for session in list(self.sessions.values()):
            session.close(reason)
