"""Socket.IO v5 connections without I/O: the namespace conversation of one Engine.IO session.

Over one Engine.IO session a client joins namespaces (CONNECT, answered by
CONNECT with the socket's id, or CONNECT_ERROR), exchanges EVENTs and ACKs
in each, and leaves (DISCONNECT). Each namespace has its own state
(`server.protocol.states.NamespaceState`); the tables there say what the
peer and we may do in each.

The driver feeds `receive(message)` every Engine.IO MESSAGE payload in
order (binary attachments are reassembled here) and gets at most one typed
event back; it calls `accept`, `refuse`, `emit`, `ack`, `leave` and gets the
Engine.IO MESSAGE payloads to send, in order. Ack ids are checked both ways:
the server answers each ack request once, and an ACK the client sends for
an id we never asked (or that already came) is dropped, as socket.io does.

The server's broadcast path does not come through here per recipient: a
broadcast's packet is encoded once (`server.protocol.socketio.encode_event_text`)
for every socket the hub knows to be connected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.protocol.errors import LocalProtocolError, RemoteProtocolError
from server.protocol.events import (
    AckReceived,
    Connected,
    ConnectRefused,
    ConnectRequested,
    Disconnected,
    EventReceived,
    SocketIOEvent,
)
from server.protocol.socketio import (
    DEFAULT_NAMESPACE,
    SioDecoder,
    SioPacket,
    SioType,
    encode,
    encode_event_text,
    loads,
)
from server.protocol.states import (
    SIO_CLIENT_LOCAL,
    SIO_CLIENT_REMOTE,
    SIO_SERVER_LOCAL,
    SIO_SERVER_REMOTE,
    Effect,
    Move,
    NamespaceState,
    SioInput,
    step,
)

# Enum members read on the per-packet paths, bound once: on Python 3.11 reading an
# Enum member off its class costs about 0.16 µs, several times the comparison itself.
_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR = (
    SioType.CONNECT,
    SioType.DISCONNECT,
    SioType.EVENT,
    SioType.ACK,
    SioType.CONNECT_ERROR,
)
_IGNORE, _REFUSE = Effect.IGNORE, Effect.REFUSE
_IDLE, _CONNECTED = NamespaceState.IDLE, NamespaceState.CONNECTED

Payload = str | bytes

_INPUT = {
    _CONNECT: SioInput.CONNECT,
    _CONNECT_ERROR: SioInput.CONNECT_ERROR,
    _DISCONNECT: SioInput.DISCONNECT,
    _EVENT: SioInput.EVENT,
    _ACK: SioInput.ACK,
}

ALREADY_CONNECTED = {"message": "Already connected"}
INVALID_NAMESPACE = {"message": "Invalid namespace"}


def _packet_payloads(packet: SioPacket) -> list[Payload]:
    return list(encode(packet))


class _Connection:
    """What both roles share: namespace states, the decoder, ack bookkeeping."""

    __slots__ = ("_asked", "_decoder", "_next_ack", "_owed", "_writes", "namespaces")

    _remote: Mapping[NamespaceState, Mapping[SioInput, Move]]
    _local: Mapping[NamespaceState, Mapping[SioInput, NamespaceState]]

    def __init__(self) -> None:
        self.namespaces: dict[str, NamespaceState] = {}
        self._decoder = SioDecoder()
        self._next_ack = 0
        # ack ids we asked the peer for, per namespace; ack ids the peer asked us for
        self._asked: dict[str, set[int]] = {}
        self._owed: set[tuple[str, int]] = set()
        self._writes: list[Payload] = []

    def data_to_send(self) -> list[Payload]:
        """Payloads the protocol sent by itself (a refused second CONNECT), in order."""
        writes, self._writes = self._writes, []
        return writes

    def state(self, namespace: str) -> NamespaceState:
        return self.namespaces.get(namespace, _IDLE)

    @property
    def connected(self) -> list[str]:
        return [ns for ns, s in self.namespaces.items() if s is _CONNECTED]

    # -------------------------------------------------------------- moves
    def _remote_move(self, packet: SioPacket) -> Effect:
        move = _INPUT.get(packet.type)
        if move is None:  # BINARY_* never leave the decoder; nothing else exists
            raise RemoteProtocolError(f"unexpected {packet.type.name} packet")
        target, effect = step(
            self._remote, self.state(packet.namespace), move, remote=True, what=packet.namespace
        )
        self._set(packet.namespace, target)
        return effect

    def _local_move(self, namespace: str, move: SioInput) -> None:
        target = step(self._local, self.state(namespace), move, remote=False, what=namespace)
        self._set(namespace, target)

    def _set(self, namespace: str, state: NamespaceState) -> None:
        if state is _IDLE:
            if self.namespaces.pop(namespace, None) is not None:
                self._asked.pop(namespace, None)
                self._owed = {o for o in self._owed if o[0] != namespace}
        else:
            self.namespaces[namespace] = state

    # ---------------------------------------------------------- receiving
    def _event(self, packet: SioPacket) -> EventReceived:
        if packet.id is not None:
            self._owed.add((packet.namespace, packet.id))
        data = packet.data
        return EventReceived(packet.namespace, data[0], data[1:], packet.id)

    def _ack(self, packet: SioPacket) -> AckReceived | None:
        assert packet.id is not None
        asked = self._asked.get(packet.namespace)
        if asked is None or packet.id not in asked:
            return None  # late (we gave up on it) or never asked: dropped, as socket.io does
        asked.discard(packet.id)
        return AckReceived(packet.namespace, packet.id, packet.data)

    # ------------------------------------------------------------- sending
    def emit(
        self,
        namespace: str,
        event: str,
        args: list[Any] | tuple[Any, ...],
        *,
        want_ack: bool = False,
    ) -> tuple[int | None, list[Payload]]:
        """An EVENT; with `want_ack`, also the ack id the answer will carry."""
        self._local_move(namespace, SioInput.EMIT)
        ack_id: int | None = None
        if want_ack:
            ack_id = self._next_ack
            self._next_ack += 1
            self._asked.setdefault(namespace, set()).add(ack_id)
        try:
            return ack_id, [encode_event_text(namespace, event, args, ack_id)]
        except LocalProtocolError:
            # bytes somewhere in the arguments: a BINARY_EVENT with attachments
            packet = SioPacket(_EVENT, namespace, [event, *args], ack_id)
            return ack_id, _packet_payloads(packet)

    def forget_ack(self, namespace: str, ack_id: int) -> None:
        """We stopped waiting for an answer (a timeout): a late ACK is then dropped."""
        asked = self._asked.get(namespace)
        if asked is not None:
            asked.discard(ack_id)

    def ack(self, namespace: str, ack_id: int, args: list[Any]) -> list[Payload]:
        """The answer to an ack request the peer made; each is answered at most once."""
        self._local_move(namespace, SioInput.SEND_ACK)
        key = (namespace, ack_id)
        if key not in self._owed:
            raise LocalProtocolError(f"no ack {ack_id} is owed in {namespace}")
        payloads = _packet_payloads(SioPacket(_ACK, namespace, args, ack_id))
        self._owed.discard(key)
        return payloads

    def owes(self, namespace: str, ack_id: int) -> bool:
        return (namespace, ack_id) in self._owed

    def leave(self, namespace: str) -> list[Payload]:
        """A DISCONNECT: we end this namespace."""
        self._local_move(namespace, SioInput.LEAVE)
        return _packet_payloads(SioPacket(_DISCONNECT, namespace))

    def forget(self, namespace: str) -> None:
        """A namespace ended without a packet (the connection is going away)."""
        self._local_move(namespace, SioInput.FORGET)

    def forget_all(self) -> list[str]:
        """The Engine.IO session ended: every namespace is gone (no packet). Returns those
        that were connected, for the driver's cleanup."""
        gone = self.connected
        for namespace in list(self.namespaces):
            self._local_move(namespace, SioInput.FORGET)
        return gone


