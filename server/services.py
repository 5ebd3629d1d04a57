"""What a feature may use besides the hub: storage, tasks, time, configuration, gauges, routes.

Features see a `Hub` and this small object, never the server: the server is
the composition root that builds both (`server.app`), and a test or a
simulation can build them differently (an in-memory store, a virtual clock).
Everything here is a narrow interface:

- `storage`: the storage ports (`server.storage.ports`); an ack means durable;
- `start_task(fn, *args)`: background work in the server's nursery, fenced
  (a feature's bug costs its own task, never the server);
- `clock`: wall-clock milliseconds for timestamps clients see, and trio's
  clock for intervals (virtual in simulations);
- `users`: who is connected as whom (`server.users`);
- `gauges`: named numbers a feature exposes (the dashboard publishes them);
- `route(method, path)`: an HTTP route on the server's port (`POST /notify`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from server.config import ServerConfig
from server.storage.ports import Storage
from server.transport.http import HttpConnection, Request
from server.users import UserDirectory

HttpRoute = Callable[[HttpConnection, Request], Awaitable[None]]
StartTask = Callable[..., None]


class Clock(Protocol):
    def wall_ms(self) -> int:
        """Milliseconds since the epoch: timestamps clients see (`lastSeen`, `ts`)."""

    def monotonic(self) -> float:
        """Seconds on trio's clock: intervals and deadlines (virtual in simulations)."""


class SystemClock:
    def wall_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return trio.current_time()


@dataclass
class Gauges:
    """Named live numbers; each feature registers the ones it owns."""

    readers: dict[str, Callable[[], Any]] = field(default_factory=dict)

    def register(self, name: str, read: Callable[[], Any]) -> None:
        if name in self.readers:
            raise ValueError(f"two gauges named {name!r}")
        self.readers[name] = read

    def read(self) -> dict[str, Any]:
        return {name: read() for name, read in self.readers.items()}


class Routes(Protocol):
    def route(self, method: str, path: str) -> Callable[[HttpRoute], HttpRoute]: ...


@dataclass(frozen=True)
class Services:
    config: ServerConfig
    storage: Storage
    start_task: StartTask
    clock: Clock
    users: UserDirectory
    gauges: Gauges
    routes: Routes

    def route(self, method: str, path: str) -> Callable[[HttpRoute], HttpRoute]:
        return self.routes.route(method, path)
