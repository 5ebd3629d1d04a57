"""The allowed moves of every protocol session, as data.

Each role keeps `state -> {input -> next state}` tables: one for what the
*peer* may do (a missing entry raises `RemoteProtocolError`, the peer broke
the protocol) and one for what *we* may do (a missing entry raises
`LocalProtocolError`, a bug in our driver). The sessions look every move up
here through `step`, the one place that raises; booleans such as `closed`,
`probing` or `awaiting_pong` are states or deadlines instead.

Socket.IO tables are per namespace: one Engine.IO session carries several
namespaces, each with its own state, and an `Effect` says what a peer's
packet does besides moving the state (socket.io drops events for a
namespace the client has not joined instead of failing the connection).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from server.protocol.errors import LocalProtocolError, RemoteProtocolError

# ---------------------------------------------------------------- Engine.IO


class EngineState(enum.Enum):
    OPENING = "opening"  # client role: waiting for the server's OPEN packet
    OPEN = "open"
    UPGRADING = "upgrading"  # a candidate transport is attached, no probe yet
    PROBED = "probed"  # the probe was answered; waiting for the UPGRADE packet
    CLOSED = "closed"

    # Members are singletons: identity hashing is exact, and a C-level hash makes the
    # tables' lookups (every packet does two) five times cheaper than Enum's default.
    __hash__ = object.__hash__


class EngineInput(enum.Enum):
    """What moves an Engine.IO session: a packet kind on a channel, or a driver call."""

    # from the peer, on the primary transport
    MESSAGE = "message"
    PING = "ping"
    PONG = "pong"
    NOOP = "noop"
    CLOSE = "close"
    OPEN = "open"
    # from the peer, on the candidate transport
    PROBE = "probe"  # PING "probe" (server role) / PONG "probe" (client role)
    UPGRADE = "upgrade"
    # a packet that never belongs where it came (UPGRADE on the primary, a MESSAGE on a
    # transport that is not upgraded yet): in no table, so always refused
    STRAY = "stray packet"
    # from us
    SEND = "send"
    SEND_PING = "send ping"
    ATTACH_CANDIDATE = "attach candidate"  # server: a WebSocket opened with this sid
    START_UPGRADE = "start upgrade"  # client: send the probe on a new transport
    FINISH_UPGRADE = "finish upgrade"  # client: the old transport is paused; send UPGRADE
    DROP_CANDIDATE = "drop candidate"  # the candidate transport went away
    LOCAL_CLOSE = "local close"
    EXPIRE = "expire"  # a heartbeat deadline passed

    # Members are singletons: identity hashing is exact, and a C-level hash makes the
    # tables' lookups (every packet does two) five times cheaper than Enum's default.
    __hash__ = object.__hash__


_S = EngineState
_I = EngineInput

_SERVER_PRIMARY: dict[EngineInput, EngineState | None] = {
    # None: stay in the current state
    _I.MESSAGE: None,
    _I.PONG: None,
    _I.NOOP: None,
    _I.CLOSE: _S.CLOSED,
}

ENGINE_SERVER_REMOTE: dict[EngineState, dict[EngineInput, EngineState | None]] = {
    _S.OPEN: dict(_SERVER_PRIMARY),
    _S.UPGRADING: {**_SERVER_PRIMARY, _I.PROBE: _S.PROBED},
    _S.PROBED: {**_SERVER_PRIMARY, _I.UPGRADE: _S.OPEN},
    _S.CLOSED: {},
}

_SERVER_ALWAYS: dict[EngineInput, EngineState | None] = {
    _I.SEND: None,
    _I.SEND_PING: None,
    _I.EXPIRE: None,
    _I.LOCAL_CLOSE: _S.CLOSED,
}

ENGINE_SERVER_LOCAL: dict[EngineState, dict[EngineInput, EngineState | None]] = {
    _S.OPEN: {**_SERVER_ALWAYS, _I.ATTACH_CANDIDATE: _S.UPGRADING},
    _S.UPGRADING: {**_SERVER_ALWAYS, _I.DROP_CANDIDATE: _S.OPEN},
    _S.PROBED: {**_SERVER_ALWAYS, _I.DROP_CANDIDATE: _S.OPEN},
    # closing twice, or a deadline firing after the close, is harmless
    _S.CLOSED: {_I.LOCAL_CLOSE: None, _I.EXPIRE: None, _I.DROP_CANDIDATE: None},
}

_CLIENT_PRIMARY: dict[EngineInput, EngineState | None] = {
    _I.MESSAGE: None,
    _I.PING: None,
    _I.NOOP: None,
    _I.CLOSE: _S.CLOSED,
}

ENGINE_CLIENT_REMOTE: dict[EngineState, dict[EngineInput, EngineState | None]] = {
    _S.OPENING: {_I.OPEN: _S.OPEN, _I.CLOSE: _S.CLOSED},
    _S.OPEN: dict(_CLIENT_PRIMARY),
    _S.UPGRADING: {**_CLIENT_PRIMARY, _I.PROBE: _S.PROBED},
    _S.PROBED: dict(_CLIENT_PRIMARY),
    _S.CLOSED: {},
}

ENGINE_CLIENT_LOCAL: dict[EngineState, dict[EngineInput, EngineState | None]] = {
    _S.OPENING: {_I.LOCAL_CLOSE: _S.CLOSED, _I.EXPIRE: None},
    _S.OPEN: {
        _I.SEND: None,
        _I.START_UPGRADE: _S.UPGRADING,
        _I.LOCAL_CLOSE: _S.CLOSED,
        _I.EXPIRE: None,
    },
    _S.UPGRADING: {
        _I.SEND: None,
        _I.DROP_CANDIDATE: _S.OPEN,
        _I.LOCAL_CLOSE: _S.CLOSED,
        _I.EXPIRE: None,
    },
    _S.PROBED: {
        _I.SEND: None,
        _I.FINISH_UPGRADE: _S.OPEN,
        _I.DROP_CANDIDATE: _S.OPEN,
        _I.LOCAL_CLOSE: _S.CLOSED,
        _I.EXPIRE: None,
    },
    _S.CLOSED: {_I.LOCAL_CLOSE: None, _I.EXPIRE: None, _I.DROP_CANDIDATE: None},
}


# ---------------------------------------------------------------- Socket.IO


class NamespaceState(enum.Enum):
    IDLE = "idle"  # not joined (never, or not any more)
    PENDING = "pending"  # server role: CONNECT received, the application has not answered
    CONNECTING = "connecting"  # client role: CONNECT sent, no answer yet
    CONNECTED = "connected"

    # Members are singletons: identity hashing is exact, and a C-level hash makes the
    # tables' lookups (every packet does two) five times cheaper than Enum's default.
    __hash__ = object.__hash__


class Effect(enum.Enum):
    """What a peer's packet does, besides the state move."""

    DELIVER = "deliver"  # an event for the driver
    IGNORE = "ignore"  # dropped silently, as socket.io does (e.g. an event after leaving)
    REFUSE = "refuse"  # answered by the session itself (a second CONNECT: "Already connected")

    # Members are singletons: identity hashing is exact, and a C-level hash makes the
    # tables' lookups (every packet does two) five times cheaper than Enum's default.
    __hash__ = object.__hash__


