"""The typed event catalogue: round trips, the handlers' refusals, dropped keys, limits.

The refusal cases are the argument checks the feature handlers made before the
catalogue (server/features/*.py, and the end-to-end tests that exercise them):
`parse` must refuse the same input with the same code, and the same message
where the handler had one.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import catalogue as c
from server.catalogue import (
    CLIENT_EVENTS,
    MAX_CURSOR_BYTES,
    MAX_ID_LENGTH,
    MAX_MESSAGE_BYTES,
    MAX_RUN_TAG,
    MAX_SIGNAL_BYTES,
    MAX_TEXT,
    SERVER_EVENTS,
    ChatMessage,
    ErrorCode,
    EventError,
    NotificationType,
    PresenceStatus,
    SendMessage,
)

BAD, TOO_LARGE = ErrorCode.BAD_REQUEST, ErrorCode.TOO_LARGE
# no deadline: a busy machine must not fail a test (nothing here is timed)
ROUND_TRIPS = settings(max_examples=50, deadline=None)
AGREEMENT = settings(max_examples=300, deadline=None)


def wire(args: list[Any]) -> list[Any]:
    """What the other end decodes: the arguments through JSON (tuples become lists)."""
    decoded: list[Any] = json.loads(json.dumps(args))
    return decoded


# ----------------------------------------------------------------- strategies
ids = st.text(min_size=1, max_size=MAX_ID_LENGTH)
short_text = st.text(max_size=40)
optional_ids = st.none() | ids
sent_at = (
    st.none()
    | st.integers(min_value=0, max_value=2**63 - 1)
    | st.floats(min_value=0, max_value=2e18)  # the Node benchmark driver: fractional ms
)
runs = st.none() | st.text(max_size=MAX_RUN_TAG)
finite = st.floats(allow_nan=False, allow_infinity=False)
ms = st.integers(min_value=0, max_value=2**53)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | short_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=6,
)
json_objects = st.dictionaries(short_text, json_values, max_size=5)
statuses = st.sampled_from(PresenceStatus)
kinds = st.sampled_from(NotificationType)
timestamps = st.none() | ms | finite | st.text(max_size=MAX_ID_LENGTH)
users = st.builds(c.User, ids, ids, statuses, ms)
messages = st.builds(
    ChatMessage,
    ids,
    ids,
    st.text(max_size=MAX_ID_LENGTH),
    short_text,
    timestamps,
    ms,
    sent_at,
    runs,
)
players = st.builds(c.PlayerState, finite, finite, st.integers(min_value=-1, max_value=2**31))
game_states = st.builds(c.GameState, ids, ms, ms, st.dictionaries(ids, players, max_size=3))
cursor_positions = (
    st.none() | st.integers(min_value=0) | finite | short_text | st.lists(st.integers(), max_size=3)
)
signal_payloads = json_objects | st.text(min_size=1, max_size=40)
notify = st.one_of(
    st.builds(c.Notify, user_id=ids, type=kinds, title=short_text, message=short_text),
    st.builds(c.Notify, room_id=ids, type=kinds, title=short_text, message=short_text),
    st.builds(c.Notify, everyone=st.just(True), type=kinds, title=short_text, message=short_text),
)
unit = st.floats(min_value=-1.0, max_value=1.0)


def signal(cls: type[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cls, ids, signal_payloads, optional_ids, sent_at, runs)


def relayed(cls: type[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cls, ids, signal_payloads, optional_ids, sent_at, runs, sender=ids)


CLIENT_SAMPLES: dict[type[Any], st.SearchStrategy[Any]] = {
    c.JoinRoom: st.builds(c.JoinRoom, ids, ids),
    c.LeaveRoom: st.builds(c.LeaveRoom, ids, ids),
    c.Typing: st.builds(c.Typing, ids, ids),
    SendMessage: st.builds(
        SendMessage,
        ids,
        st.text(max_size=200),
        optional_ids,
        optional_ids,
        st.none() | st.text(max_size=MAX_ID_LENGTH),
        timestamps,
        sent_at,
        runs,
    ),
    c.PresenceUpdate: st.builds(c.PresenceUpdate, ids, statuses, optional_ids),
    c.JoinDocument: st.builds(c.JoinDocument, ids, ids, optional_ids),
    c.LeaveDocument: st.builds(c.LeaveDocument, ids, ids),
    c.DocumentChange: st.builds(c.DocumentChange, ids, json_objects),
    c.CursorUpdate: st.builds(c.CursorUpdate, ids, cursor_positions, optional_ids),
    c.Notify: notify,
    c.SubscribeDashboard: st.builds(c.SubscribeDashboard, ids, st.booleans()),
    c.UnsubscribeDashboard: st.builds(c.UnsubscribeDashboard, ids),
    c.JoinGame: st.builds(c.JoinGame, ids, ids),
    c.LeaveGame: st.builds(c.LeaveGame, ids),
    c.PlayerInput: st.builds(c.PlayerInput, ids, ms, unit, unit),
    c.RtcJoin: st.builds(c.RtcJoin, ids),
    c.RtcLeave: st.builds(c.RtcLeave, ids),
    c.RtcOffer: signal(c.RtcOffer),
    c.RtcAnswer: signal(c.RtcAnswer),
    c.RtcIceCandidate: signal(c.RtcIceCandidate),
    c.MeasureRtt: st.builds(c.MeasureRtt),
}

SERVER_SAMPLES: dict[type[Any], st.SearchStrategy[Any]] = {
    c.UserJoined: st.builds(c.UserJoined, ids, st.tuples(users), ms, st.booleans()),
    c.UserLeft: st.builds(c.UserLeft, ids, st.lists(users, max_size=3).map(tuple), ms),
    ChatMessage: messages,
    c.UserTyping: st.builds(c.UserTyping, ids),
    c.PresenceChanged: st.builds(c.PresenceChanged, ids, statuses, ms),
    c.DocumentChanged: st.builds(
        c.DocumentChanged,
        ids,
        json_objects.map(lambda o: {k: v for k, v in o.items() if k != "documentId"}),
    ),
    c.CursorMoved: st.builds(c.CursorMoved, ids, ids, cursor_positions, st.booleans()),
    c.Notification: st.builds(
        c.Notification,
        ids,
        kinds,
        short_text,
        short_text,
        ms,
        optional_ids,
        st.none() | ms,
        st.booleans(),
    ),
    c.DashboardUpdate: st.builds(c.DashboardUpdate, ids, ms, json_objects),
    c.GameState: game_states,
    c.RtcPeerJoined: st.builds(c.RtcPeerJoined, ids, optional_ids),
    c.RtcPeerLeft: st.builds(c.RtcPeerLeft, ids, optional_ids),
    c.RtcOfferRelayed: relayed(c.RtcOfferRelayed),
    c.RtcAnswerRelayed: relayed(c.RtcAnswerRelayed),
    c.RtcIceCandidateRelayed: relayed(c.RtcIceCandidateRelayed),
    c.RttProbe: st.builds(c.RttProbe, ms),
    c.ErrorEvent: st.builds(
        c.ErrorEvent, st.sampled_from(ErrorCode), short_text, optional_ids, optional_ids
    ),
}

REPLY_SAMPLES: dict[type[Any], st.SearchStrategy[Any]] = {
    c.Ok: st.builds(c.Ok),
    c.RoomReply: st.builds(c.RoomReply, ids),
    c.DocumentReply: st.builds(c.DocumentReply, ids),
    c.JoinRoomReply: st.builds(
        c.JoinRoomReply,
        ids,
        st.lists(users, max_size=3).map(tuple),
        ms,
        st.lists(messages, max_size=3).map(tuple),
    ),
    c.SendMessageReply: st.builds(c.SendMessageReply, ms, ids, st.booleans()),
    c.PresenceUpdateReply: st.builds(c.PresenceUpdateReply, users),
    c.JoinDocumentReply: st.builds(
        c.JoinDocumentReply,
        ids,
        ids,
        short_text,
        ms,
        json_values,
        st.dictionaries(ids, cursor_positions, max_size=3),
    ),
    c.DocumentChangeReply: st.builds(
        c.DocumentChangeReply,
        ids,
        json_objects.map(lambda o: {k: v for k, v in o.items() if k not in ("ok", "documentId")}),
    ),
    c.NotifyReply: st.builds(c.NotifyReply, ids, ms, st.none() | ms),
    c.SubscribeDashboardReply: st.builds(
        c.SubscribeDashboardReply, ids, finite, st.none() | json_objects
    ),
    c.DashboardReply: st.builds(c.DashboardReply, ids),
    c.JoinGameReply: st.builds(c.JoinGameReply, game_states, finite),
    c.GameReply: st.builds(c.GameReply, ids),
    c.PlayerInputReply: st.builds(c.PlayerInputReply, ms, ms),
    c.RtcJoinReply: st.builds(c.RtcJoinReply, ids, ids, st.lists(ids, max_size=3).map(tuple)),
    c.SignalReply: st.builds(c.SignalReply, ids),
    c.MeasureRttReply: st.builds(
        c.MeasureRttReply, finite, st.lists(json_values, max_size=2).map(tuple)
    ),
}


# ------------------------------------------------------------------- registry
def test_the_samples_cover_every_event_and_reply() -> None:
    assert set(CLIENT_SAMPLES) == set(CLIENT_EVENTS.values())
    assert set(SERVER_SAMPLES) == set(SERVER_EVENTS.values())
    assert set(REPLY_SAMPLES) == {cls.reply for cls in CLIENT_SAMPLES}


@pytest.mark.parametrize("cls", [*CLIENT_EVENTS.values(), *SERVER_EVENTS.values()])
def test_events_are_frozen_slotted_dataclasses_named_by_the_registry(cls: type[Any]) -> None:
    params = vars(cls).get("__dataclass_params__")  # @dataclass on the class itself
    assert params is not None and params.frozen
    assert "__slots__" in cls.__dict__
    registry = CLIENT_EVENTS if cls in CLIENT_EVENTS.values() else SERVER_EVENTS
    assert registry[cls.name] is cls


def test_error_codes_are_the_servers() -> None:
    from server import errors

    assert c.ErrorCode is errors.ErrorCode and c.EventError is errors.EventError


def test_the_module_loads_without_trio() -> None:
    """Locust's gevent workers import it: no trio, no server internals beyond errors/protocol."""
    code = (
        "import sys, server.catalogue; "
        "bad = [m for m in sys.modules if m == 'trio' or m.startswith(('server.features', "
        "'server.hub', 'server.app', 'server.store', 'server.collab'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "cls",
    [*CLIENT_SAMPLES, *SERVER_SAMPLES],
    ids=[
        f"{'C' if s is CLIENT_SAMPLES else 'S'}-{cls.__name__}"
        for s in (CLIENT_SAMPLES, SERVER_SAMPLES)
        for cls in s
    ],
)
@ROUND_TRIPS
@given(data=st.data())
def test_events_round_trip(cls: type[Any], data: st.DataObject) -> None:
    """C→S: what a bot builds, the server parses back; S→C: what the server emits, a bot."""
    event = data.draw({**CLIENT_SAMPLES, **SERVER_SAMPLES}[cls])
    assert cls.parse(event.to_args()) == event
    assert cls.parse(wire(event.to_args())) == event