class SocketIOServerConnection(_Connection):
    """The server's side: namespace CONNECTs to answer, events to handle, acks to send.

    `connect_deadline`: socket.io closes an Engine.IO session whose client
    has joined no namespace `connect_timeout` seconds after the handshake;
    `expire(now)` tells the driver when that moment has come.
    """

    __slots__ = ("_expired", "connect_deadline")

    _remote = SIO_SERVER_REMOTE
    _local = SIO_SERVER_LOCAL

    def __init__(self, opened_at: float, connect_timeout: float) -> None:
        super().__init__()
        self.connect_deadline = opened_at + connect_timeout
        self._expired = False

    def receive(self, message: Payload) -> SocketIOEvent | None:
        packet = self._decoder.feed(message)
        if packet is None:
            return None  # binary attachments still due
        effect = self._remote_move(packet)
        if effect is _IGNORE:
            return None
        if effect is _REFUSE:
            self._writes += _packet_payloads(
                SioPacket(_CONNECT_ERROR, packet.namespace, ALREADY_CONNECTED)
            )
            return None
        ptype = packet.type
        if ptype is _EVENT:
            return self._event(packet)
        if ptype is _ACK:
            return self._ack(packet)
        if ptype is _CONNECT:
            auth = packet.data if isinstance(packet.data, dict) else None
            return ConnectRequested(packet.namespace, auth)
        return Disconnected(packet.namespace, by_peer=True)

    def accept(self, namespace: str, sid: str, pid: str | None = None) -> list[Payload]:
        """Answer a CONNECT: the namespace is joined as socket `sid`."""
        self._local_move(namespace, SioInput.ACCEPT)
        body: dict[str, str] = {"sid": sid}
        if pid is not None:
            body["pid"] = pid
        return _packet_payloads(SioPacket(_CONNECT, namespace, body))

    def refuse(self, namespace: str, data: dict[str, Any] | str) -> list[Payload]:
        """Answer a CONNECT with CONNECT_ERROR (`{message, data?}`, as socket.io's middlewares)."""
        self._local_move(namespace, SioInput.REFUSE_CONNECT)
        return _packet_payloads(SioPacket(_CONNECT_ERROR, namespace, data))

    def expire(self, now: float) -> bool:
        """True once, at the connect deadline, if no namespace is joined: close the session."""
        if self._expired or now < self.connect_deadline:
            return False
        self._expired = True
        return not self.connected


