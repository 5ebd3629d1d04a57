"""A trio Socket.IO client that speaks the server's event names (`--event-map`).

The bots are written against the tutorial's names (`send-message`,
`receive-message`, ...). A user's server may call them `chat:send` and
`chat:message`; with an `EventMap` this subclass renames every emit on the
way out and every incoming event on the way in, so no bot knows. It only
overrides public methods of `SocketIOClient` (`on`, `on_any`, `emit`,
`call`, `subscribe`); without a map the fleet uses the plain client, so the
hot path is unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from simulate.client import EventHandler, SocketIOClient
from simulate.target_profile import EventMap


class MappedSocketIOClient(SocketIOClient):
    def __init__(self, url: str, *, event_map: EventMap, **options: Any) -> None:
        super().__init__(url, **options)
        self.event_map = event_map

    def on(self, event: str, handler: EventHandler | None = None) -> Any:
        return super().on(self.event_map.wire(event), handler)

    def on_any(self, handler: Callable[[str, list[Any]], None]) -> None:
        local = self.event_map.local
        super().on_any(lambda event, args: handler(local(event), args))

    async def emit(self, event: str, *args: Any, ack: Callable[[Any], None] | None = None) -> None:
        await super().emit(self.event_map.wire(event), *args, ack=ack)

    async def call(self, event: str, *args: Any, timeout: float = 10.0) -> Any:
        return await super().call(self.event_map.wire(event), *args, timeout=timeout)

    @asynccontextmanager
    async def subscribe(
        self, *events: str, buffer: int = 10_000
    ) -> AsyncIterator[trio.MemoryReceiveChannel[tuple[str, list[Any]]]]:
        wire = [self.event_map.wire(e) for e in events]
        async with super().subscribe(*wire, buffer=buffer) as channel:
            yield channel


def make_client(url: str, event_map: EventMap, **options: Any) -> SocketIOClient:
    """The plain client, or the renaming one when the map renames anything."""
    if event_map:
        return MappedSocketIOClient(url, event_map=event_map, **options)
    return SocketIOClient(url, **options)