@pytest.mark.parametrize("cls", list(REPLY_SAMPLES), ids=lambda cls: cls.__name__)
@ROUND_TRIPS
@given(data=st.data())
def test_replies_round_trip_through_the_ack(cls: type[Any], data: st.DataObject) -> None:
    reply = data.draw(REPLY_SAMPLES[cls])
    ack = {"ok": True, **reply.to_json()}
    assert cls.parse(ack) == reply
    assert cls.parse(json.loads(json.dumps(ack))) == reply


@pytest.mark.parametrize("cls", list(REPLY_SAMPLES), ids=lambda cls: cls.__name__)
def test_a_refused_ack_is_raised_with_the_servers_code(cls: type[Any]) -> None:
    ack = {"ok": False, "error": {"code": "forbidden", "message": "join first"}}
    with pytest.raises(EventError) as info:
        cls.parse(ack)
    assert info.value.code == ErrorCode.FORBIDDEN and info.value.message == "join first"


def test_a_refused_ack_with_an_unknown_code_is_internal() -> None:
    with pytest.raises(EventError) as info:
        c.Ok.parse({"ok": False, "error": {"code": "teapot", "message": "?"}})
    assert info.value.code == ErrorCode.INTERNAL and "teapot" in info.value.message
    with pytest.raises(EventError):
        c.Ok.parse("ok")


