"""What a refused event tells the client: an error code from a closed set, and a message.

The codes are the catalogue's (../shared/EVENTS.md, docs/events.md). A handler
raises `EventError`; the hub turns it into ``{"ok": false, "error": {code,
message}}`` in the ack, or into an `error` event when the client asked for no
ack. Codes are a `StrEnum`, so they compare and serialise as the plain strings
clients see on the wire.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"  # wrong argument shape or type, missing argument
    UNAUTHORIZED = "unauthorized"  # missing or invalid token (handshake)
    FORBIDDEN = "forbidden"  # acting as another user, a room not joined
    RATE_LIMITED = "rate_limited"  # the server sheds load or a per-connection cap is reached
    TOO_LARGE = "too_large"  # a field over its size limit
    NOT_FOUND = "not_found"  # unknown event, room, document, peer
    CONFLICT = "conflict"  # the state does not allow it now
    INTERNAL = "internal"  # a bug or a storage failure on our side (logged)


class EventError(Exception):
    """A handler refuses an event; the client gets `code` and `message`."""

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a code outside the closed set is our bug: ValueError
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
