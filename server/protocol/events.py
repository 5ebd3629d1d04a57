"""Everything a protocol session tells its driver, as small immutable objects.

The sans-io sessions (`server.protocol.engine_session`,
`server.protocol.socketio_session`) are fed what arrived from the peer and
return these events; a reader learns the whole vocabulary of both layers and
both roles from this one file. Nothing here carries a socket, a task or a
clock: times are numbers the driver passed in.

Engine.IO events come from `EngineServerSession` / `EngineClientSession`;
Socket.IO events from `SocketIOServerConnection` / `SocketIOClientConnection`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- Engine.IO


class Channel(enum.Enum):
    """Which of a session's transports a packet arrived on (or must leave on).

    A session has one `PRIMARY` transport; while a client upgrades (polling to
    WebSocket) a second one, the `CANDIDATE`, carries the probe and the
    upgrade packet, and nothing else, until it becomes primary.
    """

    PRIMARY = "primary"
    CANDIDATE = "candidate"

    __hash__ = object.__hash__  # singletons: identity hashing is exact and cheap


class CloseReason(enum.StrEnum):
    """Why a session ended: the words logs and disconnect reasons use."""

    CLIENT_CLOSE = "client close"  # the peer sent a CLOSE packet
    SERVER_CLOSE = "server close"  # we closed it (the driver said so)
    PING_TIMEOUT = "ping timeout"  # no PONG within pingTimeout of a PING
    PROTOCOL_ERROR = "protocol error"  # the peer broke the protocol
    TRANSPORT_CLOSE = "transport close"  # the primary transport ended under us
    CONNECT_TIMEOUT = "connect timeout"  # no Socket.IO namespace within connectTimeout


@dataclass(frozen=True, slots=True)
class EngineOpened:
    """Client role: the server's OPEN packet arrived (the Engine.IO handshake)."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float  # seconds
    ping_timeout: float  # seconds
    max_payload: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A MESSAGE packet's payload: text for Socket.IO packets, bytes for attachments."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class PingReceived:
    """Client role: the server pinged; the PONG is already among the session's writes."""

    data: str = ""


@dataclass(frozen=True, slots=True)
class PongReceived:
    """Server role: the client answered a PING in time."""

    data: str = ""


@dataclass(frozen=True, slots=True)
class UpgradeProbed:
    """Server role: a probe arrived on the candidate transport and was answered.

    The driver writes the session's pending writes in order (the `3probe`
    first) and then releases any long-poll of the primary transport, so the
    client can pause polling.
    """


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The candidate transport is now the primary one; the old one must be retired.

    Server role: the driver moves what the old transport still holds to the
    new one and closes the old one. Client role: the upgrade packet is among
    the writes; the old transport may be dropped once they are written.
    """

    transport: str


@dataclass(frozen=True, slots=True)
class EngineClosed:
    """The session is over: no more events or writes after this one."""

    reason: CloseReason
    detail: str = ""


EngineEvent = (
    EngineOpened
    | MessageReceived
    | PingReceived
    | PongReceived
    | UpgradeProbed
    | Upgraded
    | EngineClosed
)


# ---------------------------------------------------------------- Socket.IO


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """Server role: the client asks to join a namespace (`auth` is its handshake payload)."""

    namespace: str
    auth: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Connected:
    """Client role: the server accepted our CONNECT; `pid` is set when it offers recovery."""

    namespace: str
    sid: str
    pid: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """Client role: the server answered CONNECT_ERROR (`data` is usually `{message, data?}`)."""

    namespace: str
    data: Any


@dataclass(frozen=True, slots=True)
class EventReceived:
    """An EVENT (binary attachments already back in place); `ack_id` is set if an ack is due."""

    namespace: str
    name: str
    args: list[Any]
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The answer to an event we sent with an ack request."""

    namespace: str
    ack_id: int
    args: list[Any]


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A namespace ended: the peer sent DISCONNECT (`by_peer`), or we asked for it."""

    namespace: str
    by_peer: bool = True


SocketIOEvent = (
    ConnectRequested | Connected | ConnectRefused | EventReceived | AckReceived | Disconnected
)