def test_every_client_event_names_its_reply() -> None:
    for cls in CLIENT_EVENTS.values():
        reply = cls.reply  # type: ignore[attr-defined]
        assert callable(reply.parse) and callable(reply.to_json)


# ------------------------------------------------------- the wire, as before
# The shapes the handlers sent before the catalogue, key for key.
def test_acks_carry_the_handlers_fields() -> None:
    user = c.User("ann", "Ann", PresenceStatus.AWAY, 7)
    message = ChatMessage("r#1", "ann", "Ann", "hi", 5, 1)
    assert c.JoinRoomReply("r", (user,), 1, (message,)).to_json() == {
        "roomId": "r",
        "users": [{"id": "ann", "name": "Ann", "status": "away", "lastSeen": 7}],
        "userCount": 1,
        "history": [
            {
                "id": "r#1",
                "userId": "ann",
                "userName": "Ann",
                "text": "hi",
                "timestamp": 5,
                "seq": 1,
            }
        ],
    }
    assert c.SendMessageReply(3, "m").to_json() == {"seq": 3, "id": "m"}
    assert c.SendMessageReply(3, "m", True).to_json() == {"seq": 3, "id": "m", "duplicate": True}
    assert c.JoinDocumentReply("d", "ot", "ab", 2, None, {"ann": 1}).to_json() == {
        "documentId": "d",
        "strategy": "ot",
        "content": "ab",
        "revision": 2,
        "state": None,
        "cursors": {"ann": 1},
    }
    assert c.DocumentChangeReply("d", {"rev": 4}).to_json() == {"documentId": "d", "rev": 4}
    assert c.NotifyReply("n1", 2).to_json() == {"id": "n1", "delivered": 2}
    assert c.NotifyReply("n1", 2, 9).to_json() == {"id": "n1", "seq": 9, "delivered": 2}
    assert c.SubscribeDashboardReply("server", 1000.0, None).to_json() == {
        "dashboardId": "server",
        "intervalMs": 1000.0,
        "metrics": None,
    }
    state = c.GameState("g", 3, 99, {"p1": c.PlayerState(50.0, 51.0, -1)})
    assert c.JoinGameReply(state, 20.0).to_json() == {
        "gameId": "g",
        "tick": 3,
        "ts": 99,
        "players": {"p1": {"x": 50.0, "y": 51.0, "lastSeq": -1}},
        "tickRate": 20.0,
    }
    assert c.PlayerInputReply(4, 10).to_json() == {"seq": 4, "tick": 10}
    assert c.RtcJoinReply("r", "sid1", ("sid0",)).to_json() == {
        "roomId": "r",
        "peerId": "sid1",
        "peers": ["sid0"],
    }
    assert c.MeasureRttReply(1.5, ({"ok": True},)).to_json() == {
        "rttMs": 1.5,
        "reply": [{"ok": True}],
    }
    assert c.Ok().to_json() == {}


def test_broadcasts_carry_the_handlers_fields() -> None:
    user = c.User("ann", "Ann", PresenceStatus.ONLINE, 7)
    users = [user, dataclasses.replace(user, id="bob")]
    assert c.UserJoined.listing("ann", users, 50).to_args() == [
        {"userId": "ann", "users": [u.to_json() for u in users], "userCount": 2}
    ]
    assert c.UserLeft.listing("ann", users, 1).to_args() == [
        {"userId": "ann", "users": [user.to_json()], "userCount": 2, "usersTruncated": True}
    ]
    assert c.UserTyping("ann").to_args() == ["ann"]
    assert c.PresenceChanged("ann", PresenceStatus.AWAY, 9).to_args() == [
        {"userId": "ann", "status": "away", "lastSeen": 9}
    ]
    assert c.CursorMoved("d", "ann", 3).to_args() == [
        {"documentId": "d", "userId": "ann", "position": 3}
    ]
    assert c.CursorMoved("d", "ann", None, left=True).to_args() == [
        {"documentId": "d", "userId": "ann", "position": None, "left": True}
    ]
    note = c.Notification("n1", NotificationType.INFO, "t", "m", 5)
    assert note.to_args() == [
        {"id": "n1", "type": "info", "title": "t", "message": "m", "timestamp": 5}
    ]
    to_user = dataclasses.replace(note, user_id="ann", seq=2, replayed=True)
    assert to_user.to_json() == {**note.to_json(), "userId": "ann", "seq": 2, "replayed": True}
    assert c.DashboardUpdate("server", 5, {"rooms": 1}).to_args() == [
        {"dashboardId": "server", "ts": 5, "metrics": {"rooms": 1}}
    ]
    assert c.RtcPeerJoined("sid", "ann").to_args() == [{"peerId": "sid", "userId": "ann"}]
    assert c.RtcPeerLeft("sid").to_args() == [{"peerId": "sid"}]
    assert c.RttProbe(12).to_args() == [{"ts": 12}]
    refusal = c.ErrorEvent.refusing("typing", EventError("forbidden", "join first"))
    assert refusal.to_args() == [{"code": "forbidden", "message": "join first", "event": "typing"}]
    reload = c.ErrorEvent(ErrorCode.INTERNAL, "rejoin", "document-change", "d")
    assert reload.to_args() == [
        {"code": "internal", "message": "rejoin", "documentId": "d", "event": "document-change"}
    ]
    # enum members travel as their plain strings
    assert json.loads(json.dumps(refusal.to_args())) == refusal.to_args()


