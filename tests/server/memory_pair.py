"""The bytes-only tier: a client and the reference server wired together in memory.

As h11's tests wire two connections together, these tests wire our client's
sans-io sessions (`simulate.client.SocketIOClient`, driving
`EngineClientSession` + `SocketIOClientConnection`) to the server's
(`server.protocol.engine_session.EngineServerSession` and the hub) through
the in-memory transport: every Engine.IO packet crosses as the same text or
bytes a WebSocket would carry, with no port, no socket and no thread. The
store is a real SQLite file.

    async with reference_server(tmp_path) as pair:
        async with pair.client(auth={"userId": "ann"}) as ann:
            reply = await ann.call("join-room", "lobby", "ann")
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from server.app import ReferenceServer
from server.config import ServerConfig
from simulate.client import SocketIOClient, connect
from simulate.link import NotConnected


class MemoryLink:
    """A client's end of an in-memory connection (implements simulate.link.Link)."""

    def __init__(self, server: ReferenceServer) -> None:
        self.closed = False
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes | None](math.inf)
        self.sent: list[str | bytes] = []  # every packet the client wrote, for assertions
        self._deliver = server.connect_in_memory(self._from_server)

    def _from_server(self, message: str | bytes | None) -> None:
        self._inbox_send.send_nowait(message)

    async def send(self, message: str | bytes) -> None:
        if self.closed:
            raise NotConnected("link closed")
        self.sent.append(message)
        self._deliver(message)
        await trio.lowlevel.checkpoint()

    async def messages(self) -> AsyncIterator[str | bytes]:
        async for message in self._inbox:
            if message is None:
                self.closed = True
                return
            yield message

    def abort(self) -> None:
        """Hang up without a goodbye, as a crashed tab would."""
        if not self.closed:
            self.closed = True
            self._deliver(None)

    async def aclose(self) -> None:
        self.abort()


class Pair:
    """The server, and a way to open clients to it."""

    def __init__(self, server: ReferenceServer) -> None:
        self.server = server

    @asynccontextmanager
    async def client(
        self, *, namespace: str = "/", auth: dict[str, Any] | None = None, **options: Any
    ) -> AsyncIterator[SocketIOClient]:
        async def open_link() -> MemoryLink:
            return MemoryLink(self.server)

        async with connect(
            "http://memory",
            namespace=namespace,
            auth=auth,
            link_factory=open_link,
            reconnect=False,
            **options,
        ) as client:
            yield client


@asynccontextmanager
async def reference_server(
    tmp_path: Path,
    *,
    features: Iterable[str] | None = None,
    background: bool = False,
    **config: Any,
) -> AsyncIterator[Pair]:
    """The reference server served in memory (heartbeat on), with a real SQLite file."""
    settings = {"db_path": str(tmp_path / "memory-pair.sqlite3"), **config}
    server = ReferenceServer(ServerConfig(**settings), features=features)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: server.serve_in_memory(
                background=background, task_status=task_status
            )
        )
        try:
            yield Pair(server)
        finally:
            nursery.cancel_scope.cancel()
