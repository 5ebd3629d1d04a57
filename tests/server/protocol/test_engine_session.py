"""Engine.IO sessions, both roles, driven with packets only (no socket, no clock)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.protocol.engine_session import EngineClientSession, EngineServerSession
from server.protocol.engineio import Handshake, Packet, PacketType, decode_packet
from server.protocol.errors import LocalProtocolError, RemoteProtocolError
from server.protocol.events import (
    Channel,
    CloseReason,
    EngineClosed,
    EngineOpened,
    MessageReceived,
    PingReceived,
    PongReceived,
    Upgraded,
    UpgradeProbed,
)
from server.protocol.states import EngineState

P, C = Channel.PRIMARY, Channel.CANDIDATE


def handshake(upgrades: tuple[str, ...] = ("websocket",)) -> Handshake:
    return Handshake("sid-1", upgrades, 25_000, 20_000, 1_000_000)


def opened(transport: str = "polling") -> tuple[EngineServerSession, EngineClientSession]:
    """A server session and a client session that has read its OPEN packet."""
    upgrades = ("websocket",) if transport == "polling" else ()
    server = EngineServerSession(handshake(upgrades), transport, now=0.0)
    client = EngineClientSession(transport)
    events = client.receive(decode_packet(server.open_packet()), now=0.0)
    assert events == [EngineOpened("sid-1", upgrades, 25.0, 20.0, 1_000_000)]
    return server, client


def test_the_open_packet_is_the_handshake() -> None:
    server = EngineServerSession(handshake(), "polling", now=0.0)
    text = server.open_packet()
    assert text.startswith("0{")
    assert Handshake.parse(text[1:]) == handshake()


def test_messages_flow_both_ways_with_the_message_prefix_added_once() -> None:
    server, client = opened()
    wire = client.send_message('2["hi"]')
    assert wire == '42["hi"]'
    assert server.receive(decode_packet(wire)) == [MessageReceived('2["hi"]')]
    back = server.send_message(b"\x01\x02")
    assert back == b"\x01\x02"  # binary travels raw on a WebSocket
    assert client.receive(decode_packet(back), now=1.0) == [MessageReceived(b"\x01\x02")]


def test_ping_is_answered_by_the_client_and_clears_the_deadline() -> None:
    server, client = opened()
    ping = server.ping(now=25.0)
    assert server.pong_deadline == 45.0
    assert client.receive(decode_packet(ping), now=25.0) == [PingReceived()]
    [(channel, pong)] = client.data_to_send()
    assert (channel, pong) == (P, "3")
    assert server.receive(decode_packet(pong)) == [PongReceived()]
    assert server.pong_deadline is None
    assert server.expire(now=100.0) == []


def test_an_unanswered_ping_times_the_session_out_from_the_first_ping() -> None:
    server, _ = opened()
    server.ping(now=25.0)
    server.ping(now=50.0)  # still unanswered: the deadline stays 45 s
    assert server.expire(now=44.9) == []
    assert server.expire(now=45.0) == [EngineClosed(CloseReason.PING_TIMEOUT)]
    assert server.closed
    assert server.expire(now=99.0) == []  # a stale deadline after the close is harmless
    with pytest.raises(LocalProtocolError):
        server.send_message("2[]")


def test_the_client_gives_up_on_a_silent_server() -> None:
    _, client = opened()
    assert client.ping_deadline == 45.0
    assert client.expire(now=44.0) == []
    assert client.expire(now=45.0) == [EngineClosed(CloseReason.PING_TIMEOUT)]


def test_a_client_close_ends_the_server_session() -> None:
    server, client = opened()
    writes, events = client.close()
    assert writes == [(P, "1")] and events == [EngineClosed(CloseReason.CLIENT_CLOSE)]
    assert server.receive(decode_packet("1")) == [EngineClosed(CloseReason.CLIENT_CLOSE)]
    assert server.close() == []  # closing again: nothing more happens


def test_upgrade_from_polling_to_websocket_step_by_step() -> None:
    server, client = opened("polling")
    assert server.upgradable
    server.attach_candidate("websocket")
    assert server.state is EngineState.UPGRADING and not server.upgradable
    channel, probe = client.start_upgrade("websocket")
    assert (channel, probe) == (C, "2probe")
    assert server.receive(decode_packet(probe), C) == [UpgradeProbed()]
    assert server.data_to_send() == [(C, "3probe")]
    # messages keep flowing on the primary while the upgrade is under way
    assert server.receive(decode_packet("4x")) == [MessageReceived("x")]
    assert client.receive(decode_packet("3probe"), now=1.0, channel=C) == [UpgradeProbed()]
    (channel, upgrade), events = client.finish_upgrade()
    assert events == [Upgraded("websocket")] and (channel, upgrade) == (C, "5")
    assert server.receive(decode_packet(upgrade), C) == [Upgraded("websocket")]
    assert server.transport == "websocket" and server.state is EngineState.OPEN
    assert not server.upgradable
    with pytest.raises(LocalProtocolError):
        server.attach_candidate("websocket")  # an upgraded session upgrades no more


def test_a_dropped_candidate_lets_the_client_try_again() -> None:
    server, _ = opened("polling")
    server.attach_candidate("websocket")
    assert server.transport_lost(C) == []
    assert server.state is EngineState.OPEN and server.upgradable
    server.attach_candidate("websocket")
    assert server.state is EngineState.UPGRADING


def test_a_websocket_session_cannot_be_upgraded() -> None:
    server, _ = opened("websocket")
    assert not server.upgradable
    with pytest.raises(LocalProtocolError):
        server.attach_candidate("websocket")


def test_losing_the_primary_transport_closes_the_session() -> None:
    server, _ = opened()
    assert server.transport_lost(P, "reset") == [EngineClosed(CloseReason.TRANSPORT_CLOSE, "reset")]


@pytest.mark.parametrize(
    ("packet", "channel", "attach"),
    [
        ("4hello", C, True),  # a message on a transport that is not upgraded yet
        ("5", P, False),  # UPGRADE on the primary
        ("2", P, False),  # a client never pings in Engine.IO v4
        ("0{}", P, False),  # OPEN comes from the server only
        ("2probe", C, True),
    ],
)
def test_illegal_moves_of_the_peer_raise_where_they_happen_and_close(
    packet: str, channel: Channel, attach: bool
) -> None:
    server, _ = opened("polling")
    if attach:
        server.attach_candidate("websocket")
    if packet == "2probe":  # a second probe after the first was answered
        server.receive(decode_packet(packet), channel)
    with pytest.raises(RemoteProtocolError):
        server.receive(decode_packet(packet), channel)
    assert server.closed and server.close_reason is CloseReason.PROTOCOL_ERROR


def test_the_client_refuses_a_server_that_does_not_open_first() -> None:
    client = EngineClientSession("websocket")
    with pytest.raises(RemoteProtocolError):
        client.receive(decode_packet("4hello"), now=0.0)
    assert client.closed
    bad = EngineClientSession("websocket")
    with pytest.raises(RemoteProtocolError):
        bad.receive(decode_packet('0{"upgrades":[]}'), now=0.0)  # no sid


def test_the_client_cannot_upgrade_to_what_the_server_does_not_offer() -> None:
    _, client = opened("websocket")
    with pytest.raises(LocalProtocolError):
        client.start_upgrade("websocket")


_PACKETS = st.sampled_from(
    [Packet(t, d) for t in PacketType for d in ("", "probe", "x")]
    + [Packet(PacketType.MESSAGE, b"\x00")]
)


@given(st.lists(st.tuples(_PACKETS, st.sampled_from(list(Channel))), max_size=12))
def test_whatever_the_peer_sends_only_remote_errors_come_out(
    moves: list[tuple[Packet, Channel]],
) -> None:
    server = EngineServerSession(handshake(), "polling", now=0.0)
    server.attach_candidate("websocket")
    for packet, channel in moves:
        if server.closed:
            break
        if channel is C and server.candidate is None:
            continue  # the driver feeds the candidate channel only while one is attached
        try:
            server.receive(packet, channel)
        except RemoteProtocolError:
            assert server.closed
            break