def test_a_document_change_broadcast_names_its_document() -> None:
    change = {"position": 0, "insert": "x", "documentId": "spoofed"}
    assert c.DocumentChanged("d", change).to_args() == [
        {"position": 0, "insert": "x", "documentId": "d"}
    ]
    parsed = c.DocumentChanged.parse([{"rev": 2, "ops": ["x"], "userId": "a", "documentId": "d"}])
    assert parsed == c.DocumentChanged("d", {"rev": 2, "ops": ["x"], "userId": "a"})


def test_a_relayed_signal_is_the_signal_from_its_sender() -> None:
    offer = c.RtcOffer.parse([{"to": "b", "sdp": {"type": "offer"}, "id": "o1", "run": "r"}])
    assert offer.relayed("a").to_args() == [
        {"to": "b", "sdp": {"type": "offer"}, "id": "o1", "run": "r", "from": "a"}
    ]
    candidate = c.RtcIceCandidate("b", {"candidate": "c0"}, sent_at=5)
    relayed = candidate.relayed("a")
    assert isinstance(relayed, c.RtcIceCandidateRelayed)
    assert relayed.to_args() == [
        {"to": "b", "candidate": {"candidate": "c0"}, "sentAt": 5, "from": "a"}
    ]
    assert isinstance(c.RtcAnswer("a", "v=0").relayed("b"), c.RtcAnswerRelayed)


