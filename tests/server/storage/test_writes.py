"""PendingWrite and WriteFence: the storage-agnostic half of a write, with no backend.

A test plays the backend: it settles writes itself, in the order a real
writer would, and checks what features rely on (callback order, one
settlement, a fence that waits for the newest write of its key).
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from server.storage.writes import PendingWrite, WriteFence


def test_callbacks_run_in_registration_order_with_the_error():
    write = PendingWrite()
    heard: list[tuple[str, BaseException | None]] = []
    write.on_commit(lambda error: heard.append(("first", error)))
    write.on_commit(lambda error: heard.append(("second", error)))
    assert heard == []
    failure = OSError("disk full")
    write.settle(failure)
    assert heard == [("first", failure), ("second", failure)]
    assert write.done.is_set() and write.error is failure


def test_a_callback_registered_after_settlement_runs_at_once():
    write = PendingWrite()
    write.settle()
    heard: list[BaseException | None] = []
    write.on_commit(heard.append)
    assert heard == [None]


def test_a_write_is_settled_once():
    write = PendingWrite()
    write.settle()
    with pytest.raises(RuntimeError):
        write.settle(OSError("late"))
    assert write.error is None


def test_a_failing_callback_does_not_keep_the_next_from_running(caplog):
    write = PendingWrite()
    heard: list[str] = []

    def broken(error: BaseException | None) -> None:
        raise ValueError("a feature's bug")

    write.on_commit(broken)
    write.on_commit(lambda error: heard.append("acked"))
    with caplog.at_level(logging.ERROR, logger="server.storage.writes"):
        write.settle()
    assert heard == ["acked"]
    assert "commit callback failed" in caplog.text


async def test_committed_returns_once_durable_and_raises_a_failure():
    ok, failed = PendingWrite(), PendingWrite()
    ok.settle()
    await ok.committed()
    failed.settle(OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        await failed.committed()


async def test_committed_waits_for_the_settlement():
    write = PendingWrite()
    returned: list[str] = []

    async def waiter() -> None:
        await write.committed()
        returned.append("committed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert returned == []
        write.settle()
    assert returned == ["committed"]


async def test_fence_waits_for_the_newest_write_of_its_key_only():
    fence = WriteFence()
    older, newer, other = PendingWrite(), PendingWrite(), PendingWrite()
    assert fence.track("room", older) is older
    fence.track("room", newer)
    fence.track("elsewhere", other)
    assert len(fence) == 2
    passed: list[str] = []

    async def reload(key: str) -> None:
        await fence.wait(key)
        passed.append(key)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reload, "room")
        older.settle()
        await trio.testing.wait_all_tasks_blocked()
        assert passed == []  # a write for "room" is still queued
        assert len(fence) == 2  # settling an older write keeps the newer one's entry
        newer.settle()
    assert passed == ["room"]
    assert len(fence) == 1
    other.settle(OSError("failed"))  # a failed write is done too: the entry goes
    assert len(fence) == 0
    await fence.wait("room")  # nothing tracked: returns at once
    await fence.wait("never-seen")
