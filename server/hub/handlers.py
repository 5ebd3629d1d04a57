"""How a handler is registered, and what its result means on the wire.

Three styles, one dispatch:

- **typed** (`hub.on(JoinRoom)`): the catalogue's events. The hub parses the
  arguments with the event type's `parse` (a refusal is an `EventError`), the
  handler gets the typed request and returns a typed reply (or a dict, or
  None); the client's ack is ``{"ok": true, **reply}``, a refusal
  ``{"ok": false, "error": {code, message}}`` or, without an ack request, an
  `error` event.
- **plain** (`hub.on("message")`): python-socketio's convention, for apps
  built on the library. The handler gets `(sock, *args)` and chooses its ack
  arguments: it returns a tuple (the arguments), a single value (one
  argument) or None (an empty ack). An `EventError` is answered as above.
- **args** (`hub.on_args("name")`): the envelope convention with the raw
  argument list, for handlers that validate their own arguments.

Either may return a `DeferredAck` to answer later (after a commit).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


class Style(enum.Enum):
    TYPED = "typed"
    PLAIN = "plain"
    ARGS = "args"

    __hash__ = object.__hash__  # singletons: identity hashing is exact and cheap


_TYPED, _PLAIN = Style.TYPED, Style.PLAIN  # bound once: Enum member reads are slow on 3.11


class ParsedEvent(Protocol):
    """A catalogue event type, as the hub uses it (see server.catalogue)."""

    name: ClassVar[str]

    @classmethod
    def parse(cls, args: list[Any]) -> Any: ...


class ServerEvent(Protocol):
    """A typed event the server sends (see server.catalogue): a name and its arguments."""

    name: ClassVar[str]

    def to_args(self) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Registration:
    handler: Callable[..., Awaitable[Any]]
    style: Style
    parse: Callable[[list[Any]], Any] | None = None
    # whether acks wrap the reply as ``{ok, ...}`` (the catalogue's convention); read per event
    wraps: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wraps", self.style is not Style.PLAIN)

    async def call(self, sock: Any, args: list[Any]) -> Any:
        """Run the handler on one event's arguments, in its style."""
        style = self.style
        if style is _TYPED:
            assert self.parse is not None
            return await self.handler(sock, self.parse(args))
        if style is _PLAIN:
            return await self.handler(sock, *args)
        return await self.handler(sock, args)


def envelope(result: Any) -> dict[str, Any]:
    """``{"ok": true, ...}`` around a typed reply, a dict, or nothing."""
    reply: dict[str, Any] = {"ok": True}
    if result is None:
        return reply
    to_json = getattr(result, "to_json", None)
    if to_json is not None:
        reply.update(to_json())
    else:
        reply.update(result)
    return reply


def ack_arguments(result: Any) -> list[Any]:
    """A plain handler's ack: a tuple is the argument list, None no argument, else one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]