# ------------------------------------------------------------------- refusals
# (event, args, code, message or None): what the handlers refused, and how.
REFUSALS: list[tuple[type[Any], list[Any], ErrorCode, str | None]] = [
    # ids: server/features/arguments.py `arg` and `identifier`
    (c.JoinRoom, [], BAD, "missing argument 'roomId' (position 1)"),
    (c.JoinRoom, ["r"], BAD, "missing argument 'userId' (position 2)"),
    (c.JoinRoom, [None, "u"], BAD, "roomId must be a non-empty string"),
    (c.JoinRoom, [True, "u"], BAD, "roomId must be a non-empty string"),
    (c.JoinRoom, [{"id": 1}, "u"], BAD, "roomId must be a non-empty string"),
    (c.JoinRoom, [1.5, "u"], BAD, "roomId must be a non-empty string"),
    (c.JoinRoom, ["", "u"], BAD, "roomId must be 1..200 characters"),
    (c.JoinRoom, ["x" * 201, "u"], BAD, "roomId must be 1..200 characters"),
    (c.JoinRoom, ["r", 10**201], BAD, "userId must be 1..200 characters"),
    (c.LeaveRoom, ["r", None], BAD, "userId must be a non-empty string"),
    (c.Typing, ["r"], BAD, "missing argument 'userId' (position 2)"),
    # send-message: chat.py on_send_message
    (SendMessage, ["r"], BAD, "missing argument 'message' (position 2)"),
    (SendMessage, ["r", "hi"], BAD, "message must be an object"),
    (SendMessage, ["r", {}], BAD, "message.text must be a string"),
    (SendMessage, ["r", {"text": 5}], BAD, "message.text must be a string"),
    (SendMessage, ["r", {"text": None}], BAD, "message.text must be a string"),
    (
        SendMessage,
        ["r", {"text": "x" * 10_001}],
        TOO_LARGE,
        "message.text is longer than 10000 characters",
    ),
    (
        SendMessage,
        ["r", {"text": "hi", "userId": None}],
        BAD,
        "message.userId must be a non-empty string",
    ),
    (
        SendMessage,
        ["r", {"text": "hi", "userId": ""}],
        BAD,
        "message.userId must be 1..200 characters",
    ),
    (SendMessage, ["r", {"text": "hi", "id": True}], BAD, "message.id must be a non-empty string"),
    (SendMessage, ["r", {"text": "hi", "id": ["m"]}], BAD, "message.id must be a non-empty string"),
    (
        SendMessage,
        ["r", {"text": "hi", "id": "x" * 201}],
        BAD,
        "message.id must be 1..200 characters",
    ),
    (SendMessage, ["r", {"text": "hi", "userName": None}], BAD, "userName must be a string"),
    (
        SendMessage,
        ["r", {"text": "hi", "userName": "x" * 201}],
        TOO_LARGE,
        "userName is longer than 200 characters",
    ),
    # the userId is checked before the text, as the handler did
    (
        SendMessage,
        ["r", {"text": 5, "userId": False}],
        BAD,
        "message.userId must be a non-empty string",
    ),
    # the declared fields the handler relayed unchecked
    (
        SendMessage,
        ["r", {"text": "hi", "timestamp": {}}],
        BAD,
        "message.timestamp must be a number or a string",
    ),
    (SendMessage, ["r", {"text": "hi", "timestamp": True}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "timestamp": float("inf")}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "timestamp": "x" * 201}], TOO_LARGE, None),
    (
        SendMessage,
        ["r", {"text": "hi", "sentAt": "now"}],
        BAD,
        "message.sentAt must be a number from 0 to 2**63 (the send instant)",
    ),
    (SendMessage, ["r", {"text": "hi", "sentAt": float("nan")}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "sentAt": float("inf")}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "sentAt": True}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "sentAt": -1}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "sentAt": 2**63}], BAD, None),
    (SendMessage, ["r", {"text": "hi", "run": 5}], BAD, "message.run must be a string"),
    (
        SendMessage,
        ["r", {"text": "hi", "run": "x" * 65}],
        TOO_LARGE,
        "message.run is longer than 64 characters",
    ),
    # presence.py on_presence_update
    (c.PresenceUpdate, [], BAD, "missing argument 'presence' (position 1)"),
    (c.PresenceUpdate, ["away"], BAD, "presence must be an object"),
    (c.PresenceUpdate, [{"status": "away"}], BAD, "userId must be a non-empty string"),
    (c.PresenceUpdate, [{"userId": "u"}], BAD, "status must be one of online, away, offline"),
    (
        c.PresenceUpdate,
        [{"userId": "u", "status": "asleep"}],
        BAD,
        "status must be one of online, away, offline",
    ),
    (
        c.PresenceUpdate,
        [{"userId": "u", "status": ["away"]}],
        BAD,
        "status must be one of online, away, offline",
    ),
    (
        c.PresenceUpdate,
        [{"userId": "u", "status": "away", "roomId": ""}],
        BAD,
        "roomId must be 1..200 characters",
    ),
    # documents.py
    (c.JoinDocument, ["d"], BAD, "missing argument 'userId' (position 2)"),
    (c.JoinDocument, ["d", "u", "fugue"], BAD, "options must be an object"),
    (c.JoinDocument, ["d", "u", {"strategy": ""}], BAD, "strategy must be 1..200 characters"),
    (c.JoinDocument, ["d", "u", {"strategy": True}], BAD, "strategy must be a non-empty string"),
    (c.LeaveDocument, [None, "u"], BAD, "documentId must be a non-empty string"),
    (c.DocumentChange, ["d"], BAD, "missing argument 'change' (position 2)"),
    (
        c.DocumentChange,
        ["d", {"meta": float("inf")}],
        BAD,
        "change must be JSON (finite numbers only)",
    ),
    (c.DocumentChange, ["d", {"meta": object()}], BAD, "change must be JSON (finite numbers only)"),
    # every strategy refused a change that is not an object (with bad_request)
    (c.DocumentChange, ["d", "insert x"], BAD, "change must be an object"),
    (c.DocumentChange, ["d", None], BAD, "change must be an object"),
    (c.CursorUpdate, ["d"], BAD, "missing argument 'cursor' (position 2)"),
    (c.CursorUpdate, ["d", 3], BAD, "cursor must be an object"),
    (c.CursorUpdate, ["d", {"userId": "u"}], BAD, "cursor.position is required"),
    (
        c.CursorUpdate,
        ["d", {"userId": None, "position": 1}],
        BAD,
        "userId must be a non-empty string",
    ),
    (c.CursorUpdate, ["d", {"position": True}], BAD, "cursor.position must not be a boolean"),
    (c.CursorUpdate, ["d", {"position": -1}], BAD, "cursor.position must not be negative"),
    (
        c.CursorUpdate,
        ["d", {"position": float("nan")}],
        BAD,
        "cursor.position must be JSON (finite numbers)",
    ),
    # test_review_regressions: poisoned cursors
    (
        c.CursorUpdate,
        ["d", {"position": "x" * 5000}],
        TOO_LARGE,
        "cursor.position exceeds 1024 bytes",
    ),
    (
        c.CursorUpdate,
        ["d", {"position": [[1]] * 400}],
        TOO_LARGE,
        "cursor.position exceeds 1024 bytes",
    ),
    # notifications.py notify (test_catalogue: bad notify requests)
    (c.Notify, [], BAD, "notification must be an object"),
    (c.Notify, ["hello"], BAD, "notification must be an object"),
    (c.Notify, [{"message": "no target"}], BAD, "name exactly one target: userId, roomId or all"),
    (
        c.Notify,
        [{"userId": "ann", "all": True}],
        BAD,
        "name exactly one target: userId, roomId or all",
    ),
    (c.Notify, [{"userId": 0}], BAD, "name exactly one target: userId, roomId or all"),
    (c.Notify, [{"all": False}], BAD, "name exactly one target: userId, roomId or all"),
    (
        c.Notify,
        [{"userId": "ann", "type": "fancy"}],
        BAD,
        "type must be one of info, success, warning, error",
    ),
    (
        c.Notify,
        [{"userId": "ann", "type": None}],
        BAD,
        "type must be one of info, success, warning, error",
    ),
    (c.Notify, [{"all": True, "title": None}], BAD, "title must be a string"),
    (
        c.Notify,
        [{"all": True, "title": "x" * 201}],
        TOO_LARGE,
        "title is longer than 200 characters",
    ),
    (
        c.Notify,
        [{"all": True, "message": "x" * 4001}],
        TOO_LARGE,
        "message is longer than 4000 characters",
    ),
    (c.Notify, [{"userId": ""}], BAD, "userId must be 1..200 characters"),
    (c.Notify, [{"roomId": True}], BAD, "roomId must be a non-empty string"),
    (c.Notify, [{"all": "yes"}], BAD, "all must be true"),
    # dashboard.py, game.py
    (c.SubscribeDashboard, [], BAD, "missing argument 'dashboardId' (position 1)"),
    (c.UnsubscribeDashboard, [""], BAD, "dashboardId must be 1..200 characters"),
    (c.JoinGame, ["g"], BAD, "missing argument 'playerId' (position 2)"),
    (c.LeaveGame, [], BAD, "missing argument 'gameId' (position 1)"),
    (c.PlayerInput, ["g"], BAD, "missing argument 'input' (position 2)"),
    (c.PlayerInput, ["g", [1]], BAD, "input must be an object"),
    (c.PlayerInput, ["g", {"input": {}}], BAD, "input.seq must be a non-negative integer"),
    (
        c.PlayerInput,
        ["g", {"seq": -1, "input": {}}],
        BAD,
        "input.seq must be a non-negative integer",
    ),
    (
        c.PlayerInput,
        ["g", {"seq": True, "input": {}}],
        BAD,
        "input.seq must be a non-negative integer",
    ),
    (
        c.PlayerInput,
        ["g", {"seq": 1.0, "input": {}}],
        BAD,
        "input.seq must be a non-negative integer",
    ),
    (c.PlayerInput, ["g", {"seq": 1}], BAD, "input.input must be an object {dx, dy}"),
    (c.PlayerInput, ["g", {"seq": 9, "input": {"dx": "left"}}], BAD, "dx and dy must be numbers"),
    (c.PlayerInput, ["g", {"seq": 9, "input": {"dy": None}}], BAD, "dx and dy must be numbers"),
    (c.PlayerInput, ["g", {"seq": 9, "input": {"dx": True}}], BAD, "dx and dy must be numbers"),
    (
        c.PlayerInput,
        ["g", {"seq": 9, "input": {"dx": float("nan")}}],
        BAD,
        "dx and dy must be numbers",
    ),
    # signaling.py (test_catalogue: rtc signals)
    (c.RtcJoin, [], BAD, "missing argument 'roomId' (position 1)"),
    (c.RtcLeave, [7.5], BAD, "roomId must be a non-empty string"),
    (c.RtcOffer, [], BAD, "missing argument 'signal' (position 1)"),
    (c.RtcOffer, ["v=0"], BAD, "signal must be an object"),
    (c.RtcOffer, [{"sdp": "v=0"}], BAD, "to must be a non-empty string"),
    (c.RtcOffer, [{"to": "b"}], BAD, "rtc-offer needs 'sdp'"),
    (c.RtcAnswer, [{"to": "b", "sdp": None}], BAD, "rtc-answer needs 'sdp'"),
    (c.RtcIceCandidate, [{"to": "b", "sdp": "v=0"}], BAD, "rtc-ice-candidate needs 'candidate'"),
    (
        c.RtcOffer,
        [{"to": "b", "sdp": "x" * MAX_SIGNAL_BYTES}],
        TOO_LARGE,
        "sdp exceeds 65536 bytes",
    ),
    (
        c.RtcIceCandidate,
        [{"to": "b", "candidate": ["é" * 11_000]}],
        TOO_LARGE,
        "candidate exceeds 65536 bytes",
    ),
    (c.RtcOffer, [{"to": "b", "sdp": "v=0", "id": True}], BAD, "id must be a non-empty string"),
    (
        c.RtcOffer,
        [{"to": "b", "sdp": "v=0", "sentAt": "now"}],
        BAD,
        "sentAt must be a number from 0 to 2**63 (the send instant)",
    ),
    (
        c.RtcOffer,
        [{"to": "b", "sdp": "v=0", "run": "x" * 65}],
        TOO_LARGE,
        "run is longer than 64 characters",
    ),
]


