"""The event catalogue as types: every event both ends exchange, declared once.

docs/events.md describes the events for people; this module declares them for
code, and a test keeps the two listing the same events. Each event is a frozen
dataclass with a class-level wire `name`; a reader learns the whole vocabulary
from this file, and nobody spells an event name or a wire key anywhere else.

Conventions, the same for every type:

- **Client → server** events (`CLIENT_EVENTS`): `Event.parse(args)` validates
  the Socket.IO arguments at the edge and returns the typed event, or raises
  `EventError` with the code the client gets (`bad_request` for a wrong shape
  or type, `too_large` for a field over its limit). `event.to_args()` gives
  the wire arguments back, so bots and Locust build requests from the same
  types: `Event.parse(event.to_args()) == event` (for values within the limits;
  `player-input` clamps its move to [-1, 1]).
- **Server → client** events (`SERVER_EVENTS`): `event.to_args()` is what the
  server emits; `Event.parse(args)` is the client's shape check.
- **Acks**: each client event names its reply type (`Event.reply`). The server
  answers ``{"ok": true, **reply.to_json()}``; a client reads the whole ack
  with `Reply.parse(ack)`, which raises the server's `EventError` for an
  ``{"ok": false, "error": {code, message}}`` ack.
- Attributes are snake_case Python values past the edge; camelCase exists only
  inside `parse`, `to_args` and `to_json`. Sequences are tuples. Opaque JSON
  values (a document change, an SDP, dashboard metrics) are typed `JSON` and
  are never looked into here.
- **Unknown keys are dropped**, never relayed: only declared fields reach the
  store or another client. The load generators' stamps are declared where
  they travel (chat messages and RTC signals): `sentAt`, the scheduled send
  instant on the generator's clock (a number: ns since the epoch for the bots
  and Locust, ms for the Node benchmark driver), `run`, the run's tag (at
  most 64 characters), and in chat messages `n`, the sender's message count
  (the harness counts loss and order with it on servers without acks).
- When both directions share a wire name (`presence-update`,
  `document-change`, `cursor-update`, the RTC signals), the server's event has
  its own class (`PresenceChanged`, `DocumentChanged`, `CursorMoved`,
  `RtcOfferRelayed`, ...).

What parsing cannot know stays with the handlers: membership of rooms and
documents, who the connection acts as (`userId` defaults to it), admin rights,
rate limits, whether a strategy exists and what its change means.

`send-message` parsing and `ChatMessage` encoding are on the hot path (tens of
thousands per second): parsers are plain type checks, no reflection, and the two
hottest (`SendMessage.parse`, `ChatMessage.from_json`) check a well-formed message
in one inline expression before falling back to the spelled-out rules.
This module imports nothing from the server but its error codes and the
Socket.IO JSON encoder, and no trio: Locust's gevent workers import it cheaply.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self

from server.errors import ErrorCode as ErrorCode
from server.errors import EventError as EventError
from server.protocol.errors import ProtocolError
from server.protocol.socketio import dumps

JSON = Any  # a JSON value this module carries without looking into it
SentAt = int | float  # a load generator's send instant, on its own clock and in its own unit


class EventName(enum.StrEnum):
    """Every wire name of the catalogue, once (a name used in both directions appears once)."""

    # chat rooms
    JOIN_ROOM = "join-room"
    LEAVE_ROOM = "leave-room"
    SEND_MESSAGE = "send-message"
    TYPING = "typing"
    USER_JOINED = "user-joined"
    USER_LEFT = "user-left"
    RECEIVE_MESSAGE = "receive-message"
    USER_TYPING = "user-typing"
    # presence
    PRESENCE_UPDATE = "presence-update"
    # collaborative documents
    JOIN_DOCUMENT = "join-document"
    LEAVE_DOCUMENT = "leave-document"
    DOCUMENT_CHANGE = "document-change"
    CURSOR_UPDATE = "cursor-update"
    # notifications
    NOTIFICATION = "notification"
    NOTIFY = "notify"
    # dashboards
    SUBSCRIBE_DASHBOARD = "subscribe-dashboard"
    UNSUBSCRIBE_DASHBOARD = "unsubscribe-dashboard"
    DASHBOARD_UPDATE = "dashboard-update"
    # multiplayer game
    JOIN_GAME = "join-game"
    LEAVE_GAME = "leave-game"
    PLAYER_INPUT = "player-input"
    GAME_STATE = "game-state"
    # WebRTC signaling
    RTC_JOIN = "rtc-join"
    RTC_LEAVE = "rtc-leave"
    RTC_PEER_JOINED = "rtc-peer-joined"
    RTC_PEER_LEFT = "rtc-peer-left"
    RTC_OFFER = "rtc-offer"
    RTC_ANSWER = "rtc-answer"
    RTC_ICE_CANDIDATE = "rtc-ice-candidate"
    # diagnostics
    MEASURE_RTT = "measure-rtt"
    RTT_PROBE = "rtt-probe"
    # refusals without an ack request, and server-side failures
    ERROR = "error"


# ---------------------------------------------------------------------- limits
MAX_ID_LENGTH = 200  # room, user, document, game, dashboard, peer ids; user names
MAX_TEXT = 10_000  # characters of a chat message's text
# A stored chat message as JSON: the whole text in 4-byte characters plus room for
# the rest. Join acks carry the history (50 messages): 50 × 48 KiB stays well under
# a connection's 4 MiB outbox, so a few fat messages cannot stall every joiner.
MAX_MESSAGE_BYTES = 48 * 1024
MAX_CURSOR_BYTES = 1024  # a cursor position as JSON (it is kept and sent in every join ack)
MAX_SIGNAL_BYTES = 64 * 1024  # an SDP or ICE candidate as JSON (never parsed)
MAX_RUN_TAG = 64  # the load generators' run tag
MAX_TITLE = 200  # a notification's title
MAX_NOTE = 4000  # a notification's message
MAX_SENT_AT = 2**63  # `sentAt`: non-negative, below 2**63 (an int64 of ns since the epoch)


class PresenceStatus(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"  # the client's word
    OFFLINE = "offline"  # from a client: "appear offline"


class NotificationType(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


_STATUSES = {s.value: s for s in PresenceStatus}
_NOTIFICATION_TYPES = {t.value: t for t in NotificationType}


def _status(value: Any) -> PresenceStatus:
    status = _STATUSES.get(value) if isinstance(value, str) else None
    if status is None:
        raise EventError(ErrorCode.BAD_REQUEST, f"status must be one of {', '.join(_STATUSES)}")
    return status


def _notification_type(value: Any) -> NotificationType:
    kind = _NOTIFICATION_TYPES.get(value) if isinstance(value, str) else None
    if kind is None:
        message = f"type must be one of {', '.join(_NOTIFICATION_TYPES)}"
        raise EventError(ErrorCode.BAD_REQUEST, message)
    return kind


# ---------------------------------------------------------------- the contracts
class ClientEvent(Protocol):
    """A client → server event: parsed at the server's edge, built by bots.

    Each class also names its ack's type, `reply` (not part of this protocol:
    a class variable cannot narrow a protocol's type for mypy).
    """

    name: ClassVar[str]

    @classmethod
    def parse(cls, args: list[Any]) -> Self: ...

    def to_args(self) -> list[Any]: ...


class ServerEvent(Protocol):
    """A server → client event: built by the server, shape-checked by clients."""

    name: ClassVar[str]

    @classmethod
    def parse(cls, args: list[Any]) -> Self: ...

    def to_args(self) -> list[Any]: ...


class Reply(Protocol):
    """What an ack carries next to ``ok: true``."""

    @classmethod
    def parse(cls, ack: Any) -> Self: ...

    def to_json(self) -> dict[str, Any]: ...


# ------------------------------------------------------------ edge validation
# The server's side: what a client sent, checked once. Messages name the wire key.
def _bad(message: str) -> EventError:
    return EventError(ErrorCode.BAD_REQUEST, message)


def _arg(args: list[Any], index: int, name: str) -> Any:
    if index >= len(args):
        raise _bad(f"missing argument {name!r} (position {index + 1})")
    return args[index]


def _identifier(value: Any, name: str) -> str:
    """Room, user, document ids: 1..200 characters; numbers are accepted and stringified."""
    if isinstance(value, str):
        if 0 < len(value) <= MAX_ID_LENGTH:
            return value
        raise _bad(f"{name} must be 1..{MAX_ID_LENGTH} characters")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{name} must be a non-empty string")
    return _identifier(str(value), name)


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{name} must be an object")
    return value


def _text(value: Any, name: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    if len(value) > max_length:
        raise EventError(ErrorCode.TOO_LARGE, f"{name} is longer than {max_length} characters")
    return value


def _sent_at(value: Any, name: str) -> SentAt:
    # NaN and infinity fail the range check too
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < MAX_SENT_AT
    ):
        raise _bad(f"{name} must be a number from 0 to 2**63 (the send instant)")
    return value


def _count(value: Any, name: str) -> int:
    """A load generator's message count: a non-negative integer."""
    if type(value) is not int or not 0 <= value < MAX_SENT_AT:
        raise _bad(f"{name} must be a non-negative integer")
    return value


