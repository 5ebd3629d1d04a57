"""Validation of event arguments at the edge: bad input becomes EventError("bad_request").

Handlers call these in their first lines and work with plain typed values
from there on; nothing past the edge re-checks shapes.
"""

from __future__ import annotations

from typing import Any

from server.hub import EventError, Socket

MAX_ID_LENGTH = 200


def arg(args: list[Any], index: int, name: str) -> Any:
    if index >= len(args):
        raise EventError("bad_request", f"missing argument {name!r} (position {index + 1})")
    return args[index]


def identifier(value: Any, name: str) -> str:
    """Room, user, document ids: non-empty strings (numbers are accepted and stringified)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventError("bad_request", f"{name} must be a non-empty string")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise EventError("bad_request", f"{name} must be 1..{MAX_ID_LENGTH} characters")
    return text


def mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventError("bad_request", f"{name} must be an object")
    return value


def text(value: Any, name: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise EventError("bad_request", f"{name} must be a string")
    if len(value) > max_length:
        raise EventError("too_large", f"{name} is longer than {max_length} characters")
    return value


def bind_user(sock: Socket, user_id: str) -> None:
    """A socket speaks for one user: the first id it uses, or the one its token proves."""
    if sock.user_id is None:
        sock.hub.identify(sock, user_id)
    elif sock.user_id != user_id:
        raise EventError("forbidden", f"this connection acts as {sock.user_id!r}, not {user_id!r}")
