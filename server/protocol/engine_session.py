"""Engine.IO v4 sessions without I/O: one object per side of a conversation.

An Engine.IO session is the framing conversation under Socket.IO: a
handshake (the OPEN packet), a heartbeat (the server PINGs, the client
PONGs within pingTimeout), messages, an optional upgrade from long-polling to
WebSocket (probe, then UPGRADE, on a second transport), and a close.

Shape (h11/wsproto): the driver feeds the session what arrived
(`receive(packet, channel, now)`) and gets typed events back
(`server.protocol.events`); it asks for what to write (`send_message`,
`ping`, `close`, ...) and drains the writes the protocol makes by itself
(the probe's answer, a PONG) with `data_to_send()`, in order, with the
channel each must leave on. Every move is looked up in
`server.protocol.states`; a peer's illegal move raises `RemoteProtocolError`
where it happens (the session is then closed), our own misuse
`LocalProtocolError`. Time is passed in; the session never reads a clock.

What stays outside: sockets, HTTP (a polling transport's GET/POST rules),
WebSocket framing, and *when* to ping — the server's heartbeat schedules
pings for thousands of sessions in one task and hands each `now`.
"""

from __future__ import annotations

from collections.abc import Mapping

from server.protocol.engineio import (
    Handshake,
    Packet,
    PacketType,
    decode_packet,
    encode_message,
    encode_text,
)
from server.protocol.errors import LocalProtocolError, RemoteProtocolError
from server.protocol.events import (
    Channel,
    CloseReason,
    EngineClosed,
    EngineEvent,
    EngineOpened,
    MessageReceived,
    PingReceived,
    PongReceived,
    Upgraded,
    UpgradeProbed,
)
from server.protocol.states import (
    ENGINE_CLIENT_LOCAL,
    ENGINE_CLIENT_REMOTE,
    ENGINE_SERVER_LOCAL,
    ENGINE_SERVER_REMOTE,
    EngineInput,
    EngineState,
    step,
)

# Enum members read on the per-packet paths, bound once: on Python 3.11 reading an
# Enum member off its class costs about 0.16 µs, several times the comparison itself.
_PRIMARY, _CANDIDATE = Channel.PRIMARY, Channel.CANDIDATE
_MESSAGE_TYPE = PacketType.MESSAGE
_OPENING, _CLOSED = EngineState.OPENING, EngineState.CLOSED
_IN_MESSAGE, _IN_PING, _IN_PONG, _IN_NOOP = (
    EngineInput.MESSAGE,
    EngineInput.PING,
    EngineInput.PONG,
    EngineInput.NOOP,
)
_IN_CLOSE, _IN_OPEN, _IN_PROBE, _IN_UPGRADE, _IN_STRAY = (
    EngineInput.CLOSE,
    EngineInput.OPEN,
    EngineInput.PROBE,
    EngineInput.UPGRADE,
    EngineInput.STRAY,
)

Write = tuple[Channel, str | bytes]
Table = Mapping[EngineState, Mapping[EngineInput, EngineState | None]]

PROBE = "probe"
# transports a session may upgrade *from*, and the one it upgrades to
UPGRADABLE_FROM = frozenset({"polling"})
UPGRADE_TO = "websocket"

_PING = encode_text(Packet(PacketType.PING))
_PONG = encode_text(Packet(PacketType.PONG))
_CLOSE = encode_text(Packet(PacketType.CLOSE))
_NOOP = encode_text(Packet(PacketType.NOOP))
_PROBE_PING = encode_text(Packet(PacketType.PING, PROBE))
_PROBE_PONG = encode_text(Packet(PacketType.PONG, PROBE))
_UPGRADE = encode_text(Packet(PacketType.UPGRADE))

PING = _PING  # the heartbeat's packet (`ping()` returns it; drivers may share one encoded copy)
NOOP = _NOOP  # what a transport answers to release a long-poll with nothing to say
CLOSE = _CLOSE  # what a transport answers once the session is closed by us

_MESSAGE_CHAR = str(int(PacketType.MESSAGE))

_BY_TYPE = {
    PacketType.MESSAGE: _IN_MESSAGE,
    PacketType.PING: _IN_PING,
    PacketType.PONG: _IN_PONG,
    PacketType.NOOP: _IN_NOOP,
    PacketType.CLOSE: _IN_CLOSE,
    PacketType.OPEN: _IN_OPEN,
}


