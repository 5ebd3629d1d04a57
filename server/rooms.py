"""Hub room names of the catalogue's rooms.

Every feature shares the hub, so each prefixes its rooms (`chat:lobby`,
`doc:readme`, ...): a chat room and a document with the same id never meet.
Features that reach another feature's rooms (a notification to a chat room,
presence heard in chat rooms) name them through here, not by hand.
"""

from __future__ import annotations

CHAT = "chat:"
DOCUMENT = "doc:"
GAME = "game:"
RTC = "rtc:"


def chat_room(room_id: str) -> str:
    return CHAT + room_id


def document_room(document_id: str) -> str:
    return DOCUMENT + document_id


def game_room(game_id: str) -> str:
    return GAME + game_id


def rtc_room(room_id: str) -> str:
    return RTC + room_id


def is_chat_room(room: str) -> bool:
    return room.startswith(CHAT)