@pytest.mark.parametrize(
    ("cls", "args", "code", "message"),
    REFUSALS,
    ids=[f"{cls.name}-{i}" for i, (cls, *_) in enumerate(REFUSALS)],
)
def test_parse_refuses_what_the_handlers_refused(
    cls: type[Any], args: list[Any], code: ErrorCode, message: str | None
) -> None:
    with pytest.raises(EventError) as info:
        cls.parse(args)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message


def test_post_notify_names_its_body() -> None:
    with pytest.raises(EventError) as info:
        c.Notify.from_body(["not", "an", "object"])
    assert (info.value.code, info.value.message) == (BAD, "body must be an object")
    body = {"userId": "ann", "type": "success", "title": "Hi", "message": "to ann"}
    assert c.Notify.from_body(body).to_json() == body


# ------------------------------------------------- what parsing accepts, as before
def test_numbers_are_accepted_as_ids_and_stringified() -> None:
    assert c.JoinRoom.parse([42, 7]) == c.JoinRoom("42", "7")
    assert c.JoinGame.parse([-3, 0]) == c.JoinGame("-3", "0")
    assert SendMessage.parse(["r", {"text": "", "id": 5, "userId": 6}]) == SendMessage(
        "r", "", "5", "6"
    )


def test_extra_arguments_are_ignored_as_before() -> None:
    assert c.LeaveGame.parse(["g", "p1"]) == c.LeaveGame("g")
    assert c.MeasureRtt.parse(["anything"]) == c.MeasureRtt()
    assert c.Typing.parse(["r", "u", {"extra": 1}]) == c.Typing("r", "u")


def test_send_message_defaults_are_the_servers() -> None:
    event = SendMessage.parse(["r", {"text": "hi", "id": "", "timestamp": None}])
    assert event == SendMessage("r", "hi")  # a falsy id asks the server for one
    with pytest.raises(EventError) as info:
        event.sender(None)
    assert info.value.message == "message.userId must be a non-empty string"
    assert event.sender("ann") == "ann"
    message = event.to_message(id="r#3", seq=3, user_id="ann", default_user_name="Ann", now_ms=99)
    assert message == ChatMessage("r#3", "ann", "Ann", "hi", 99, 3)
    named = SendMessage("r", "hi", user_id="bob", user_name="", timestamp="2024-01-01T00:00:00Z")
    assert named.sender("ann") == "bob"
    kept = named.to_message(id="m", seq=1, user_id="bob", default_user_name="Bob", now_ms=99)
    assert (kept.user_name, kept.timestamp) == ("", "2024-01-01T00:00:00Z")