class SioInput(enum.Enum):
    # from the peer
    CONNECT = "connect"
    CONNECT_ERROR = "connect error"
    DISCONNECT = "disconnect"
    EVENT = "event"
    ACK = "ack"
    # from us
    ASK_CONNECT = "ask connect"  # client: send CONNECT
    ACCEPT = "accept"  # server: answer CONNECT
    REFUSE_CONNECT = "refuse connect"  # server: answer CONNECT_ERROR
    EMIT = "emit"
    SEND_ACK = "send ack"
    LEAVE = "leave"  # send DISCONNECT
    FORGET = "forget"  # the connection is gone: no packet

    # Members are singletons: identity hashing is exact, and a C-level hash makes the
    # tables' lookups (every packet does two) five times cheaper than Enum's default.
    __hash__ = object.__hash__


_N = NamespaceState
_P = SioInput
_E = Effect

Move = tuple[NamespaceState, Effect]

SIO_SERVER_REMOTE: dict[NamespaceState, dict[SioInput, Move]] = {
    _N.IDLE: {
        _P.CONNECT: (_N.PENDING, _E.DELIVER),
        _P.EVENT: (_N.IDLE, _E.IGNORE),
        _P.ACK: (_N.IDLE, _E.IGNORE),
        _P.DISCONNECT: (_N.IDLE, _E.IGNORE),
    },
    _N.PENDING: {
        _P.CONNECT: (_N.PENDING, _E.IGNORE),
        _P.EVENT: (_N.PENDING, _E.IGNORE),
        _P.ACK: (_N.PENDING, _E.IGNORE),
        _P.DISCONNECT: (_N.IDLE, _E.DELIVER),
    },
    _N.CONNECTED: {
        _P.CONNECT: (_N.CONNECTED, _E.REFUSE),
        _P.EVENT: (_N.CONNECTED, _E.DELIVER),
        _P.ACK: (_N.CONNECTED, _E.DELIVER),
        _P.DISCONNECT: (_N.IDLE, _E.DELIVER),
    },
}

