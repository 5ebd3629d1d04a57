"""Presence across tabs, `away` from the client, and offline on a missed heartbeat.

The server runs with a short heartbeat (`--ping-interval 0.2 --ping-timeout
0.3`), so a silent client is gone within half a second; well-behaved clients
(python-socketio answers every ping) must survive many heartbeat rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from tests.e2e.sio_peer import WAIT
from tests.e2e.sio_peer import SioPeer as Peer

PING = ("--ping-interval", "0.2", "--ping-timeout", "0.3")
# A silent client must be declared gone within interval + timeout; allow generous slack.
HEARTBEAT_BOUND_S = 3.0
ROOM = "presence"


@pytest.fixture
def server(server_factory) -> Any:
    return server_factory(*PING)


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(*args: Any, **kwargs: Any) -> Peer:
        peer = Peer(*args, **kwargs)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def by_id(users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in users}


def test_user_stays_online_while_any_tab_is_open(server, peers) -> None:
    tab1 = peers(server.url, "alice")
    tab2 = peers(server.url, "alice")
    assert tab1.call("join-room", ROOM, "alice")["ok"] is True
    assert tab2.call("join-room", ROOM, "alice")["ok"] is True
    watcher = peers(server.url, "bob")
    joined = watcher.call("join-room", ROOM, "bob")
    assert by_id(joined["users"])["alice"]["status"] == "online"
    assert sorted(by_id(joined["users"])) == ["alice", "bob"]  # one entry for two tabs

    tab1.close()
    time.sleep(1.0)  # five heartbeat rounds: nothing may announce alice as gone
    offline = [p for p in watcher.drain("presence-update") if p.get("status") == "offline"]
    assert tab2.client.connected and tab2.disconnects == 0, "the second tab was dropped"
    assert offline == []
    assert watcher.drain("user-left") == []
    fresh = peers(server.url, "carol")
    users = by_id(fresh.call("join-room", ROOM, "carol")["users"])
    assert users["alice"]["status"] == "online"
    assert sorted(users) == ["alice", "bob", "carol"]

    closed_at = time.monotonic()
    tab2.close()
    at, update = watcher.wait_for_at("presence-update", lambda p: p["userId"] == "alice")
    assert update["status"] == "offline"
    assert isinstance(update["lastSeen"], int)
    assert abs(update["lastSeen"] / 1000 - time.time()) < 10
    assert at - closed_at < HEARTBEAT_BOUND_S
    left = watcher.wait_for("user-left", lambda p: p["userId"] == "alice")
    assert sorted(by_id(left["users"])) == ["bob", "carol"]
    left_at_carol = fresh.wait_for("user-left", lambda p: p["userId"] == "alice")
    assert sorted(by_id(left_at_carol["users"])) == ["bob", "carol"]
    # the watchers themselves survived every heartbeat round
    assert watcher.client.connected and watcher.disconnects == 0
    assert fresh.client.connected and fresh.disconnects == 0


def test_away_reaches_the_room_but_not_the_sender(server, peers) -> None:
    alice = peers(server.url, "alice")
    bob = peers(server.url, "bob")
    assert alice.call("join-room", ROOM, "alice")["ok"] is True
    assert bob.call("join-room", ROOM, "bob")["ok"] is True

    reply = alice.call("presence-update", {"roomId": ROOM, "userId": "alice", "status": "away"})
    assert reply["ok"] is True
    update = bob.wait_for("presence-update")
    assert update["userId"] == "alice" and update["status"] == "away"
    assert isinstance(update["lastSeen"], int)
    time.sleep(0.3)
    assert alice.drain("presence-update") == []

    carol = peers(server.url, "carol")
    users = by_id(carol.call("join-room", ROOM, "carol")["users"])
    assert users["alice"]["status"] == "away"
    assert users["bob"]["status"] == "online"

    assert alice.call("presence-update", {"roomId": ROOM, "userId": "alice", "status": "online"})[
        "ok"
    ]
    back = bob.wait_for("presence-update", lambda p: p["status"] == "online")
    assert back["userId"] == "alice"

    bad = alice.call("presence-update", {"roomId": ROOM, "userId": "alice", "status": "asleep"})
    assert bad["ok"] is False and bad["error"]["code"] == "bad_request"
    spoof = alice.call("presence-update", {"roomId": ROOM, "userId": "bob", "status": "away"})
    assert spoof["ok"] is False and spoof["error"]["code"] == "forbidden"


def test_missed_heartbeat_marks_user_offline(server, peers) -> None:
    watcher = peers(server.url, "bob")
    assert watcher.call("join-room", ROOM, "bob")["ok"] is True

    ghost = websocket.create_connection(
        server.ws_url + "/socket.io/?EIO=4&transport=websocket", timeout=WAIT
    )
    try:
        opening = json.loads(ghost.recv()[1:])
        assert opening["pingInterval"] == 200 and opening["pingTimeout"] == 300
        ghost.send("40/api/socket,")
        ghost.send('42/api/socket,0["join-room","presence","ghost"]')
        # read (and answer pings) until the join ack, then go silent
        deadline = time.monotonic() + WAIT
        while True:
            assert time.monotonic() < deadline, "no join-room ack for the raw client"
            packet = ghost.recv()
            assert isinstance(packet, str), packet
            if packet == "2":
                ghost.send("3")
            elif packet.startswith("43/api/socket,0["):
                assert json.loads(packet[len("43/api/socket,0") :])[0]["ok"] is True
                break
        joined = watcher.wait_for("user-joined", lambda p: p["userId"] == "ghost")
        assert by_id(joined["users"])["ghost"]["status"] == "online"
        silent_since = time.monotonic()

        at_left, left = watcher.wait_for_at(
            "user-left", lambda p: p["userId"] == "ghost", timeout=HEARTBEAT_BOUND_S + 1
        )
        assert sorted(by_id(left["users"])) == ["bob"]
        at_off, update = watcher.wait_for_at(
            "presence-update", lambda p: p["userId"] == "ghost", timeout=1
        )
        assert update["status"] == "offline"
        assert isinstance(update["lastSeen"], int)
        assert at_left - silent_since < HEARTBEAT_BOUND_S
        assert at_off - silent_since < HEARTBEAT_BOUND_S
        # and not before it missed a heartbeat: interval 0.2 s + timeout 0.3 s
        assert max(at_left, at_off) - silent_since > 0.2

        # the server closed the silent connection (queued pings may come first)
        ghost.settimeout(2)
        closed = False
        try:
            while not closed:
                closed = ghost.recv() == ""
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            closed = True
        except websocket.WebSocketTimeoutException:
            pass
        assert closed, "the server kept the silent connection open"
    finally:
        ghost.shutdown()
    # bob was never dropped by the same heartbeat
    assert watcher.client.connected and watcher.disconnects == 0
    users = by_id(watcher.call("join-room", "presence-2", "bob")["users"])
    assert list(users) == ["bob"]


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
def test_well_behaved_clients_survive_heartbeats(server, peers, transports) -> None:
    """python-socketio answers every ping: 2 s of 0.2 s heartbeats must not drop it.

    Over polling each ping ends a long-poll and the client's next GET reuses its
    keep-alive HTTP connection, so this also needs the server to keep (or
    properly close, with `Connection: close`) its HTTP/1.1 connections.
    """
    alice = peers(server.url, "alice", transports)
    assert alice.call("join-room", ROOM, "alice")["ok"] is True
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert alice.client.connected and alice.disconnects == 0, "dropped during heartbeats"
        time.sleep(0.05)
    assert alice.call("join-room", "still-here", "alice")["ok"] is True
