"""The load harness's vocabulary, declared once: the wire events it speaks, the metrics it records.

Two kinds of names cross module and process boundaries and must agree
everywhere: the Socket.IO events on the wire (the tutorial's names, which
`--event-map` may rename for a server that calls them otherwise) and the
metric names of the run directory (histograms, budgets, reports). Producers
and readers refer to these attributes rather than to string literals, so a
name is spelled in one place. Imports nothing: the trio bots, the Locust
users and the reports all read it.
"""

from __future__ import annotations

from typing import Final


class Wire:
    """Socket.IO events of the tutorial's chat, presence and editor (`../shared/EVENTS.md`)."""

    JOIN_ROOM: Final = "join-room"  # C→S roomId, userId
    LEAVE_ROOM: Final = "leave-room"  # C→S roomId, userId
    USER_JOINED: Final = "user-joined"  # S→C {userId, users} to the others
    USER_LEFT: Final = "user-left"  # S→C {userId, users} to the others
    SEND_MESSAGE: Final = "send-message"  # C→S roomId, message
    RECEIVE_MESSAGE: Final = "receive-message"  # S→C message, to the room, sender included
    TYPING: Final = "typing"  # C→S roomId, userId
    USER_TYPING: Final = "user-typing"  # S→C userId, to the others
    PRESENCE_UPDATE: Final = "presence-update"  # both ways (rtlab only)
    JOIN_DOCUMENT: Final = "join-document"  # C→S documentId, userId
    LEAVE_DOCUMENT: Final = "leave-document"  # C→S documentId, userId
    DOCUMENT_CHANGE: Final = "document-change"  # both ways, relayed to the document's room
    CURSOR_UPDATE: Final = "cursor-update"  # both ways, relayed to the document's room


#: The events `--event-map` may rename (every event the chat, presence and editor bots use).
MAPPABLE_EVENTS: Final = (
    Wire.JOIN_ROOM,
    Wire.LEAVE_ROOM,
    Wire.USER_JOINED,
    Wire.USER_LEFT,
    Wire.SEND_MESSAGE,
    Wire.RECEIVE_MESSAGE,
    Wire.TYPING,
    Wire.USER_TYPING,
    Wire.PRESENCE_UPDATE,
    Wire.JOIN_DOCUMENT,
    Wire.LEAVE_DOCUMENT,
    Wire.DOCUMENT_CHANGE,
    Wire.CURSOR_UPDATE,
)


class Metric:
    """Event names of the run directory (simulate/recording.py documents each)."""

    CONNECT: Final = "connect"
    CONNECT_QUEUE: Final = "connect.queue"
    ROOM_JOIN: Final = "room.join"  # join-room ack (rtlab profile)
    ROOM_REJOIN: Final = "room.rejoin"
    CHAT_ACK: Final = "chat.ack"  # send-message ack (rtlab profile)
    CHAT_ECHO: Final = "chat.echo"  # own message back: no clock sync needed
    CHAT_DELIVERY: Final = "chat.delivery"  # another member's message, one-way
    TYPING_DELIVERY: Final = "typing.delivery"
    PRESENCE_ACK: Final = "presence.ack"
    PRESENCE_DELIVERY: Final = "presence.delivery"
    # join-room / leave-room sent -> a member hears user-joined / user-left about it
    PRESENCE_JOINED: Final = "presence.joined"
    PRESENCE_LEFT: Final = "presence.left"
    RECONNECT_CLEAN: Final = "reconnect.clean"
    RECONNECT_ABRUPT: Final = "reconnect.abrupt"
    DOC_JOIN: Final = "doc.join"
    DOC_ACK: Final = "doc.ack"
    DOC_REMOTE: Final = "doc.remote"
    CURSOR_DELIVERY: Final = "cursor.delivery"  # a relayed cursor-update carrying sentAt


#: Metrics that time an ack: a server without rtlab's acks (the tutorial profile) has none.
ACK_METRICS: Final = (
    Metric.ROOM_JOIN,
    Metric.ROOM_REJOIN,
    Metric.CHAT_ACK,
    Metric.PRESENCE_ACK,
    Metric.DOC_JOIN,
    Metric.DOC_ACK,
)
#: Every metric timed by an ack (the catalogue's too): one sample proves the server acks.
ACKED_METRICS: Final = frozenset(
    {
        *ACK_METRICS,
        "notify.ack",
        "dashboard.subscribe",
        "game.join",
        "game.input",
        "rtc.join",
    }
)
#: Error kinds that mean no reply came at all (any other error kind was an ack refusing).
NO_REPLY_ERRORS: Final = frozenset({"timeout", "not_connected", "connection_lost"})
#: Metrics that only say a connection opened: they prove the server answered nothing else.
CONNECTION_METRICS: Final = (Metric.CONNECT, Metric.CONNECT_QUEUE)