def test_cursor_defaults_to_the_connections_user() -> None:
    cursor = c.CursorUpdate.parse(["d", {"position": None}])
    assert cursor == c.CursorUpdate("d", None) and cursor.sender("ann") == "ann"
    assert (
        c.CursorUpdate.parse(["d", {"position": {"id": [1, 2]}, "userId": "bob"}]).sender("x")
        == "bob"
    )
    with pytest.raises(EventError):
        cursor.sender(None)


def test_options_that_are_not_objects_were_ignored_by_dashboards() -> None:
    assert c.SubscribeDashboard.parse(["server", "ack"]) == c.SubscribeDashboard("server")
    assert c.SubscribeDashboard.parse(["server", {"ack": 1}]).ack is False
    assert c.SubscribeDashboard.parse(["server", {"ack": True}]).ack is True
    assert c.JoinDocument.parse(["d", "u", None]) == c.JoinDocument("d", "u")
    assert c.JoinDocument.parse(["d", "u", {"strategy": 5}]).strategy == "5"


def test_player_input_is_clamped_and_defaults_to_standing_still() -> None:
    assert c.PlayerInput.parse(["g", {"seq": 0, "input": {}}]) == c.PlayerInput("g", 0, 0.0, 0.0)
    moved = c.PlayerInput.parse(["g", {"seq": 2, "input": {"dx": 5, "dy": -0.25}}])
    assert (moved.dx, moved.dy) == (1.0, -0.25)
    assert c.PlayerInput.parse(["g", {"seq": 3, "input": {"dx": -1e300}}]).dx == -1.0


def test_presence_and_notify_take_their_enums() -> None:
    update = c.PresenceUpdate.parse([{"userId": "u", "status": "offline"}])
    assert update.status is PresenceStatus.OFFLINE and update.room_id is None
    note = c.Notify.parse([{"roomId": 12}])
    assert note == c.Notify(room_id="12") and note.type is NotificationType.INFO
    assert c.Notify.parse([{"all": True, "type": "error"}]).type is NotificationType.ERROR


# ------------------------------------------------------------ unknown keys
def test_unknown_keys_of_a_chat_message_are_dropped() -> None:
    body = {
        "id": "m1",
        "userId": "ann",
        "text": "hi",
        "sentAt": 10,
        "run": "r1",
        "seq": 99,  # the server's, never the client's
        "duplicate": True,
        "pad": "x" * 200_000,  # a fat extra field no longer reaches the store
        "__proto__": {"admin": True},
    }
    event = SendMessage.parse(["lobby", body])
    assert event == SendMessage("lobby", "hi", "m1", "ann", None, None, 10, "r1")
    stored = event.to_message(id="m1", seq=1, user_id="ann", default_user_name="ann", now_ms=5)
    assert json.loads(stored.encode()) == {
        "id": "m1",
        "userId": "ann",
        "userName": "ann",
        "text": "hi",
        "timestamp": 5,
        "seq": 1,
        "sentAt": 10,
        "run": "r1",
    }


def test_unknown_keys_of_other_events_are_dropped() -> None:
    signal = c.RtcOffer.parse([{"to": "b", "sdp": "v=0", "from": "spoofed", "extra": [1]}])
    assert signal.relayed("a").to_args() == [{"to": "b", "sdp": "v=0", "from": "a"}]
    presence = c.PresenceUpdate.parse([{"userId": "u", "status": "away", "lastSeen": 0, "x": 1}])
    assert presence.to_args() == [{"userId": "u", "status": "away"}]
    cursor = c.CursorUpdate.parse(["d", {"position": 1, "left": True, "documentId": "other"}])
    assert cursor.to_args() == ["d", {"position": 1}]
    note = c.Notify.parse([{"all": True, "seq": 5, "replayed": True}])
    assert note.to_json() == {"all": True, "type": "info", "title": "", "message": ""}
    move = c.PlayerInput.parse(["g", {"seq": 1, "input": {"dx": 1, "teleport": [0, 0]}, "x": 1}])
    assert move.to_args() == ["g", {"seq": 1, "input": {"dx": 1.0, "dy": 0.0}}]
    # clients drop what the server did not declare, too
    received = ChatMessage.parse([{**ChatMessage("m", "u", "U", "t", 1, 2).to_json(), "x": 1}])
    assert received == ChatMessage("m", "u", "U", "t", 1, 2)


def test_history_rows_stored_before_the_catalogue_still_read() -> None:
    """The old handler stored the client's timestamp and extra keys as they came."""
    row = {"id": "r#1", "userId": "u", "userName": "U", "text": "t", "seq": 1}
    legacy = {**row, "timestamp": {"at": "noon"}, "sentAt": "soon", "run": 7, "mood": "ok"}
    assert ChatMessage.from_json(legacy) == ChatMessage("r#1", "u", "U", "t", None, 1)
    with pytest.raises(EventError) as info:
        ChatMessage.from_json({**row, "seq": "1"})
    assert (info.value.code, info.value.message) == (BAD, "seq must be an integer")


def test_a_document_change_is_the_strategys_business() -> None:
    """Only the envelope is checked: the change's own keys travel as the strategy wants."""
    op = {
        "userId": "ann",
        "position": 0,
        "insert": "hi",
        "sentAt": 12,
        "anything": [1, {"b": None}],
    }
    event = c.DocumentChange.parse(["d", op])
    assert event.change == op
    assert event.encoded == json.dumps(op, separators=(",", ":"), ensure_ascii=False)
    assert c.DocumentChange("d", dict(op)) == event


# --------------------------------------------------------------------- limits
def test_ids_at_their_limit() -> None:
    assert c.RtcJoin.parse(["x" * MAX_ID_LENGTH]).room_id == "x" * MAX_ID_LENGTH
    assert c.JoinRoom.parse([10**199, "u"]).room_id == str(10**199)  # 200 digits
    with pytest.raises(EventError):
        c.RtcJoin.parse(["x" * (MAX_ID_LENGTH + 1)])