class SocketIOClientConnection(_Connection):
    """The client's side: CONNECT to namespaces, then emit, receive and ack."""

    __slots__ = ()

    _remote = SIO_CLIENT_REMOTE
    _local = SIO_CLIENT_LOCAL

    def connect(self, namespace: str = DEFAULT_NAMESPACE, auth: Any = None) -> list[Payload]:
        """Ask to join `namespace`; `auth` is the handshake payload (an object, or None)."""
        if auth is not None and not isinstance(auth, dict):
            raise LocalProtocolError("the CONNECT auth payload must be an object")
        self._local_move(namespace, SioInput.ASK_CONNECT)
        return _packet_payloads(SioPacket(_CONNECT, namespace, auth))

    def receive(self, message: Payload) -> SocketIOEvent | None:
        fast = self._plain_event(message)
        if fast is not None:
            return fast
        packet = self._decoder.feed(message)
        if packet is None:
            return None
        effect = self._remote_move(packet)
        if effect is _IGNORE:
            return None
        ptype = packet.type
        if ptype is _EVENT:
            return self._event(packet)
        if ptype is _ACK:
            return self._ack(packet)
        if ptype is _CONNECT:
            body = packet.data
            if not isinstance(body, dict) or not isinstance(body.get("sid"), str):
                self._set(packet.namespace, _IDLE)
                raise RemoteProtocolError("the CONNECT answer carries no sid")
            pid = body.get("pid")
            return Connected(packet.namespace, body["sid"], pid if isinstance(pid, str) else None)
        if ptype is _CONNECT_ERROR:
            return ConnectRefused(packet.namespace, packet.data)
        return Disconnected(packet.namespace, by_peer=True)

    def _plain_event(self, message: Payload) -> EventReceived | None:
        """The bulk of a load generator's traffic, a plain EVENT without an ack request
        (`2[...]`, `2/ns,[...]`), decoded without the general parser's detours."""
        if not isinstance(message, str) or self._decoder.expecting_binary:
            return None
        text = message
        if text.startswith("2["):
            namespace, start = DEFAULT_NAMESPACE, 1
        elif text.startswith("2/"):
            comma = text.find(",", 2)
            if comma == -1 or text[comma + 1 : comma + 2] != "[":
                return None
            namespace, start = text[1:comma], comma + 1
        else:
            return None
        state = self.namespaces.get(namespace)
        if state is not _CONNECTED:
            return None  # the general path applies the table
        data = loads(text, start)
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise RemoteProtocolError("EVENT data must be a list starting with the event name")
        return EventReceived(namespace, data[0], data[1:], None)
