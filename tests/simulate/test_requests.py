"""The load generators' requests are the catalogue's types, and keep the tutorial's wire shapes.

Both engines build what they send from `server/catalogue.py` (the bots through
`SocketIOClient.emit_event`/`call_event`, the Locust users through their
client's twins); the `tutorial` target profile sends those same requests to
servers that are not rtlab, so the arguments on the wire must stay exactly the
tutorial's. Pure code: no server (the engines run against real servers in
tests/e2e/ and tests/test_locust.py).
"""

from __future__ import annotations

import ast
import random
from pathlib import Path
from typing import Any

import pytest
import trio

from server.catalogue import (
    CursorUpdate,
    DocumentChange,
    EventError,
    EventName,
    JoinDocument,
    JoinRoom,
    LeaveRoom,
    NotificationType,
    Notify,
    PlayerInput,
    PresenceStatus,
    PresenceUpdate,
    RtcOfferRelayed,
    SendMessage,
    SubscribeDashboard,
    Typing,
)
from simulate.catalogue import (
    NotifierParams,
    NotifyDirectory,
    RtcPeerParams,
    notification_request,
    notification_sent_at,
    offer_to_answer,
    rtc_answer,
    rtc_candidate,
    rtc_offer,
)
from simulate.client import SocketIOClient
from simulate.mapped_client import MappedSocketIOClient
from simulate.measurement import StampedCursorUpdate, chat_message
from simulate.target_profile import EventMap, probe_message
from tests.conftest import ROOT

NS = 1_700_000_000_123_456_789


def test_a_load_chat_message_is_the_tutorial_message_with_the_stamps() -> None:
    message = chat_message("room-1", "u7", 3, "hello", NS, "run-a")
    assert message.name == "send-message"
    assert message.to_args() == [
        "room-1",
        {
            "id": "u7-3",
            "n": 3,
            "userId": "u7",
            "userName": "u7",
            "text": "hello",
            "timestamp": NS // 1_000_000,
            "sentAt": NS,
            "run": "run-a",
        },
    ]
    # rtlab's edge reads it back whole: nothing the receivers measure is dropped
    assert SendMessage.parse(message.to_args()) == message


def test_the_tutorials_chat_and_editor_requests_keep_their_shapes() -> None:
    assert JoinRoom("r", "u").to_args() == ["r", "u"]
    assert LeaveRoom("r", "u").to_args() == ["r", "u"]
    assert Typing("r", "u").to_args() == ["r", "u"]
    assert JoinDocument("d", "u").to_args() == ["d", "u"]
    assert JoinDocument("d", "u", "ot").to_args() == ["d", "u", {"strategy": "ot"}]
    change = {"userId": "u", "position": 2, "insert": "ab", "sentAt": NS}
    assert DocumentChange("d", change).to_args() == ["d", change]
    cursor = CursorUpdate("d", 4, "u")
    assert cursor.to_args() == ["d", {"userId": "u", "position": 4}]
    assert probe_message("room", "p").to_args() == [
        "room",
        {"text": "probe", "id": "p-0", "userId": "p", "userName": "p"},
    ]


def test_a_stamped_cursor_carries_sent_at_only_for_relaying_servers() -> None:
    cursor = CursorUpdate("d", {"id": [1, 2]}, "u")
    stamped = StampedCursorUpdate(cursor, NS)
    assert stamped.name == EventName.CURSOR_UPDATE
    args = stamped.to_args()
    assert args == ["d", {"userId": "u", "position": {"id": [1, 2]}, "sentAt": NS}]
    assert StampedCursorUpdate.parse(args) == stamped
    assert cursor.to_args() == ["d", {"userId": "u", "position": {"id": [1, 2]}}]  # untouched
    assert CursorUpdate.parse(args) == cursor  # rtlab's edge drops the stamp
    with pytest.raises(EventError):
        StampedCursorUpdate.parse(cursor.to_args())


def test_presence_and_game_requests() -> None:
    update = PresenceUpdate("u", PresenceStatus.AWAY, room_id="r")
    assert update.to_args() == [{"userId": "u", "status": "away", "roomId": "r"}]
    move = PlayerInput("g", 5, 0.25, -1.0)
    assert move.to_args() == ["g", {"seq": 5, "input": {"dx": 0.25, "dy": -1.0}}]
    assert SubscribeDashboard("server", ack=True).to_args() == ["server", {"ack": True}]


