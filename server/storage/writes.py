"""The storage-agnostic half of a write: its handle, a fence per key, and "queue full".

Every port method that changes data returns at once with a `PendingWrite`;
the backend settles it once the change is durable (or has failed). Features
act on that moment, not on the call: an ack sent from `on_commit` means the
row survives a restart. Nothing here knows how a backend stores anything,
so a write carries no statement: the backend keeps its own statement next to
the handle it gave out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

log = logging.getLogger(__name__)

CommitCallback = Callable[[BaseException | None], None]


class StoreBusy(Exception):
    """More writes are queued than the backend can absorb; the caller should shed load.

    Raised by a port's write method at the call, never later: a feature
    decides there what a full queue means for its client (usually
    `rate_limited`), before it has changed anything in memory.
    """


@dataclass(slots=True, eq=False)
class PendingWrite:
    """A queued write; durable once `done` is set with no `error`.

    `done` is public so that a feature can ask "already settled?" without a
    checkpoint (`done.is_set()`), which keeps its hot path free of task switches.
    """

    done: trio.Event = field(default_factory=trio.Event)
    error: BaseException | None = None
    _callbacks: list[CommitCallback] = field(default_factory=list)

    def on_commit(self, callback: CommitCallback) -> None:
        """Run `callback(error)` right after the commit, in the order writes were submitted.

        Callbacks run synchronously where the backend settles its writes, one
        batch after the other, so effects made there (acks, broadcasts) keep
        commit order. On a write that is already settled, the callback runs
        at once.
        """
        if self.done.is_set():
            callback(self.error)
        else:
            self._callbacks.append(callback)

    async def committed(self) -> None:
        """Wait until the write is durable; raise its error if it failed."""
        await self.done.wait()
        if self.error is not None:
            raise self.error

    def settle(self, error: BaseException | None = None) -> None:
        """Called by the backend, once per write, in commit order: run the callbacks.

        A callback that raises is logged and does not keep the later ones (of
        this write or of the writes after it) from running: one feature's bug
        must not leave other clients without their acks.
        """
        if self.done.is_set():
            raise RuntimeError("a write is settled once")
        self.error = error
        self.done.set()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(error)
            except Exception:
                log.exception("commit callback failed")


class WriteFence:
    """The newest pending write per key (a room, a document), to reload after eviction safely.

    A feature may drop its in-memory state for a key while rows for it are
    still queued; reading the key back from storage before they commit would
    miss them (and hand out sequence numbers that collide with theirs).
    `await fence.wait(key)` returns once every write tracked for `key` so far
    is done (writes settle in submission order, so the newest one is enough);
    entries disappear with their commit, so the map stays small.
    """

    def __init__(self) -> None:
        self._last: dict[str, PendingWrite] = {}

    def track(self, key: str, write: PendingWrite) -> PendingWrite:
        self._last[key] = write

        def release(error: BaseException | None) -> None:
            if self._last.get(key) is write:
                del self._last[key]

        write.on_commit(release)
        return write

    async def wait(self, key: str) -> None:
        write = self._last.get(key)
        if write is not None:
            await write.done.wait()

    def __len__(self) -> int:
        return len(self._last)