def _primary_input(packet: Packet) -> EngineInput:
    """UPGRADE belongs on the candidate only: on the primary it is a stray packet."""
    return _BY_TYPE.get(packet.type, _IN_STRAY)


def _candidate_input(packet: Packet, probe_type: PacketType) -> EngineInput:
    """On a transport that is not upgraded yet only the probe and UPGRADE may travel."""
    if packet.type is probe_type and packet.data == PROBE:
        return _IN_PROBE
    if packet.type is PacketType.UPGRADE:
        return _IN_UPGRADE
    return _IN_STRAY


class _Session:
    """What both roles share: state, the close, and the protocol's own writes."""

    __slots__ = ("_writes", "close_detail", "close_reason", "state", "transport")

    def __init__(self, state: EngineState, transport: str) -> None:
        self.state = state
        self.transport = transport  # the primary transport's name
        self.close_reason: CloseReason | None = None
        self.close_detail = ""
        self._writes: list[Write] = []

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    def data_to_send(self) -> list[Write]:
        """The writes the protocol made by itself since the last call, in order."""
        writes, self._writes = self._writes, []
        return writes

    def _closed(self, reason: CloseReason, detail: str = "") -> list[EngineEvent]:
        self.state = _CLOSED
        self.close_reason = reason
        self.close_detail = detail
        return [EngineClosed(reason, detail)]

    def _apply(self, table: Table, move: EngineInput, *, remote: bool, what: object = "") -> None:
        """Look the move up (raising if it is not allowed) and take it."""
        if remote:
            try:
                target = step(table, self.state, move, remote=True, what=what)
            except RemoteProtocolError as exc:
                self._remote_error(exc)
                raise
        else:
            target = step(table, self.state, move, remote=False, what=what)
        if target is not None:
            self.state = target

    def _remote_error(self, exc: RemoteProtocolError) -> None:
        """The peer broke the protocol: the session is over before the error propagates."""
        if not self.closed:
            self._closed(CloseReason.PROTOCOL_ERROR, str(exc))