def _stamp_count(value: Any) -> int | None:
    """`n` as stored: rows from before it was declared may hold anything (read as not given)."""
    return value if type(value) is int and value >= 0 else None


def _run(value: Any, name: str) -> str:
    return _text(value, name, MAX_RUN_TAG)


def _timestamp(value: Any, name: str) -> int | float | str:
    """A client's timestamp: a finite number (ms since the epoch) or a short string."""
    if isinstance(value, str):
        return _text(value, name, MAX_ID_LENGTH)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{name} must be a number or a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{name} must be a finite number")
    return value


def _encoded(value: Any, name: str, max_bytes: int) -> str:
    """Compact JSON of `value` (finite numbers only), at most `max_bytes` of UTF-8."""
    try:
        encoded = dumps(value)
    except ProtocolError:
        raise _bad(f"{name} must be JSON (finite numbers)") from None
    if _utf8_length_over(encoded, max_bytes):
        raise EventError(ErrorCode.TOO_LARGE, f"{name} exceeds {max_bytes} bytes")
    return encoded


def _utf8_length_over(text: str, max_bytes: int) -> bool:
    # a character is at most 4 bytes: short texts are not encoded just to be measured
    return len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes


# ------------------------------------------------------------- shape checking
# The client's side: what the server sent, type-checked. Lean: no limits re-checked.
def _payload(args: list[Any], name: str) -> dict[str, Any]:
    """The first argument of a server event: an object."""
    if not args or not isinstance(args[0], dict):
        raise _bad(f"{name}: the argument must be an object")
    return args[0]


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{key} must be an integer")
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{key} must be a number")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _str(data, key)


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _bad(f"{key} must be an object")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list | tuple):
        raise _bad(f"{key} must be a list")
    return list(value)


def _ack_body(ack: Any) -> dict[str, Any]:
    """The fields of a successful ack; a refusal is raised as the server's `EventError`."""
    if not isinstance(ack, dict):
        raise _bad("an ack is an object")
    if ack.get("ok") is True:
        return ack
    error = ack.get("error")
    if not isinstance(error, dict):
        raise _bad("a refused ack carries {error: {code, message}}")
    raw, message = error.get("code"), str(error.get("message", ""))
    try:
        code = ErrorCode(str(raw))
    except ValueError:
        code, message = ErrorCode.INTERNAL, f"unknown error code {raw!r}: {message}"
    raise EventError(code, message)


# ---------------------------------------------------------------- value types
@dataclass(frozen=True, slots=True)
class User:
    """A user as rooms list them (the tutorial's presence panel renders these)."""

    id: str
    name: str
    status: PresenceStatus
    last_seen: int  # ms since the epoch

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "lastSeen": self.last_seen}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        user = _object(data, "user")
        status = _status(user.get("status"))
        return cls(_str(user, "id"), _str(user, "name"), status, _int(user, "lastSeen"))


