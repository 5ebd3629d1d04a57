"""The load harness's vocabulary, declared once: the events it may rename, the metrics it records.

Two kinds of names cross module and process boundaries and must agree
everywhere: the Socket.IO events on the wire and the metric names of the run
directory (histograms, budgets, reports). The wire events are the catalogue's
(`server.catalogue.EventName`: the tutorial's names, which `--event-map` may
rename for a server that calls them otherwise); the metrics are declared
here. Producers and readers refer to these attributes rather than to string
literals, so a name is spelled in one place. Imports only the catalogue (no
trio, no gevent): the trio bots, the Locust users and the reports all read it.
"""

from __future__ import annotations

from typing import Final

from server.catalogue import EventName

#: The events `--event-map` may rename: every event of the tutorial's chat, presence and
#: editor, which the chat, presence and editor bots use (their shapes stay the tutorial's).
MAPPABLE_EVENTS: Final = (
    EventName.JOIN_ROOM,  # C→S roomId, userId
    EventName.LEAVE_ROOM,  # C→S roomId, userId
    EventName.USER_JOINED,  # S→C {userId, users} to the others
    EventName.USER_LEFT,  # S→C {userId, users} to the others
    EventName.SEND_MESSAGE,  # C→S roomId, message
    EventName.RECEIVE_MESSAGE,  # S→C message, to the room, sender included
    EventName.TYPING,  # C→S roomId, userId
    EventName.USER_TYPING,  # S→C userId, to the others
    EventName.PRESENCE_UPDATE,  # both ways (rtlab only)
    EventName.JOIN_DOCUMENT,  # C→S documentId, userId
    EventName.LEAVE_DOCUMENT,  # C→S documentId, userId
    EventName.DOCUMENT_CHANGE,  # both ways, relayed to the document's room
    EventName.CURSOR_UPDATE,  # both ways, relayed to the document's room
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
