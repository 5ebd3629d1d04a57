"""One epoll for many client sockets: the load generator's receive path without a task each.

Why: with a task per connection, every received frame costs trio a
readiness registration (epoll_ctl), a task switch and an async generator
step — measured at about twice the rest of a bot's receive work. A fleet
process instead registers its sockets in one `select.epoll` that a single
task waits on (an epoll fd is itself pollable, so trio waits on it as on any
socket); ready sockets are read and their frames handled synchronously in
that task. Handlers are plain functions already (see SocketIOClient.on), so
nothing above the link notices.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Callable

import trio


class Reactor:
    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], None]] = {}
        self.wakeups = 0

    def add(self, fd: int, on_readable: Callable[[], None]) -> None:
        self._readers[fd] = on_readable
        self._epoll.register(fd, select.EPOLLIN | select.EPOLLRDHUP)

    def remove(self, fd: int) -> None:
        """Call before closing the fd: a closed fd number may be reused by a new socket."""
        if self._readers.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    async def run(self) -> None:
        epfd = self._epoll.fileno()
        try:
            while True:
                await trio.lowlevel.wait_readable(epfd)
                self.wakeups += 1
                for fd, _mask in self._epoll.poll(0, 4096):
                    reader = self._readers.get(fd)
                    if reader is not None:
                        reader()
        finally:
            self._epoll.close()