def _users(values: list[Any]) -> tuple[User, ...]:
    return tuple(User.from_json(u) for u in values)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message as stored, replayed in join acks, and broadcast: it is the whole
    argument of `receive-message`, so this class is that event too.

    `timestamp` is the client's (ms since the epoch, or a string) or the
    server's clock when the client gave none; None only in rows stored before
    the catalogue, which kept whatever a client sent. `sent_at` and `run` are
    load-generator stamps, relayed unchanged.
    """

    name: ClassVar[str] = EventName.RECEIVE_MESSAGE

    id: str
    user_id: str
    user_name: str
    text: str
    timestamp: int | float | str | None
    seq: int  # the room's sequence number: one more per message
    sent_at: SentAt | None = None
    run: str | None = None
    n: int | None = None  # the sender's message count (a load-generator stamp)

    def to_json(self) -> dict[str, Any]:
        message = {
            "id": self.id,
            "userId": self.user_id,
            "userName": self.user_name,
            "text": self.text,
            "timestamp": self.timestamp,
            "seq": self.seq,
        }
        if self.sent_at is not None:
            message["sentAt"] = self.sent_at
        if self.run is not None:
            message["run"] = self.run
        if self.n is not None:
            message["n"] = self.n
        return message

    def to_args(self) -> list[Any]:
        return [self.to_json()]

    def encode(self) -> str:
        """The stored row and the broadcast's argument, encoded once: `too_large` over 48 KiB."""
        return _encoded(self.to_json(), "the message", MAX_MESSAGE_BYTES)

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls.from_json(args[0] if args else None)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        # every bot parses every delivery: exact type checks inline, details on failure
        if type(data) is dict:
            get = data.get
            id_, user, name, text = get("id"), get("userId"), get("userName"), get("text")
            timestamp, seq, sent_at, run = get("timestamp"), get("seq"), get("sentAt"), get("run")
            n = get("n")
            if (
                type(id_) is str
                and type(user) is str
                and type(name) is str
                and type(text) is str
                and type(seq) is int
                and (timestamp is None or type(timestamp) in (int, str, float))
                and (sent_at is None or type(sent_at) in (int, float))
                and (run is None or type(run) is str)
                and (n is None or type(n) is int)
            ):
                return cls(id_, user, name, text, timestamp, seq, sent_at, run, n)
        return cls._from_json_checked(data)

    @classmethod
    def _from_json_checked(cls, data: Any) -> Self:
        message = _object(data, "message")
        # Rows stored before the catalogue kept these three unchecked: a value of
        # another type reads as "not given" rather than hiding the room's history.
        timestamp, sent_at, run = (
            message.get("timestamp"),
            message.get("sentAt"),
            message.get("run"),
        )
        return cls(
            _str(message, "id"),
            _str(message, "userId"),
            _str(message, "userName"),
            _str(message, "text"),
            timestamp if _is_number(timestamp) or isinstance(timestamp, str) else None,
            _int(message, "seq"),
            sent_at if _is_number(sent_at) else None,
            run if isinstance(run, str) else None,
            _stamp_count(message.get("n")),
        )


@dataclass(frozen=True, slots=True)
class PlayerState:
    """One player in a game snapshot; `last_seq` is the newest input the state reflects."""

    x: float
    y: float
    last_seq: int  # -1 before the first input

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "lastSeq": self.last_seq}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        player = _object(data, "player")
        return cls(_number(player, "x"), _number(player, "y"), _int(player, "lastSeq"))


# ------------------------------------------------------------------ replies
@dataclass(frozen=True, slots=True)
class Ok:
    """An ack with nothing but ``ok: true``."""

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        _ack_body(ack)
        return cls()


@dataclass(frozen=True, slots=True)
class RoomReply:
    """`leave-room`, `rtc-leave`: the room the ack is about."""

    room_id: str

    def to_json(self) -> dict[str, Any]:
        return {"roomId": self.room_id}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(_str(_ack_body(ack), "roomId"))


@dataclass(frozen=True, slots=True)
class DocumentReply:
    """`leave-document`: the document the ack is about."""

    document_id: str

    def to_json(self) -> dict[str, Any]:
        return {"documentId": self.document_id}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(_str(_ack_body(ack), "documentId"))


# ------------------------------------------------------------------ chat rooms
@dataclass(frozen=True, slots=True)
class JoinRoomReply:
    """The room's users (the full list, never truncated) and its recent history, oldest first."""

    room_id: str
    users: tuple[User, ...]
    user_count: int
    history: tuple[ChatMessage, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "roomId": self.room_id,
            "users": [u.to_json() for u in self.users],
            "userCount": self.user_count,
            "history": [m.to_json() for m in self.history],
        }

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(
            _str(body, "roomId"),
            _users(_list(body, "users")),
            _int(body, "userCount"),
            tuple(ChatMessage.from_json(m) for m in _list(body, "history")),
        )


@dataclass(frozen=True, slots=True)
class _RoomAndUser:
    """`join-room`, `leave-room`, `typing`: the tutorial's `roomId, userId` arguments."""

    name: ClassVar[str]

    room_id: str
    user_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(
            _identifier(_arg(args, 0, "roomId"), "roomId"),
            _identifier(_arg(args, 1, "userId"), "userId"),
        )

    def to_args(self) -> list[Any]:
        return [self.room_id, self.user_id]


@dataclass(frozen=True, slots=True)
class JoinRoom(_RoomAndUser):
    name: ClassVar[str] = EventName.JOIN_ROOM
    reply: ClassVar[type[JoinRoomReply]] = JoinRoomReply


@dataclass(frozen=True, slots=True)
class LeaveRoom(_RoomAndUser):
    """`not_found` if the connection is not in the room."""

    name: ClassVar[str] = EventName.LEAVE_ROOM
    reply: ClassVar[type[RoomReply]] = RoomReply


@dataclass(frozen=True, slots=True)
class Typing(_RoomAndUser):
    """Heard by the room as `user-typing` (volatile)."""

    name: ClassVar[str] = EventName.TYPING
    reply: ClassVar[type[Ok]] = Ok


@dataclass(frozen=True, slots=True)
class SendMessageReply:
    """The message's place in the room, sent once it is committed; `duplicate`: a retry."""

    seq: int
    id: str
    duplicate: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.duplicate:
            return {"seq": self.seq, "id": self.id, "duplicate": True}
        return {"seq": self.seq, "id": self.id}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(_int(body, "seq"), _str(body, "id"), body.get("duplicate") is True)


