"""The bytes-only tier: a client and the reference server wired together in memory.

As h11's tests wire two connections together, these tests wire our client's
sans-io sessions (`simulate.client.SocketIOClient`, driving
`EngineClientSession` + `SocketIOClientConnection`) to the server's
(`server.protocol.engine_session.EngineServerSession` and the hub) through
the in-memory transport: every Engine.IO packet crosses as the same text or
bytes a WebSocket would carry, with no port, no socket and no thread. The
store is a real SQLite file.

    async with reference_server(tmp_path) as pair:
        async with pair.client(auth={"userId": "ann"}) as ann, pair.client() as bob:
            reply = await ann.call("join-room", "lobby", "ann")
            await pair.settle()
            assert pair.heard(bob).events == []

Every client's events are recorded from its handshake on (`pair.heard(client)`,
a `Heard`), so a test asserts the exact payloads a client received, in order.
`pair.settle()` waits until every task is blocked: each packet in flight has
been handled on both ends, so "nobody else heard it" is an assertion, not a
hope. It does not wait for the store's commits (a thread) or a sleeping task
(the dashboard's and the game's ticks): wait for those with `Heard.wait_for`
or `wait_until`. `pair.socket(client)` is the server's `Socket` for a client.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
import trio.testing

from server.app import ReferenceServer
from server.config import ServerConfig
from server.hub import Hub, Socket
from simulate.client import SocketIOClient, connect
from simulate.link import NotConnected

WAIT = 5.0  # seconds any one condition may take before the test fails


class MemoryLink:
    """A client's end of an in-memory connection (implements simulate.link.Link)."""

    def __init__(self, server: ReferenceServer) -> None:
        self.closed = False
        self._inbox_send, self._inbox = trio.open_memory_channel[str | bytes | None](math.inf)
        self.sent: list[str | bytes] = []  # every packet the client wrote, for assertions
        self.received: list[str | bytes] = []  # every packet the server wrote to it
        self._deliver = server.connect_in_memory(self._from_server)

    def _from_server(self, message: str | bytes | None) -> None:
        if message is not None:
            self.received.append(message)
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


class Heard:
    """Every event one client received, in order, as `(event, args)`."""

    def __init__(self) -> None:
        self.events: list[tuple[str, list[Any]]] = []
        self._changed = trio.lowlevel.ParkingLot()

    def record(self, event: str, args: list[Any]) -> None:
        self.events.append((event, list(args)))
        self._changed.unpark_all()

    def of(self, event: str) -> list[Any]:
        """The payloads of `event`: its argument, or the argument list if it has several."""
        return [args[0] if len(args) == 1 else args for name, args in self.events if name == event]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Wait until `predicate()` holds, checking it whenever an event arrives."""
        with trio.fail_after(timeout):
            while not predicate():
                await self._changed.park()

    async def wait_for(self, event: str, count: int = 1, timeout: float = WAIT) -> list[Any]:
        """The payloads of `event`, once there are at least `count`."""
        await self.until(lambda: len(self.of(event)) >= count, timeout)
        return self.of(event)


class Pair:
    """The server, and a way to open clients to it."""

    def __init__(self, server: ReferenceServer) -> None:
        self.server = server
        self._heard: dict[SocketIOClient, Heard] = {}
        self._links: dict[SocketIOClient, MemoryLink] = {}

    @property
    def hub(self) -> Hub:
        return self.server.hub

    @asynccontextmanager
    async def client(
        self,
        *,
        namespace: str = "/",
        auth: dict[str, Any] | None = None,
        setup: Callable[[SocketIOClient], None] | None = None,
        **options: Any,
    ) -> AsyncIterator[SocketIOClient]:
        links: list[MemoryLink] = []

        async def open_link() -> MemoryLink:
            links.append(MemoryLink(self.server))
            return links[-1]

        heard = Heard()

        def record_then_setup(client: SocketIOClient) -> None:
            # before the handshake: what the server sends at once (a replay) is heard too
            client.on_any(heard.record)
            self._heard[client] = heard
            if setup is not None:
                setup(client)

        async with connect(
            "http://memory",
            namespace=namespace,
            auth=auth,
            link_factory=open_link,
            reconnect=False,
            setup=record_then_setup,
            **options,
        ) as client:
            self._links[client] = links[-1]
            yield client

    def heard(self, client: SocketIOClient) -> Heard:
        """What `client` received since it connected."""
        return self._heard[client]

    def sent(self, client: SocketIOClient) -> list[str | bytes]:
        """Every Engine.IO packet `client` wrote, as on the wire."""
        return self._links[client].sent

    def received(self, client: SocketIOClient) -> list[str | bytes]:
        """Every Engine.IO packet the server wrote to `client`, as on the wire."""
        return self._links[client].received

    def socket(self, client: SocketIOClient) -> Socket:
        """The server's side of `client` (its namespace's `Socket`)."""
        assert client.sid is not None, "not connected"
        return self.hub.namespaces[client.namespace].sockets[client.sid]

    async def settle(self) -> None:
        """Until every task is blocked: the packets in flight are handled on both ends.

        Commits (a thread) and ticks (sleeping tasks) are not waited for.
        """
        await trio.testing.wait_all_tasks_blocked()


async def wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Poll server state (what no event announces) until `predicate()` holds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.002)


def refusal(code: str, message: str) -> dict[str, Any]:
    """The ack of a refused event."""
    return {"ok": False, "error": {"code": code, "message": message}}


class RecentMs:
    """Equal to a wall-clock time in ms since the epoch within the last minute (or the next
    second): what a timestamp the server stamps looks like."""

    def __eq__(self, other: object) -> bool:
        now = time.time() * 1000
        return type(other) is int and now - 60_000 <= other <= now + 1_000

    def __repr__(self) -> str:
        return "<recent ms>"


RECENT_MS: Any = RecentMs()


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
