"""What the storage tests share: a running backend, and sample rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from server.storage.ports import RecoverySession, Storage, StoredMessage


@asynccontextmanager
async def running(storage: Storage, *, writer: bool = True) -> AsyncIterator[Storage]:
    """`storage` opened, its writer running (unless `writer=False`); closed on the way out."""
    await storage.open()
    try:
        async with trio.open_nursery() as nursery:
            if writer:
                nursery.start_soon(storage.run)
            yield storage
            nursery.cancel_scope.cancel()
    finally:
        await storage.close()


def message(seq: int, text: str = "hi") -> StoredMessage:
    return StoredMessage(seq, f'{{"seq":{seq},"text":"{text}"}}')


def session(pid: str, rooms: set[str] | None = None, data: Any = None) -> RecoverySession:
    return RecoverySession(f"sid-{pid}", pid, frozenset(rooms or {"chat:lobby"}), data)