@dataclass(frozen=True, slots=True)
class SendMessage:
    """A chat message from a client: only `text` is required.

    None means "not given": the server then fills in the id (`<room>#<seq>`), the
    connection's user and name, and its clock. `sent_at` and `run` are
    load-generator stamps, relayed unchanged; any other key is dropped.
    """

    name: ClassVar[str] = EventName.SEND_MESSAGE
    reply: ClassVar[type[SendMessageReply]] = SendMessageReply

    room_id: str
    text: str
    id: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    timestamp: int | float | str | None = None
    sent_at: SentAt | None = None
    run: str | None = None
    n: int | None = None  # the sender's message count (a load-generator stamp)

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        # The hot path: a well-formed message passes exact type checks inline; anything
        # else takes `_parse_checked` (the rules spelled out), which accepts all this
        # accepts and refuses the rest with the precise error. A test holds them equal.
        if len(args) > 1 and type(args[1]) is dict:
            room, body, limit = args[0], args[1], MAX_ID_LENGTH
            get = body.get
            id_, user, name = get("id"), get("userId"), get("userName")
            text, timestamp, sent_at, run = get("text"), get("timestamp"), get("sentAt"), get("run")
            n = get("n")
            if (
                (type(room) is str and 0 < len(room) <= limit)
                and (type(text) is str and len(text) <= MAX_TEXT)
                and (id_ is None or (type(id_) is str and 0 < len(id_) <= limit))
                and ((type(user) is str and 0 < len(user) <= limit) or "userId" not in body)
                and ((type(name) is str and len(name) <= limit) or "userName" not in body)
                and (timestamp is None or type(timestamp) is int)
                and (
                    sent_at is None
                    or (type(sent_at) in (int, float) and 0 <= sent_at < MAX_SENT_AT)
                )
                and (run is None or (type(run) is str and len(run) <= MAX_RUN_TAG))
                and (n is None or (type(n) is int and 0 <= n < MAX_SENT_AT))
            ):
                return cls(room, text, id_, user, name, timestamp, sent_at, run, n)
        return cls._parse_checked(args)

    @classmethod
    def _parse_checked(cls, args: list[Any]) -> Self:
        room_id = _identifier(_arg(args, 0, "roomId"), "roomId")
        body = _object(_arg(args, 1, "message"), "message")
        get = body.get
        # "userId": null is refused; a missing one means the connection's user
        user_id = _identifier(body["userId"], "message.userId") if "userId" in body else None
        raw_id = get("id")
        message_id = _identifier(raw_id, "message.id") if raw_id else None
        user_name = (
            _text(body["userName"], "userName", MAX_ID_LENGTH) if "userName" in body else None
        )
        text = _text(get("text"), "message.text", MAX_TEXT)
        timestamp = get("timestamp")
        if timestamp is not None:
            timestamp = _timestamp(timestamp, "message.timestamp")
        sent_at = get("sentAt")
        if sent_at is not None:
            sent_at = _sent_at(sent_at, "message.sentAt")
        run = get("run")
        if run is not None:
            run = _run(run, "message.run")
        n = get("n")
        if n is not None:
            n = _count(n, "message.n")
        return cls(room_id, text, message_id, user_id, user_name, timestamp, sent_at, run, n)

    def to_args(self) -> list[Any]:
        message: dict[str, Any] = {"text": self.text}
        for key, value in (
            ("id", self.id),
            ("userId", self.user_id),
            ("userName", self.user_name),
            ("timestamp", self.timestamp),
            ("sentAt", self.sent_at),
            ("run", self.run),
            ("n", self.n),
        ):
            if value is not None:
                message[key] = value
        return [self.room_id, message]

    def sender(self, connection_user: str | None) -> str:
        """Who the message is from: its `userId`, else the connection's user."""
        user_id = self.user_id if self.user_id is not None else connection_user
        if user_id is None:
            raise _bad("message.userId must be a non-empty string")
        return user_id

    def to_message(
        self, *, id: str, seq: int, user_id: str, default_user_name: str, now_ms: int
    ) -> ChatMessage:
        """The stored and broadcast message: the client's fields, the server's defaults."""
        return ChatMessage(
            id,
            user_id,
            default_user_name if self.user_name is None else self.user_name,
            self.text,
            now_ms if self.timestamp is None else self.timestamp,
            seq,
            self.sent_at,
            self.run,
            self.n,
        )


@dataclass(frozen=True, slots=True)
class _Membership:
    """`user-joined` / `user-left`: `users` lists at most the room's limit, `user_count` all."""

    name: ClassVar[str]

    user_id: str
    users: tuple[User, ...]
    user_count: int
    users_truncated: bool = False

    @classmethod
    def listing(cls, user_id: str, users: list[User] | tuple[User, ...], limit: int) -> Self:
        """The broadcast for a room of `users`: a large room's list is cut to `limit`."""
        if len(users) > limit:
            return cls(user_id, tuple(users[:limit]), len(users), True)
        return cls(user_id, tuple(users), len(users))

    def to_args(self) -> list[Any]:
        payload: dict[str, Any] = {
            "userId": self.user_id,
            "users": [u.to_json() for u in self.users],
            "userCount": self.user_count,
        }
        if self.users_truncated:
            payload["usersTruncated"] = True
        return [payload]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, cls.name)
        return cls(
            _str(body, "userId"),
            _users(_list(body, "users")),
            _int(body, "userCount"),
            body.get("usersTruncated") is True,
        )


@dataclass(frozen=True, slots=True)
class UserJoined(_Membership):
    """To the room, not the joiner; once per user (a second tab joins silently)."""

    name: ClassVar[str] = EventName.USER_JOINED


@dataclass(frozen=True, slots=True)
class UserLeft(_Membership):
    """When the user's last socket in the room leaves or disconnects."""

    name: ClassVar[str] = EventName.USER_LEFT


@dataclass(frozen=True, slots=True)
class UserTyping:
    """Volatile: dropped for a congested connection."""

    name: ClassVar[str] = EventName.USER_TYPING

    user_id: str

    def to_args(self) -> list[Any]:
        return [self.user_id]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        if not args or not isinstance(args[0], str):
            raise _bad("user-typing carries a userId string")
        return cls(args[0])


# -------------------------------------------------------------------- presence
@dataclass(frozen=True, slots=True)
class PresenceUpdateReply:
    user: User

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json()}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(User.from_json(_ack_body(ack).get("user")))


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """A client's status; without `room_id` every room the user is in hears it."""

    name: ClassVar[str] = EventName.PRESENCE_UPDATE
    reply: ClassVar[type[PresenceUpdateReply]] = PresenceUpdateReply

    user_id: str
    status: PresenceStatus
    room_id: str | None = None

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _object(_arg(args, 0, "presence"), "presence")
        user_id = _identifier(body.get("userId"), "userId")
        status = _status(body.get("status"))
        room_id = body.get("roomId")
        return cls(user_id, status, None if room_id is None else _identifier(room_id, "roomId"))

    def to_args(self) -> list[Any]:
        body = {"userId": self.user_id, "status": self.status}
        if self.room_id is not None:
            body["roomId"] = self.room_id
        return [body]


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """`presence-update` from the server: to the rooms that hear the user, not the sender."""

    name: ClassVar[str] = EventName.PRESENCE_UPDATE

    user_id: str
    status: PresenceStatus
    last_seen: int  # ms since the epoch

    def to_args(self) -> list[Any]:
        return [{"userId": self.user_id, "status": self.status, "lastSeen": self.last_seen}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "presence-update")
        return cls(_str(body, "userId"), _status(body.get("status")), _int(body, "lastSeen"))


# ---------------------------------------------------------- collaborative documents
@dataclass(frozen=True, slots=True)
class JoinDocumentReply:
    """The document as a late joiner needs it; `state` is strategy-specific."""

    document_id: str
    strategy: str
    content: str
    revision: int
    state: JSON
    cursors: dict[str, JSON]  # userId -> position

    def to_json(self) -> dict[str, Any]:
        return {
            "documentId": self.document_id,
            "strategy": self.strategy,
            "content": self.content,
            "revision": self.revision,
            "state": self.state,
            "cursors": dict(self.cursors),
        }

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(
            _str(body, "documentId"),
            _str(body, "strategy"),
            _str(body, "content"),
            _int(body, "revision"),
            body.get("state"),
            _dict(body, "cursors"),
        )


