"""Socket.IO connections, both roles, wired together with Engine.IO payloads only."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocol.errors import LocalProtocolError, RemoteProtocolError
from server.protocol.events import (
    AckReceived,
    Connected,
    ConnectRefused,
    ConnectRequested,
    Disconnected,
    EventReceived,
)
from server.protocol.socketio_session import SocketIOClientConnection, SocketIOServerConnection
from server.protocol.states import NamespaceState

NS = "/api/socket"


def deliver(to: SocketIOClientConnection | SocketIOServerConnection, payloads: list[Any]) -> Any:
    """Feed every payload; return the last event (binary attachments complete on the last)."""
    event = None
    for payload in payloads:
        event = to.receive(payload)
    return event


def joined(namespace: str = "/") -> tuple[SocketIOServerConnection, SocketIOClientConnection]:
    server = SocketIOServerConnection(opened_at=0.0, connect_timeout=45.0)
    client = SocketIOClientConnection()
    request = deliver(server, client.connect(namespace, {"token": "t"}))
    assert request == ConnectRequested(namespace, {"token": "t"})
    assert deliver(client, server.accept(namespace, "s1")) == Connected(namespace, "s1")
    return server, client


def test_connect_to_a_custom_namespace_uses_its_prefix() -> None:
    client = SocketIOClientConnection()
    assert client.connect(NS) == ["0/api/socket,"]
    server = SocketIOServerConnection(0.0, 45.0)
    assert deliver(server, ["0/api/socket,"]) == ConnectRequested(NS, None)
    answer = server.accept(NS, "abc", pid="p1")
    assert answer == ['0/api/socket,{"sid":"abc","pid":"p1"}']
    assert deliver(client, answer) == Connected(NS, "abc", "p1")


def test_an_event_with_an_ack_is_answered_exactly_once() -> None:
    server, client = joined()
    ack_id, payloads = client.emit("/", "hello", [1, "two"], want_ack=True)
    assert (ack_id, payloads) == (0, ['20["hello",1,"two"]'])
    assert deliver(server, payloads) == EventReceived("/", "hello", [1, "two"], 0)
    reply = server.ack("/", 0, [{"ok": True}])
    assert reply == ['30[{"ok":true}]']
    with pytest.raises(LocalProtocolError):
        server.ack("/", 0, [{"ok": True}])  # answered twice: our bug
    assert deliver(client, reply) == AckReceived("/", 0, [{"ok": True}])
    assert deliver(client, reply) is None  # a duplicate or unknown ack is dropped


def test_server_to_client_acks_and_late_answers() -> None:
    server, client = joined()
    ack_id, payloads = server.emit("/", "rtt-probe", [{"ts": 1}], want_ack=True)
    assert ack_id == 0
    assert deliver(client, payloads) == EventReceived("/", "rtt-probe", [{"ts": 1}], 0)
    answer = client.ack("/", 0, ["pong"])
    server.forget_ack("/", 0)  # the server gave up waiting
    assert deliver(server, answer) is None


def test_binary_attachments_are_reassembled() -> None:
    server, client = joined(NS)
    _, payloads = client.emit(NS, "file", [{"name": "a", "data": b"\x00\x01"}, b"\xff"])
    assert isinstance(payloads[0], str) and payloads[0].startswith("52-/api/socket,")
    assert payloads[1:] == [b"\x00\x01", b"\xff"]
    assert deliver(server, payloads) == EventReceived(
        NS, "file", [{"name": "a", "data": b"\x00\x01"}, b"\xff"], None
    )


def test_events_for_a_namespace_not_joined_are_dropped() -> None:
    server, client = joined("/")
    assert server.receive('2/other,["x"]') is None
    assert client.receive('2/other,["x"]') is None  # the fast path defers to the table


def test_a_second_connect_is_refused_by_the_session_itself() -> None:
    server, _ = joined()
    assert deliver(server, ["0"]) is None
    assert server.data_to_send() == ['4{"message":"Already connected"}']
    assert server.state("/") is NamespaceState.CONNECTED


def test_a_refused_connect_leaves_the_namespace_idle() -> None:
    server = SocketIOServerConnection(0.0, 45.0)
    client = SocketIOClientConnection()
    deliver(server, client.connect(NS))
    refusal = server.refuse(NS, {"message": "no", "data": {"code": "unauthorized"}})
    assert deliver(client, refusal) == ConnectRefused(
        NS, {"message": "no", "data": {"code": "unauthorized"}}
    )
    assert client.state(NS) is NamespaceState.IDLE
    with pytest.raises(LocalProtocolError):
        client.emit(NS, "x", [])
    with pytest.raises(LocalProtocolError):
        server.emit(NS, "x", [])


def test_leaving_a_namespace_from_either_side() -> None:
    server, client = joined()
    assert deliver(server, client.leave("/")) == Disconnected("/", by_peer=True)
    assert server.receive('2["late"]') is None
    server2, client2 = joined(NS)
    assert deliver(client2, server2.leave(NS)) == Disconnected(NS, by_peer=True)
    assert client2.receive('2/api/socket,["late"]') is None


def test_the_connect_deadline_counts_from_the_handshake() -> None:
    server = SocketIOServerConnection(opened_at=10.0, connect_timeout=5.0)
    assert server.connect_deadline == 15.0
    assert not server.expire(14.9)
    assert server.expire(15.0)
    assert not server.expire(16.0)  # once
    joined_server, _ = joined()
    assert not joined_server.expire(100.0)


def test_events_before_the_connect_answer_are_delivered_for_recovery() -> None:
    client = SocketIOClientConnection()
    client.connect("/")
    assert client.receive('2["missed",1]') == EventReceived("/", "missed", [1], None)
    assert client.receive('0{"sid":"s","pid":"p"}') == Connected("/", "s", "p")


@pytest.mark.parametrize(
    "payload",
    [
        '4{"message":"x"}',  # CONNECT_ERROR comes from servers only
        "9",  # unknown packet type
        "2{}",  # an EVENT must be a list
        '2abc["x"]',  # a bad ack id is bad JSON
    ],
)
def test_garbage_from_a_client_is_a_remote_error(payload: str) -> None:
    server, _ = joined()
    with pytest.raises(RemoteProtocolError):
        server.receive(payload)


def test_a_connect_answer_without_sid_is_refused() -> None:
    client = SocketIOClientConnection()
    client.connect("/")
    with pytest.raises(RemoteProtocolError):
        client.receive("0{}")
    assert client.state("/") is NamespaceState.IDLE


def test_forget_all_reports_what_was_connected() -> None:
    server, _ = joined()
    deliver(server, ["0/api/socket,"])
    assert server.forget_all() == ["/"]
    assert server.namespaces == {}


def test_the_client_fast_path_and_the_general_decoder_agree() -> None:
    _, client = joined(NS)
    fast = client.receive('2/api/socket,["m",{"a":[1,2]}]')
    assert fast == EventReceived(NS, "m", [{"a": [1, 2]}], None)
    general = client.receive('2/api/socket,7["m",{"a":[1,2]}]')
    assert general == EventReceived(NS, "m", [{"a": [1, 2]}], 7)
    assert client.owes(NS, 7)