def test_chat_text_at_its_limit_in_characters_not_bytes() -> None:
    emoji = SendMessage.parse(["r", {"text": "😀" * MAX_TEXT}])
    assert len(emoji.text) == MAX_TEXT
    # test_review_regressions: 10,000 four-byte characters still fit in 48 KiB
    message = emoji.to_message(id="m", seq=1, user_id="u", default_user_name="u", now_ms=1)
    assert len(message.encode().encode()) <= MAX_MESSAGE_BYTES
    assert SendMessage.parse(["r", {"text": "x", "userName": "n" * 200, "run": "r" * 64}])


def test_the_stored_message_is_at_most_48_kib_of_json() -> None:
    # control characters are escaped (\u0001: 6 bytes each): the text limit alone is not enough
    escaped = SendMessage("r", "\x01" * MAX_TEXT).to_message(
        id="m", seq=1, user_id="u", default_user_name="u", now_ms=1
    )
    with pytest.raises(EventError) as info:
        escaped.encode()
    assert (info.value.code, info.value.message) == (TOO_LARGE, "the message exceeds 49152 bytes")
    fits = dataclasses.replace(escaped, text="\x01" * 8000)
    assert len(fits.encode().encode()) <= MAX_MESSAGE_BYTES


def test_a_cursor_position_at_its_limit() -> None:
    at_limit = "x" * (MAX_CURSOR_BYTES - 2)  # the quotes count
    assert c.CursorUpdate.parse(["d", {"position": at_limit}]).position == at_limit
    with pytest.raises(EventError) as info:
        c.CursorUpdate.parse(["d", {"position": at_limit + "x"}])
    assert info.value.code == TOO_LARGE
    with pytest.raises(EventError):  # bytes, not characters
        c.CursorUpdate.parse(["d", {"position": "é" * (MAX_CURSOR_BYTES // 2)}])


def test_a_signal_at_its_limit() -> None:
    at_limit = "x" * (MAX_SIGNAL_BYTES - 2)
    assert c.RtcOffer.parse([{"to": "b", "sdp": at_limit}]).payload == at_limit
    with pytest.raises(EventError) as info:
        c.RtcOffer.parse([{"to": "b", "sdp": at_limit + "x"}])
    assert info.value.code == TOO_LARGE


def test_sent_at_is_any_clock_up_to_a_signed_64_bit_integer() -> None:
    assert SendMessage.parse(["r", {"text": "", "sentAt": 0}]).sent_at == 0
    assert SendMessage.parse(["r", {"text": "", "sentAt": 2**63 - 1}]).sent_at == 2**63 - 1
    # benchmarks/node/ws_driver.mjs stamps fractional ms (performance.now())
    driver = {"id": "0-1-7", "userId": "u0-1", "text": "hello", "sentAt": 1_700_000_000_123.25}
    assert SendMessage.parse(["room-0", driver]).sent_at == 1_700_000_000_123.25


# --------------------------------------------- the fast paths equal the rules
def outcome(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except EventError as exc:
        return (exc.code, exc.message)


messy = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | finite
    | st.text(max_size=3)
    | st.sampled_from(["", "x" * 64, "x" * 65, "x" * 200, "x" * 201, "😀" * 10_000])
    | st.sampled_from(["x" * 10_001, 2**63 - 1, 2**63, float("inf"), [], {}])
)
MESSAGE_KEYS = ("id", "userId", "userName", "text", "timestamp", "sentAt", "run", "seq", "extra")


@AGREEMENT
@given(
    room=messy,
    body=st.dictionaries(st.sampled_from(MESSAGE_KEYS), messy, max_size=len(MESSAGE_KEYS)),
)
def test_send_message_fast_path_agrees_with_the_rules(room: Any, body: dict[str, Any]) -> None:
    args = [room, body]
    assert outcome(SendMessage.parse, args) == outcome(SendMessage._parse_checked, args)


@AGREEMENT
@given(body=st.dictionaries(st.sampled_from(MESSAGE_KEYS), messy, max_size=len(MESSAGE_KEYS)))
def test_received_message_fast_path_agrees_with_the_rules(body: dict[str, Any]) -> None:
    checked = ChatMessage._from_json_checked
    assert outcome(ChatMessage.from_json, body) == outcome(checked, body)


def test_the_common_messages_take_the_fast_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulate.measurement import chat_message

    body = chat_message(
        "lobby", "user-1", 3, "hello", 1_700_000_000_000_000_000, "run-a"
    ).to_args()[1]
    tutorial = {"id": "u-1", "userId": "u", "userName": "U", "text": "hi", "timestamp": 1}
    # benchmarks/node/ws_driver.mjs and benchmarks/fleet_bench.py
    driver = {"id": "0-1-7", "userId": "u0-1", "text": "hello", "sentAt": 1_700_000_000_123.25}
    fleet = {"id": "u-3", "userId": "u", "text": "x" * 48, "sentAt": 1_700_000_000_000_000_000}
    bodies = (body, tutorial, driver, fleet, {"text": ""})
    expected = [SendMessage._parse_checked(["lobby", b]) for b in bodies]
    received = ChatMessage("m", "u", "U", "t", 1, 2, 5, "r").to_json()

    def slow(*_: Any) -> None:
        raise AssertionError("the slow path")

    monkeypatch.setattr(SendMessage, "_parse_checked", slow)
    monkeypatch.setattr(ChatMessage, "_from_json_checked", slow)
    assert [SendMessage.parse(["lobby", b]) for b in bodies] == expected
    assert SendMessage.parse(["lobby", body]).to_args() == ["lobby", body]
    assert ChatMessage.from_json(received).to_json() == received