@dataclass(frozen=True, slots=True)
class JoinDocument:
    """`strategy` (first joiner only) must name a registered strategy: the handler checks."""

    name: ClassVar[str] = EventName.JOIN_DOCUMENT
    reply: ClassVar[type[JoinDocumentReply]] = JoinDocumentReply

    document_id: str
    user_id: str
    strategy: str | None = None

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        document_id, user_id = _document_and_user(args)
        options = _object(args[2], "options") if len(args) > 2 and args[2] is not None else {}
        strategy = options.get("strategy")
        if strategy is not None:
            strategy = _identifier(strategy, "strategy")
        return cls(document_id, user_id, strategy)

    def to_args(self) -> list[Any]:
        if self.strategy is None:
            return [self.document_id, self.user_id]
        return [self.document_id, self.user_id, {"strategy": self.strategy}]


@dataclass(frozen=True, slots=True)
class LeaveDocument:
    name: ClassVar[str] = EventName.LEAVE_DOCUMENT
    reply: ClassVar[type[DocumentReply]] = DocumentReply

    document_id: str
    user_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(*_document_and_user(args))

    def to_args(self) -> list[Any]:
        return [self.document_id, self.user_id]


def _document_and_user(args: list[Any]) -> tuple[str, str]:
    return (
        _identifier(_arg(args, 0, "documentId"), "documentId"),
        _identifier(_arg(args, 1, "userId"), "userId"),
    )


@dataclass(frozen=True, slots=True)
class DocumentChangeReply:
    """Sent once the change is committed: the strategy's own ack fields (OT: `{rev}`)."""

    document_id: str
    ack: dict[str, JSON] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"documentId": self.document_id, **self.ack}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        rest = {k: v for k, v in body.items() if k not in ("ok", "documentId")}
        return cls(_str(body, "documentId"), rest)


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """A strategy-specific change: an object the document's strategy validates.

    The edge checks only that it is an object of JSON with finite numbers; every
    strategy refuses anything else. `encoded` is its compact JSON, computed once
    here: the op log stores exactly that. A `userId` inside the change must be
    the connection's user: the handler checks it.
    """

    name: ClassVar[str] = EventName.DOCUMENT_CHANGE
    reply: ClassVar[type[DocumentChangeReply]] = DocumentChangeReply

    document_id: str
    change: dict[str, JSON]
    encoded: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.change, dict):
            raise _bad("change must be an object")
        try:
            encoded = dumps(self.change)
        except ProtocolError:
            raise _bad("change must be JSON (finite numbers only)") from None
        object.__setattr__(self, "encoded", encoded)

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        document_id = _identifier(_arg(args, 0, "documentId"), "documentId")
        return cls(document_id, _arg(args, 1, "change"))

    def to_args(self) -> list[Any]:
        return [self.document_id, self.change]


@dataclass(frozen=True, slots=True)
class DocumentChanged:
    """`document-change` from the server: the change as the strategy broadcasts it."""

    name: ClassVar[str] = EventName.DOCUMENT_CHANGE

    document_id: str
    change: dict[str, JSON]

    def to_args(self) -> list[Any]:
        return [{**self.change, "documentId": self.document_id}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "document-change")
        change = {k: v for k, v in body.items() if k != "documentId"}
        return cls(_str(body, "documentId"), change)


@dataclass(frozen=True, slots=True)
class CursorUpdate:
    """A caret: a raw index, an element id, null... (strategy-specific, at most 1 KiB)."""

    name: ClassVar[str] = EventName.CURSOR_UPDATE
    reply: ClassVar[type[Ok]] = Ok

    document_id: str
    position: JSON  # None is a position too: a CRDT caret at the very start
    user_id: str | None = None  # None: the connection's user

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        document_id = _identifier(_arg(args, 0, "documentId"), "documentId")
        body = _object(_arg(args, 1, "cursor"), "cursor")
        user_id = _identifier(body["userId"], "userId") if "userId" in body else None
        if "position" not in body:
            raise _bad("cursor.position is required")
        return cls(document_id, _cursor_position(body["position"]), user_id)

    def to_args(self) -> list[Any]:
        if self.user_id is None:
            return [self.document_id, {"position": self.position}]
        return [self.document_id, {"userId": self.user_id, "position": self.position}]

    def sender(self, connection_user: str | None) -> str:
        """Whose cursor: its `userId`, else the connection's user."""
        user_id = self.user_id if self.user_id is not None else connection_user
        if user_id is None:
            raise _bad("userId must be a non-empty string")
        return user_id


def _cursor_position(position: Any) -> JSON:
    """A number, null, a string or a small JSON value: it is kept and sent in every join ack."""
    if isinstance(position, bool):
        raise _bad("cursor.position must not be a boolean")
    if isinstance(position, int) and position < 0:
        raise _bad("cursor.position must not be negative")
    _encoded(position, "cursor.position", MAX_CURSOR_BYTES)
    return position


@dataclass(frozen=True, slots=True)
class CursorMoved:
    """`cursor-update` from the server; volatile. `left`: the user left, drop the caret."""

    name: ClassVar[str] = EventName.CURSOR_UPDATE

    document_id: str
    user_id: str
    position: JSON
    left: bool = False

    def to_args(self) -> list[Any]:
        body = {"documentId": self.document_id, "userId": self.user_id, "position": self.position}
        if self.left:
            body["left"] = True
        return [body]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "cursor-update")
        return cls(
            _str(body, "documentId"),
            _str(body, "userId"),
            body.get("position"),
            body.get("left") is True,
        )


# --------------------------------------------------------------- notifications
@dataclass(frozen=True, slots=True)
class NotifyReply:
    """`delivered` counts sockets reached; `seq` only for a notification to a user."""

    id: str
    delivered: int
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.seq is None:
            return {"id": self.id, "delivered": self.delivered}
        return {"id": self.id, "seq": self.seq, "delivered": self.delivered}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(_str(body, "id"), _int(body, "delivered"), _optional_int(body, "seq"))


