"""Replies known only later: a handler's answer that waits for a commit.

The feature resolves a `DeferredAck` synchronously from the place where the
outcome becomes known (the store's commit callback, which runs in commit
order), so replies keep their order relative to broadcasts made at the same
point: OT clients rely on seeing their ack before any later broadcast. The
connection goes on reading meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.errors import EventError

Settle = Callable[[Any, EventError | None], None]


class DeferredAck:
    __slots__ = ("_outcome", "_send")

    def __init__(self) -> None:
        self._outcome: tuple[Any, EventError | None] | None = None
        self._send: Settle | None = None

    def resolve(self, reply: Any = None) -> None:
        """The answer: a typed reply (with `to_json`), a dict, or None."""
        self._settle(reply, None)

    def reject(self, error: EventError) -> None:
        self._settle(None, error)

    @property
    def settled(self) -> bool:
        return self._outcome is not None

    def _settle(self, reply: Any, error: EventError | None) -> None:
        if self._outcome is not None:
            return  # the first outcome stands
        self._outcome = (reply, error)
        if self._send is not None:
            self._send(reply, error)

    def bind(self, send: Settle) -> None:
        """The hub's side: how to deliver the outcome (now, if it is known already)."""
        self._send = send
        if self._outcome is not None:
            send(*self._outcome)