class EngineServerSession(_Session):
    """The server's side of one Engine.IO session.

    `transport` is the name of the transport the session started on; a
    polling session may be upgraded (`attach_candidate`, then the client's
    probe and UPGRADE on that channel).
    """

    __slots__ = ("candidate", "handshake", "opened_at", "ping_timeout", "pong_deadline", "sid")

    def __init__(self, handshake: Handshake, transport: str, now: float) -> None:
        super().__init__(EngineState.OPEN, transport)
        self.handshake = handshake
        self.sid = handshake.sid
        self.opened_at = now
        self.ping_timeout = handshake.ping_timeout_ms / 1000
        self.pong_deadline: float | None = None  # set while a PING waits for its PONG
        self.candidate: str | None = None

    def open_packet(self) -> str:
        """The OPEN packet, first thing on the wire (WebSocket frame, or handshake body)."""
        return encode_text(self.handshake.packet())

    @property
    def upgradable(self) -> bool:
        """A candidate transport may be attached now (polling, and no upgrade under way)."""
        return (
            self.state is EngineState.OPEN
            and self.transport in UPGRADABLE_FROM
            and UPGRADE_TO in self.handshake.upgrades
        )

    # ------------------------------------------------------------- receiving
    def message_data(self, packet: Packet, channel: Channel = _PRIMARY) -> str | bytes | None:
        """The payload of a MESSAGE on the primary transport of an open session, else None.

        The hot path (every client event is one): a message in a state that
        takes messages moves nothing, so the driver hands the data on without an
        event object. None means "not that simple": `receive` the packet.
        """
        if packet.type is _MESSAGE_TYPE and channel is _PRIMARY and self.state is not _CLOSED:
            return packet.data
        return None

    def receive(self, packet: Packet, channel: Channel = _PRIMARY) -> list[EngineEvent]:
        """One packet from the peer, on the primary transport or the upgrade candidate."""
        if channel is _PRIMARY:
            move = _primary_input(packet)
        else:
            move = _candidate_input(packet, PacketType.PING)
        self._apply(ENGINE_SERVER_REMOTE, move, remote=True, what=channel)
        if move is _IN_MESSAGE:
            return [MessageReceived(packet.data)]
        if move is _IN_PONG:
            self.pong_deadline = None
            return [PongReceived(packet.data if isinstance(packet.data, str) else "")]
        if move is _IN_CLOSE:
            return self._closed(CloseReason.CLIENT_CLOSE)
        if move is _IN_PROBE:
            self._writes.append((_CANDIDATE, _PROBE_PONG))
            return [UpgradeProbed()]
        if move is _IN_UPGRADE:
            assert self.candidate is not None
            self.transport, self.candidate = self.candidate, None
            return [Upgraded(self.transport)]
        return []

    # --------------------------------------------------------------- sending
    def send_message(self, data: str | bytes) -> str | bytes:
        """A MESSAGE packet for the primary transport."""
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.SEND, remote=False)
        return encode_message(data)

    def ping(self, now: float) -> str:
        """The heartbeat's PING; the first unanswered one starts the pong deadline.

        A PING sent while an older one is still unanswered keeps the older
        deadline: pingTimeout counts from the first PING the client ignored.
        """
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.SEND_PING, remote=False)
        if self.pong_deadline is None:
            self.pong_deadline = now + self.ping_timeout
        return _PING

    def expire(self, now: float) -> list[EngineEvent]:
        """Close the session if its PONG is overdue at `now` (a no-op otherwise)."""
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.EXPIRE, remote=False)
        if self.closed or self.pong_deadline is None or now < self.pong_deadline:
            return []
        return self._closed(CloseReason.PING_TIMEOUT)

    # --------------------------------------------------------------- upgrade
    def attach_candidate(self, transport: str) -> None:
        """A transport opened with this session's sid to upgrade it (see `upgradable`)."""
        if transport != UPGRADE_TO or not self.upgradable:
            raise LocalProtocolError(
                f"session {self.sid} on {self.transport} cannot upgrade to {transport} now"
            )
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.ATTACH_CANDIDATE, remote=False)
        self.candidate = transport

    def drop_candidate(self) -> None:
        """The candidate transport went away before the upgrade finished."""
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.DROP_CANDIDATE, remote=False)
        self.candidate = None

    # --------------------------------------------------------------- closing
    def close(
        self, reason: CloseReason = CloseReason.SERVER_CLOSE, detail: str = ""
    ) -> list[EngineEvent]:
        """End the session; closing a closed session returns no event."""
        if self.closed:
            return []
        self._apply(ENGINE_SERVER_LOCAL, EngineInput.LOCAL_CLOSE, remote=False)
        return self._closed(reason, detail)

    def transport_lost(self, channel: Channel, detail: str = "") -> list[EngineEvent]:
        """A transport ended under the session: the primary ends it, a candidate does not."""
        if channel is _CANDIDATE:
            if not self.closed and self.candidate is not None:
                self.drop_candidate()
            return []
        return self.close(CloseReason.TRANSPORT_CLOSE, detail)