@dataclass(frozen=True, slots=True)
class Notify:
    """A notification to send: to one user, one chat room, or everyone (exactly one).

    The same body arrives as the `notify` event (admin connections) and as the
    JSON of `POST /notify` (`from_body`).
    """

    name: ClassVar[str] = EventName.NOTIFY
    reply: ClassVar[type[NotifyReply]] = NotifyReply

    user_id: str | None = None
    room_id: str | None = None
    everyone: bool = False  # `all: true` on the wire
    type: NotificationType = NotificationType.INFO
    title: str = ""
    message: str = ""

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls._parse(args[0] if args else None, "notification")

    @classmethod
    def from_body(cls, body: Any) -> Self:
        """The body of `POST /notify`."""
        return cls._parse(body, "body")

    @classmethod
    def _parse(cls, value: Any, name: str) -> Self:
        body = _object(value, name)
        # `userId: 0` or `all: false` name no target, as they always did
        targets = [k for k in ("userId", "roomId", "all") if body.get(k) not in (None, False)]
        if len(targets) != 1:
            raise _bad("name exactly one target: userId, roomId or all")
        kind = _notification_type(body.get("type", "info"))
        title = _text(body.get("title", ""), "title", MAX_TITLE)
        message = _text(body.get("message", ""), "message", MAX_NOTE)
        if body.get("userId") is not None:
            return cls(_identifier(body["userId"], "userId"), None, False, kind, title, message)
        if body.get("roomId") is not None:
            return cls(None, _identifier(body["roomId"], "roomId"), False, kind, title, message)
        if body.get("all") is not True:
            raise _bad("all must be true")
        return cls(None, None, True, kind, title, message)

    def to_json(self) -> dict[str, Any]:
        """The body of `POST /notify` (and of the `notify` event)."""
        body: dict[str, Any] = {}
        if self.user_id is not None:
            body["userId"] = self.user_id
        if self.room_id is not None:
            body["roomId"] = self.room_id
        if self.everyone:
            body["all"] = True
        body.update(type=self.type, title=self.title, message=self.message)
        return body

    def to_args(self) -> list[Any]:
        return [self.to_json()]


@dataclass(frozen=True, slots=True)
class Notification:
    """To every connection of a user, a chat room, or everyone.

    Only notifications to a user carry `user_id` and their per-user `seq`;
    `replayed` marks the backlog a new connection receives.
    """

    name: ClassVar[str] = EventName.NOTIFICATION

    id: str
    type: NotificationType
    title: str
    message: str
    timestamp: int  # ms since the epoch
    user_id: str | None = None
    seq: int | None = None
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        note: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "message": self.message,
            "timestamp": self.timestamp,
        }
        if self.user_id is not None:
            note["userId"] = self.user_id
        if self.seq is not None:
            note["seq"] = self.seq
        if self.replayed:
            note["replayed"] = True
        return note

    def to_args(self) -> list[Any]:
        return [self.to_json()]

    @classmethod
    def from_json(cls, data: Any) -> Self:
        note = _object(data, "notification")
        return cls(
            _str(note, "id"),
            _notification_type(note.get("type")),
            _str(note, "title"),
            _str(note, "message"),
            _int(note, "timestamp"),
            _optional_str(note, "userId"),
            _optional_int(note, "seq"),
            note.get("replayed") is True,
        )

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls.from_json(args[0] if args else None)


# ------------------------------------------------------------------ dashboards
@dataclass(frozen=True, slots=True)
class SubscribeDashboardReply:
    """`metrics` is the latest snapshot (None before the first tick)."""

    dashboard_id: str
    interval_ms: float
    metrics: dict[str, JSON] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "dashboardId": self.dashboard_id,
            "intervalMs": self.interval_ms,
            "metrics": self.metrics,
        }

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        metrics = None if body.get("metrics") is None else _dict(body, "metrics")
        return cls(_str(body, "dashboardId"), _number(body, "intervalMs"), metrics)


@dataclass(frozen=True, slots=True)
class DashboardReply:
    """`unsubscribe-dashboard`: the dashboard the ack is about."""

    dashboard_id: str

    def to_json(self) -> dict[str, Any]:
        return {"dashboardId": self.dashboard_id}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(_str(_ack_body(ack), "dashboardId"))


@dataclass(frozen=True, slots=True)
class SubscribeDashboard:
    """`ack`: the next update only after the client acked the previous one."""

    name: ClassVar[str] = EventName.SUBSCRIBE_DASHBOARD
    reply: ClassVar[type[SubscribeDashboardReply]] = SubscribeDashboardReply

    dashboard_id: str
    ack: bool = False

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        dashboard_id = _identifier(_arg(args, 0, "dashboardId"), "dashboardId")
        # options that are not an object are ignored, as they always were
        options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        return cls(dashboard_id, options.get("ack") is True)

    def to_args(self) -> list[Any]:
        return [self.dashboard_id, {"ack": True}] if self.ack else [self.dashboard_id]


@dataclass(frozen=True, slots=True)
class UnsubscribeDashboard:
    name: ClassVar[str] = EventName.UNSUBSCRIBE_DASHBOARD
    reply: ClassVar[type[DashboardReply]] = DashboardReply

    dashboard_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(_identifier(_arg(args, 0, "dashboardId"), "dashboardId"))

    def to_args(self) -> list[Any]:
        return [self.dashboard_id]


@dataclass(frozen=True, slots=True)
class DashboardUpdate:
    """Coalesced: a slow subscriber gets the newest snapshot, never a backlog."""

    name: ClassVar[str] = EventName.DASHBOARD_UPDATE

    dashboard_id: str
    ts: int  # ms since the epoch
    metrics: dict[str, JSON]

    def to_args(self) -> list[Any]:
        return [{"dashboardId": self.dashboard_id, "ts": self.ts, "metrics": self.metrics}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "dashboard-update")
        return cls(_str(body, "dashboardId"), _int(body, "ts"), _dict(body, "metrics"))


# ------------------------------------------------------------- multiplayer game
@dataclass(frozen=True, slots=True)
class GameState:
    """A full snapshot every tick; volatile (a slow reader skips ticks)."""

    name: ClassVar[str] = EventName.GAME_STATE

    game_id: str
    tick: int
    ts: int  # ms since the epoch, when the tick was sent
    players: dict[str, PlayerState]

    def to_json(self) -> dict[str, Any]:
        return {
            "gameId": self.game_id,
            "tick": self.tick,
            "ts": self.ts,
            "players": {pid: p.to_json() for pid, p in self.players.items()},
        }

    def to_args(self) -> list[Any]:
        return [self.to_json()]

    @classmethod
    def from_json(cls, data: Any) -> Self:
        state = _object(data, "game-state")
        players = {pid: PlayerState.from_json(p) for pid, p in _dict(state, "players").items()}
        return cls(_str(state, "gameId"), _int(state, "tick"), _int(state, "ts"), players)

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls.from_json(args[0] if args else None)