SIO_SERVER_LOCAL: dict[NamespaceState, dict[SioInput, NamespaceState]] = {
    _N.IDLE: {_P.FORGET: _N.IDLE},
    _N.PENDING: {
        _P.ACCEPT: _N.CONNECTED,
        _P.REFUSE_CONNECT: _N.IDLE,
        _P.FORGET: _N.IDLE,
    },
    _N.CONNECTED: {
        _P.EMIT: _N.CONNECTED,
        _P.SEND_ACK: _N.CONNECTED,
        _P.LEAVE: _N.IDLE,
        _P.FORGET: _N.IDLE,
    },
}

SIO_CLIENT_REMOTE: dict[NamespaceState, dict[SioInput, Move]] = {
    _N.IDLE: {
        _P.EVENT: (_N.IDLE, _E.IGNORE),
        _P.ACK: (_N.IDLE, _E.IGNORE),
        _P.DISCONNECT: (_N.IDLE, _E.IGNORE),
        _P.CONNECT_ERROR: (_N.IDLE, _E.IGNORE),
    },
    _N.CONNECTING: {
        _P.CONNECT: (_N.CONNECTED, _E.DELIVER),
        _P.CONNECT_ERROR: (_N.IDLE, _E.DELIVER),
        # a recovering server replays missed packets *before* its CONNECT answer
        _P.EVENT: (_N.CONNECTING, _E.DELIVER),
        _P.ACK: (_N.CONNECTING, _E.IGNORE),
        _P.DISCONNECT: (_N.IDLE, _E.DELIVER),
    },
    _N.CONNECTED: {
        _P.EVENT: (_N.CONNECTED, _E.DELIVER),
        _P.ACK: (_N.CONNECTED, _E.DELIVER),
        _P.DISCONNECT: (_N.IDLE, _E.DELIVER),
    },
}

SIO_CLIENT_LOCAL: dict[NamespaceState, dict[SioInput, NamespaceState]] = {
    _N.IDLE: {_P.ASK_CONNECT: _N.CONNECTING, _P.FORGET: _N.IDLE},
    _N.CONNECTING: {_P.LEAVE: _N.IDLE, _P.FORGET: _N.IDLE},
    _N.CONNECTED: {
        _P.EMIT: _N.CONNECTED,
        _P.SEND_ACK: _N.CONNECTED,
        _P.LEAVE: _N.IDLE,
        _P.FORGET: _N.IDLE,
    },
}


# ---------------------------------------------------------------- lookup

_State = TypeVar("_State", bound=enum.Enum)
_Input = TypeVar("_Input", bound=enum.Enum)
_Move = TypeVar("_Move")


def step(
    table: Mapping[_State, Mapping[_Input, _Move]],
    state: _State,
    move: _Input,
    *,
    remote: bool,
    what: object = "",
) -> _Move:
    """The move `table` allows for `move` in `state`, or the one error a session raises."""
    row = table[state]
    if move not in row:
        where = f" ({what})" if what else ""
        message = f"{move.value} is not allowed in state {state.value}{where}"
        if remote:
            raise RemoteProtocolError(message)
        raise LocalProtocolError(message)
    return row[move]