def test_a_notification_names_one_target_and_carries_the_stamp() -> None:
    directory = NotifyDirectory()
    only_users = NotifierParams(user_weight=1, room_weight=0, all_weight=0)
    assert notification_request(only_users, random.Random(1), directory, "t", NS, 0) is None
    directory.add("u1", "room-1")
    request = notification_request(only_users, random.Random(1), directory, "t", NS, 4)
    assert request is not None and request.name == "notify"
    assert (request.user_id, request.room_id, request.everyone) == ("u1", None, False)
    assert request.type is NotificationType.INFO and request.title == "load 4"
    assert Notify.from_body(request.to_json()) == request  # the same body as POST /notify
    delivered = {"id": "n1", "type": "info", "title": request.title, "message": request.message}
    assert notification_sent_at(delivered, "t") == NS
    everyone = NotifierParams(user_weight=0, room_weight=0, all_weight=1)
    to_all = notification_request(everyone, random.Random(1), directory, "t", NS, 5)
    assert to_all is not None and to_all.to_json()["all"] is True


def test_an_offer_is_answered_to_its_sender_with_its_id() -> None:
    params = RtcPeerParams(sdp_bytes=200)
    offer = rtc_offer(random.Random(1), params, "peer-b", "u1-o0", NS, "t")
    body = offer.to_args()[0]
    assert offer.name == "rtc-offer" and set(body) == {"to", "sdp", "id", "sentAt", "run"}
    relayed = offer.relayed("peer-a").to_args()[0]
    heard = offer_to_answer(relayed, "t")
    assert heard == RtcOfferRelayed.parse([relayed])
    answer = rtc_answer(random.Random(2), params, heard, "t")
    assert answer.name == "rtc-answer"
    assert (answer.to, answer.id, answer.run, answer.sent_at) == ("peer-a", "u1-o0", "t", None)
    assert offer_to_answer(relayed, "another-run") is None
    assert offer_to_answer({**relayed, "sdp": None}, "t") is None  # not an offer: ignored
    candidate = rtc_candidate(random.Random(3), "peer-b", 2, NS, "t").to_args()[0]
    assert set(candidate) == {"to", "candidate", "sentAt", "run"}


class _Recording(MappedSocketIOClient):
    """Records what would go out (the event's wire name and arguments) instead of sending."""

    sent: list[tuple[str, tuple[Any, ...]]]

    async def _emit(self, event: str, args: tuple[Any, ...], resolve: Any) -> int | None:
        self.sent.append((event, args))
        if resolve is not None:
            resolve([{"ok": True}])
        return None


def test_the_trio_client_sends_a_typed_event_under_the_servers_name() -> None:
    client = _Recording("http://127.0.0.1:1", event_map=EventMap.parse("join-room=chat:join"))
    client.sent = []

    async def main() -> Any:
        await client.emit_event(Typing("r", "u"))
        return await client.call_event(JoinRoom("r", "u"))

    assert trio.run(main) == {"ok": True}
    assert client.sent == [("typing", ("r", "u")), ("chat:join", ("r", "u"))]
    assert isinstance(client, SocketIOClient)


# Where the bots and the Locust users name an event (`client.on(name, ...)`, `emit(name, ...)`,
# `call(name, ...)`): the names come from the catalogue. The measured helpers take typed
# requests (mypy checks those); their first argument is a metric label.
SENDERS = ("on", "emit", "call")
WIRE_NAMES = {name.value for name in EventName}


def test_the_load_generators_spell_no_event_name() -> None:
    spelled = []
    for path in sorted([*(ROOT / "simulate").glob("*.py"), *(ROOT / "locustfiles").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in SENDERS or not node.args:
                continue
            name = node.args[0]
            if isinstance(name, ast.Constant) and name.value in WIRE_NAMES:
                spelled.append(f"{Path(path).relative_to(ROOT)}:{node.lineno}")
    assert spelled == [], f"event names spelled as strings (use EventName / the types): {spelled}"