@dataclass(frozen=True, slots=True)
class JoinGameReply:
    """The game as it is now, and the loop's rate (ticks per second)."""

    state: GameState
    tick_rate: float

    def to_json(self) -> dict[str, Any]:
        return {**self.state.to_json(), "tickRate": self.tick_rate}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(GameState.from_json(body), _number(body, "tickRate"))


@dataclass(frozen=True, slots=True)
class GameReply:
    """`leave-game`: the game the ack is about."""

    game_id: str

    def to_json(self) -> dict[str, Any]:
        return {"gameId": self.game_id}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(_str(_ack_body(ack), "gameId"))


@dataclass(frozen=True, slots=True)
class PlayerInputReply:
    """The input is queued for the next tick (`tick` is the current one)."""

    seq: int
    tick: int

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "tick": self.tick}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(_int(body, "seq"), _int(body, "tick"))


@dataclass(frozen=True, slots=True)
class JoinGame:
    name: ClassVar[str] = EventName.JOIN_GAME
    reply: ClassVar[type[JoinGameReply]] = JoinGameReply

    game_id: str
    player_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(
            _identifier(_arg(args, 0, "gameId"), "gameId"),
            _identifier(_arg(args, 1, "playerId"), "playerId"),
        )

    def to_args(self) -> list[Any]:
        return [self.game_id, self.player_id]


@dataclass(frozen=True, slots=True)
class LeaveGame:
    name: ClassVar[str] = EventName.LEAVE_GAME
    reply: ClassVar[type[GameReply]] = GameReply

    game_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(_identifier(_arg(args, 0, "gameId"), "gameId"))

    def to_args(self) -> list[Any]:
        return [self.game_id]


@dataclass(frozen=True, slots=True)
class PlayerInput:
    """A move `{dx, dy}`, each clamped to [-1, 1] here; `seq` must grow (the game checks)."""

    name: ClassVar[str] = EventName.PLAYER_INPUT
    reply: ClassVar[type[PlayerInputReply]] = PlayerInputReply

    game_id: str
    seq: int
    dx: float = 0.0
    dy: float = 0.0

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        game_id = _identifier(_arg(args, 0, "gameId"), "gameId")
        body = _object(_arg(args, 1, "input"), "input")
        seq = body.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise _bad("input.seq must be a non-negative integer")
        move = body.get("input")
        if not isinstance(move, dict):
            raise _bad("input.input must be an object {dx, dy}")
        return cls(game_id, seq, _axis(move.get("dx", 0)), _axis(move.get("dy", 0)))

    def to_args(self) -> list[Any]:
        return [self.game_id, {"seq": self.seq, "input": {"dx": self.dx, "dy": self.dy}}]


def _axis(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:  # NaN
        raise _bad("dx and dy must be numbers")
    return max(-1.0, min(1.0, float(value)))


# ------------------------------------------------------------- WebRTC signaling
@dataclass(frozen=True, slots=True)
class RtcJoinReply:
    """`peer_id` is this socket's id; `peers` the others already in the room."""

    room_id: str
    peer_id: str
    peers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"roomId": self.room_id, "peerId": self.peer_id, "peers": list(self.peers)}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        peers = _list(body, "peers")
        if not all(isinstance(p, str) for p in peers):
            raise _bad("peers must be a list of strings")
        return cls(_str(body, "roomId"), _str(body, "peerId"), tuple(peers))


@dataclass(frozen=True, slots=True)
class _RtcRoom:
    name: ClassVar[str]

    room_id: str

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(_identifier(_arg(args, 0, "roomId"), "roomId"))

    def to_args(self) -> list[Any]:
        return [self.room_id]


@dataclass(frozen=True, slots=True)
class RtcJoin(_RtcRoom):
    """The others hear `rtc-peer-joined`."""

    name: ClassVar[str] = EventName.RTC_JOIN
    reply: ClassVar[type[RtcJoinReply]] = RtcJoinReply


@dataclass(frozen=True, slots=True)
class RtcLeave(_RtcRoom):
    """`not_found` if not in the room; the others hear `rtc-peer-left`."""

    name: ClassVar[str] = EventName.RTC_LEAVE
    reply: ClassVar[type[RoomReply]] = RoomReply


@dataclass(frozen=True, slots=True)
class _Peer:
    """`rtc-peer-joined` / `rtc-peer-left`: a peer is a socket id (and its user, if known)."""

    peer_id: str
    user_id: str | None = None

    def to_args(self) -> list[Any]:
        if self.user_id is None:
            return [{"peerId": self.peer_id}]
        return [{"peerId": self.peer_id, "userId": self.user_id}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "peer")
        return cls(_str(body, "peerId"), _optional_str(body, "userId"))


@dataclass(frozen=True, slots=True)
class RtcPeerJoined(_Peer):
    """To the RTC room, not the joiner."""

    name: ClassVar[str] = EventName.RTC_PEER_JOINED


@dataclass(frozen=True, slots=True)
class RtcPeerLeft(_Peer):
    """To the RTC room, on leave and on disconnect."""

    name: ClassVar[str] = EventName.RTC_PEER_LEFT


@dataclass(frozen=True, slots=True)
class SignalReply:
    """The signal went to `to` (a peer that is not in an RTC room with you: `not_found`)."""

    to: str

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        return cls(_str(_ack_body(ack), "to"))


@dataclass(frozen=True, slots=True)
class _Signal:
    """An offer, answer or ICE candidate for socket `to`; the server never parses `payload`.

    `payload` travels under `sdp` (offers, answers) or `candidate` (ICE), at most
    64 KiB as JSON. `id` lets an answer name the offer it answers; `sent_at` and
    `run` are load-generator stamps. All of them are relayed unchanged.
    """

    key: ClassVar[str]  # the payload's wire key

    to: str
    payload: JSON
    id: str | None = None
    sent_at: SentAt | None = None
    run: str | None = None

    def _body(self) -> dict[str, Any]:
        body = {"to": self.to, self.key: self.payload}
        if self.id is not None:
            body["id"] = self.id
        if self.sent_at is not None:
            body["sentAt"] = self.sent_at
        if self.run is not None:
            body["run"] = self.run
        return body

    @staticmethod
    def _fields(body: dict[str, Any], name: str, key: str) -> tuple[Any, ...]:
        """`to`, the payload and the optional stamps of a client's signal, validated."""
        to = _identifier(body.get("to"), "to")
        payload = body.get(key)
        if payload is None:
            raise _bad(f"{name} needs {key!r}")
        try:
            size = len(json.dumps(payload))  # ASCII-escaped: characters are bytes
        except (TypeError, ValueError):
            raise _bad(f"{key} must be JSON") from None
        if size > MAX_SIGNAL_BYTES:
            raise EventError(ErrorCode.TOO_LARGE, f"{key} exceeds {MAX_SIGNAL_BYTES} bytes")
        signal_id, sent_at, run = body.get("id"), body.get("sentAt"), body.get("run")
        return (
            to,
            payload,
            None if signal_id is None else _identifier(signal_id, "id"),
            None if sent_at is None else _sent_at(sent_at, "sentAt"),
            None if run is None else _run(run, "run"),
        )


