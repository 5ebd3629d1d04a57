"""A python-socketio client (a client we did not write) with its events queued, for tests.

python-socketio's reader thread pushes every event into a queue per event
name, stamped with its arrival time; tests wait on those queues with bounded
timeouts, so a broken server fails a test instead of hanging it.
"""

from __future__ import annotations

import queue
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import socketio

WAIT = 5.0
EVENTS = (
    "user-joined",
    "user-left",
    "receive-message",
    "user-typing",
    "presence-update",
    "error",
)


class SioPeer:
    """One client (one tab) in one namespace; `/api/socket` as the tutorial's hook uses."""

    def __init__(
        self,
        url: str,
        user: str,
        transports: list[str] | None = None,
        namespace: str = "/api/socket",
        probe_reply: Callable[[Any], Any] | None = None,
    ) -> None:
        self.user = user
        self.ns = namespace
        self.client = socketio.Client(reconnection=False)
        self.queues: dict[str, queue.Queue[tuple[float, Any]]] = defaultdict(queue.Queue)
        self.probes: list[Any] = []
        self.disconnects = 0
        for event in EVENTS:
            self.client.on(event, self._pusher(event), namespace=namespace)

        def on_probe(data: Any) -> Any:
            self.probes.append(data)
            return probe_reply(data) if probe_reply else None

        def on_disconnect(*_: Any) -> None:
            self.disconnects += 1

        self.client.on("rtt-probe", on_probe, namespace=namespace)
        self.client.on("disconnect", on_disconnect, namespace=namespace)
        self.client.connect(
            url,
            transports=transports or ["websocket"],
            namespaces=[namespace],
            auth={"userId": user, "name": user.title()},
            wait_timeout=WAIT,
        )

    def _pusher(self, event: str) -> Callable[..., None]:
        def push(*args: Any) -> None:
            self.queues[event].put((time.monotonic(), args[0] if len(args) == 1 else args))

        return push

    def call(self, event: str, *args: Any, timeout: float = WAIT) -> Any:
        return self.client.call(event, args or None, namespace=self.ns, timeout=timeout)

    def emit(self, event: str, *args: Any) -> None:
        self.client.emit(event, args or None, namespace=self.ns)

    def wait_for_at(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = WAIT
    ) -> tuple[float, Any]:
        """The first matching `event` and its arrival time (time.monotonic)."""
        deadline = time.monotonic() + timeout
        seen: list[Any] = []
        while True:
            try:
                at, item = self.queues[event].get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(
                    f"{self.user}: no matching {event!r} within {timeout}s (saw {seen!r})"
                ) from None
            if predicate(item):
                return at, item
            seen.append(item)

    def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = WAIT
    ) -> Any:
        return self.wait_for_at(event, predicate, timeout)[1]

    def drain(self, event: str, wait: float = 0.0) -> list[Any]:
        """Everything `event` delivered so far, after waiting `wait` seconds."""
        time.sleep(wait)
        items = []
        while True:
            try:
                items.append(self.queues[event].get_nowait()[1])
            except queue.Empty:
                return items

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