class EngineClientSession(_Session):
    """The client's side of one Engine.IO session, from the OPEN packet on.

    The client answers every PING with a PONG (among `data_to_send`) and
    gives up on a server that has not pinged for pingInterval + pingTimeout
    (`ping_deadline`, `expire`).
    """

    __slots__ = ("candidate", "handshake", "ping_deadline")

    def __init__(self, transport: str) -> None:
        super().__init__(_OPENING, transport)
        self.handshake: Handshake | None = None
        self.ping_deadline: float | None = None
        self.candidate: str | None = None

    @property
    def sid(self) -> str | None:
        return None if self.handshake is None else self.handshake.sid

    def message_data(self, frame: str | bytes) -> str | bytes | None:
        """The payload of `frame` if it is a MESSAGE on the open primary transport, else None.

        The hot path of a load generator (every broadcast is one): no event object,
        no clock. None means "not that simple": hand the frame to `receive_frame`.
        """
        state = self.state
        if state is _OPENING or state is _CLOSED:
            return None
        if isinstance(frame, bytes):
            return frame
        if frame[:1] == _MESSAGE_CHAR:
            return frame[1:]
        return None

    def receive_frame(
        self, frame: str | bytes, now: float, channel: Channel = _PRIMARY
    ) -> list[EngineEvent]:
        """One packet in its WebSocket form (a text or binary frame, a polling record).

        The bulk of a client's traffic is MESSAGE packets on an open session:
        those skip the Packet object on their way to `MessageReceived`.
        """
        if channel is _PRIMARY and self.state is not _OPENING and self.state is not _CLOSED:
            if isinstance(frame, bytes):
                return [MessageReceived(frame)]
            if frame[:1] == _MESSAGE_CHAR:
                return [MessageReceived(frame[1:])]
        try:
            packet = decode_packet(frame)
        except RemoteProtocolError as exc:
            self._remote_error(exc)
            raise
        return self.receive(packet, now, channel)

    def receive(self, packet: Packet, now: float, channel: Channel = _PRIMARY) -> list[EngineEvent]:
        if channel is _PRIMARY:
            move = _primary_input(packet)
        else:
            move = _candidate_input(packet, PacketType.PONG)
        handshake = None
        if move is _IN_OPEN:
            try:
                handshake = Handshake.parse(packet.data)
            except RemoteProtocolError as exc:
                self._remote_error(exc)
                raise
        self._apply(ENGINE_CLIENT_REMOTE, move, remote=True, what=channel)
        if move is _IN_MESSAGE:
            return [MessageReceived(packet.data)]
        if move is _IN_PING:
            self._writes.append((_PRIMARY, _PONG))
            self._heartbeat_from(now)
            return [PingReceived(packet.data if isinstance(packet.data, str) else "")]
        if handshake is not None:
            self.handshake = handshake
            self._heartbeat_from(now)
            return [
                EngineOpened(
                    handshake.sid,
                    handshake.upgrades,
                    handshake.ping_interval_ms / 1000,
                    handshake.ping_timeout_ms / 1000,
                    handshake.max_payload,
                )
            ]
        if move is _IN_CLOSE:
            return self._closed(CloseReason.SERVER_CLOSE)
        if move is _IN_PROBE:
            return [UpgradeProbed()]
        return []

    def _heartbeat_from(self, now: float) -> None:
        assert self.handshake is not None
        wait = self.handshake.ping_interval_ms + self.handshake.ping_timeout_ms
        self.ping_deadline = now + wait / 1000

    def send_message(self, data: str | bytes) -> str | bytes:
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.SEND, remote=False)
        return encode_message(data)

    def expire(self, now: float) -> list[EngineEvent]:
        """Close the session if the server has been silent past its ping deadline."""
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.EXPIRE, remote=False)
        if self.closed or self.ping_deadline is None or now < self.ping_deadline:
            return []
        return self._closed(CloseReason.PING_TIMEOUT)

    # --------------------------------------------------------------- upgrade
    def start_upgrade(self, transport: str = UPGRADE_TO) -> Write:
        """Probe a new transport (opened by the driver with this session's sid)."""
        handshake = self.handshake
        if handshake is None or transport not in handshake.upgrades:
            raise LocalProtocolError(f"the server does not offer an upgrade to {transport}")
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.START_UPGRADE, remote=False)
        self.candidate = transport
        return (_CANDIDATE, _PROBE_PING)

    def finish_upgrade(self) -> tuple[Write, list[EngineEvent]]:
        """The old transport is paused: send UPGRADE; the candidate becomes the primary."""
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.FINISH_UPGRADE, remote=False)
        assert self.candidate is not None
        self.transport, self.candidate = self.candidate, None
        return (_CANDIDATE, _UPGRADE), [Upgraded(self.transport)]

    def drop_candidate(self) -> None:
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.DROP_CANDIDATE, remote=False)
        self.candidate = None

    def close(self) -> tuple[list[Write], list[EngineEvent]]:
        """Say goodbye: a CLOSE packet on the primary transport (none if already closed)."""
        if self.closed:
            return [], []
        opening = self.state is _OPENING
        self._apply(ENGINE_CLIENT_LOCAL, EngineInput.LOCAL_CLOSE, remote=False)
        writes: list[Write] = [] if opening else [(_PRIMARY, _CLOSE)]
        return writes, self._closed(CloseReason.CLIENT_CLOSE)