@dataclass(frozen=True, slots=True)
class _RelayedSignal(_Signal):
    """A signal as its addressee receives it: `sender` (`from`) is the sending socket's id."""

    name: ClassVar[str]

    sender: str = field(kw_only=True)

    def to_args(self) -> list[Any]:
        return [{**self._body(), "from": self.sender}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, cls.name)
        sender = _str(body, "from")
        return cls(*cls._fields(body, cls.name, cls.key), sender=sender)


@dataclass(frozen=True, slots=True)
class RtcOfferRelayed(_RelayedSignal):
    name: ClassVar[str] = EventName.RTC_OFFER
    key: ClassVar[str] = "sdp"


@dataclass(frozen=True, slots=True)
class RtcAnswerRelayed(_RelayedSignal):
    name: ClassVar[str] = EventName.RTC_ANSWER
    key: ClassVar[str] = "sdp"


@dataclass(frozen=True, slots=True)
class RtcIceCandidateRelayed(_RelayedSignal):
    name: ClassVar[str] = EventName.RTC_ICE_CANDIDATE
    key: ClassVar[str] = "candidate"


@dataclass(frozen=True, slots=True)
class _ClientSignal(_Signal):
    name: ClassVar[str]
    reply: ClassVar[type[SignalReply]] = SignalReply
    relayed_as: ClassVar[type[_RelayedSignal]]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _object(_arg(args, 0, "signal"), "signal")
        return cls(*cls._fields(body, cls.name, cls.key))

    def to_args(self) -> list[Any]:
        return [self._body()]

    def relayed(self, sender: str) -> _RelayedSignal:
        """What the addressee receives: the same signal, `from` the sending socket."""
        return self.relayed_as(
            self.to, self.payload, self.id, self.sent_at, self.run, sender=sender
        )


@dataclass(frozen=True, slots=True)
class RtcOffer(_ClientSignal):
    name: ClassVar[str] = EventName.RTC_OFFER
    key: ClassVar[str] = "sdp"
    relayed_as: ClassVar[type[_RelayedSignal]] = RtcOfferRelayed


@dataclass(frozen=True, slots=True)
class RtcAnswer(_ClientSignal):
    name: ClassVar[str] = EventName.RTC_ANSWER
    key: ClassVar[str] = "sdp"
    relayed_as: ClassVar[type[_RelayedSignal]] = RtcAnswerRelayed


@dataclass(frozen=True, slots=True)
class RtcIceCandidate(_ClientSignal):
    name: ClassVar[str] = EventName.RTC_ICE_CANDIDATE
    key: ClassVar[str] = "candidate"
    relayed_as: ClassVar[type[_RelayedSignal]] = RtcIceCandidateRelayed


# ----------------------------------------------------------------- diagnostics
@dataclass(frozen=True, slots=True)
class MeasureRttReply:
    """The round trip of `rtt-probe`, and the client's answer to it (its ack arguments)."""

    rtt_ms: float
    reply: tuple[JSON, ...]

    def to_json(self) -> dict[str, Any]:
        return {"rttMs": self.rtt_ms, "reply": list(self.reply)}

    @classmethod
    def parse(cls, ack: Any) -> Self:
        body = _ack_body(ack)
        return cls(_number(body, "rttMs"), tuple(_list(body, "reply")))


@dataclass(frozen=True, slots=True)
class MeasureRtt:
    """One in flight per connection (`conflict` otherwise); takes no arguments."""

    name: ClassVar[str] = EventName.MEASURE_RTT
    reply: ClassVar[type[MeasureRttReply]] = MeasureRttReply

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls()

    def to_args(self) -> list[Any]:
        return []


@dataclass(frozen=True, slots=True)
class RttProbe:
    """Sent with an ack request; the client answers anything."""

    name: ClassVar[str] = EventName.RTT_PROBE

    ts: int  # ns since the epoch

    def to_args(self) -> list[Any]:
        return [{"ts": self.ts}]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        return cls(_int(_payload(args, "rtt-probe"), "ts"))


# ----------------------------------------------------------------------- errors
@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """`error`: a refused event sent without an ack request (`event` names it), or a
    document dropped from memory after a failed write (`document_id`: rejoin it)."""

    name: ClassVar[str] = EventName.ERROR

    code: ErrorCode
    message: str
    event: str | None = None
    document_id: str | None = None

    @classmethod
    def refusing(cls, event: str, error: EventError) -> Self:
        return cls(error.code, error.message, event)

    def to_args(self) -> list[Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.document_id is not None:
            body["documentId"] = self.document_id
        if self.event is not None:
            body["event"] = self.event
        return [body]

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        body = _payload(args, "error")
        try:
            code = ErrorCode(_str(body, "code"))
        except ValueError:
            raise _bad(f"unknown error code {body.get('code')!r}") from None
        return cls(
            code,
            _str(body, "message"),
            _optional_str(body, "event"),
            _optional_str(body, "documentId"),
        )


# --------------------------------------------------------------------- registry
CLIENT_EVENTS: dict[str, type[ClientEvent]] = {
    cls.name: cls
    for cls in (
        JoinRoom,
        LeaveRoom,
        SendMessage,
        Typing,
        PresenceUpdate,
        JoinDocument,
        LeaveDocument,
        DocumentChange,
        CursorUpdate,
        Notify,
        SubscribeDashboard,
        UnsubscribeDashboard,
        JoinGame,
        LeaveGame,
        PlayerInput,
        RtcJoin,
        RtcLeave,
        RtcOffer,
        RtcAnswer,
        RtcIceCandidate,
        MeasureRtt,
    )
}
"""Client → server events by wire name: the hub parses an event's arguments with these."""

SERVER_EVENTS: dict[str, type[ServerEvent]] = {
    cls.name: cls
    for cls in (
        UserJoined,
        UserLeft,
        ChatMessage,  # receive-message
        UserTyping,
        PresenceChanged,
        DocumentChanged,
        CursorMoved,
        Notification,
        DashboardUpdate,
        GameState,
        RtcPeerJoined,
        RtcPeerLeft,
        RtcOfferRelayed,
        RtcAnswerRelayed,
        RtcIceCandidateRelayed,
        RttProbe,
        ErrorEvent,
    )
}
"""Server → client events by wire name: clients parse what they receive with these."""
