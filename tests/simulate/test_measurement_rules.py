"""Measurement rules that once read wrong: peer latencies, delivery loss, rates, sent counts.

Unit-level (no server): each test reproduces a defect a review found.
Locust code runs in a subprocess (gevent must not be loaded next to trio).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from reports.summary import load_realtime_run
from server.catalogue import PlayerInput
from simulate.client import NotConnected
from simulate.measurement import PeerClock
from simulate.personas import (
    AckTracker,
    BotCannotConnect,
    BotContext,
    FleetPhases,
    FleetShared,
    MeasuredDocumentSession,
)
from simulate.recording import (
    DeliveryLog,
    Membership,
    Recorder,
    RunDirectory,
    delivery_report,
    summarize,
)
from simulate.scenarios import BotPlan, PersonaSpec

MS = 1_000_000


# ------------------------------------------------------------------ PeerClock
def test_peer_latency_slower_than_the_typing_pace_reads_true() -> None:
    """Notes every 50 ms, each broadcast arrives 70 ms after its act: ~70 ms, not 20 ms."""
    peers = PeerClock()
    recorder = Recorder(0, "x", now_ns=lambda: 0)
    for k in range(20):
        peers.note("typing", "u1", "", k * 50 * MS)
        if k >= 1:
            arrive = (k - 1) * 50 * MS + 70 * MS
            since = peers.since("typing", "u1", "", arrive)
            assert since is not None
            recorder.latency("typing.delivery", since, arrive)
    recorder.tick(1, 0)
    stats = summarize(recorder.payload(), 1)["events"]["typing.delivery"]
    assert stats["count"] == 19
    assert 69.0 <= stats["p50_ms"] <= 71.0 and 69.0 <= stats["max_ms"] <= 71.0


def test_each_receiver_reads_the_notes_on_its_own() -> None:
    peers = PeerClock()
    peers.listen("a", 0)
    peers.listen("b", 0)
    for k in range(3):
        peers.note("typing", "u1", "", (k + 1) * 10 * MS)
    # receiver a hears all three, b only the first two (yet)
    assert [peers.since("typing", "u1", "", 100 * MS, receiver="a") for _ in range(3)] == [
        10 * MS,
        20 * MS,
        30 * MS,
    ]
    assert peers.since("typing", "u1", "", 100 * MS, receiver="b") == 10 * MS
    assert peers.since("typing", "u1", "", 100 * MS, receiver="a") is None  # all used
    assert peers.since("typing", "u1", "", 100 * MS, receiver="b") == 20 * MS


def test_a_late_joiner_is_not_timed_from_acts_before_its_join() -> None:
    peers = PeerClock()
    for k in range(10):
        peers.note("typing", "u1", "", k * 50 * MS)
    peers.listen("late", 460 * MS)
    peers.note("typing", "u1", "", 500 * MS)
    assert peers.since("typing", "u1", "", 530 * MS, receiver="late") == 500 * MS


def test_notes_are_bounded_and_a_failed_act_is_retracted() -> None:
    peers = PeerClock()
    for k in range(PeerClock.MAX_NOTES + 50):
        peers.note("typing", "u1", "", k * MS)
    assert len(peers._notes[("typing", "u1", "")][1]) == PeerClock.MAX_NOTES
    old = PeerClock.MAX_AGE_NS + 10 * MS
    peers.note("typing", "u2", "", 0)
    peers.note("typing", "u2", "", old)
    assert peers.since("typing", "u2", "", old + MS) == old  # the first one aged out
    peers.note("typing", "u3", "", 5 * MS)
    peers.retract("typing", "u3", "", 5 * MS)
    assert peers.since("typing", "u3", "", 6 * MS) is None


# ------------------------------------------------------------------ delivery
def test_one_bots_extra_receptions_do_not_hide_anothers_losses() -> None:
    room = {"sent": 10, "acked": 10, "seqs": list(range(1, 11)), "sent_ns": list(range(10))}
    bots = [
        {"room": "r", "memberships": [[0, 0, 7, 7]], "received": 10, "duplicates": 0},
        {"room": "r", "memberships": [[0, 0, None, None]], "received": 7, "duplicates": 0},
    ]
    report = delivery_report([{"rooms": {"r": room}, "bots": bots}])["rooms"]["r"]
    assert report["expected"] == 17 and report["lost"] == 3


def test_messages_heard_after_leave_are_not_received() -> None:
    log = DeliveryLog()
    ledger = log.room("r")
    leaver, stayer = log.bot("r"), log.bot("r")
    for record in (leaver, stayer):
        record.memberships.append(Membership(0, 0))
    for seq in range(1, 11):
        ledger.note_sent(seq)
        ledger.note_ack({"seq": seq})
        if seq == 6:
            leaver.memberships[-1].end_ns = seq
            leaver.memberships[-1].end_seq = leaver.last_seq
        leaver.take(ledger, seq)  # hears all 10: the close completes late
        if seq not in (3, 4, 5):
            stayer.take(ledger, seq)  # lost 3
    assert leaver.received == 5 and leaver.outside == 5
    report = delivery_report([log.payload()])
    assert report["rooms"]["r"]["expected"] == 5 + 10
    assert report["rooms"]["r"]["received"] == 5 + 7
    assert report["rooms"]["r"]["lost"] == 3


def test_messages_heard_before_the_join_ack_count_by_seq() -> None:
    """The reader may hand over a broadcast before `join` resumes and opens the membership."""
    log = DeliveryLog()
    ledger = log.room("r")
    bot = log.bot("r")
    for seq in (1, 2, 3):
        ledger.note_sent(seq)
        ledger.note_ack({"seq": seq})
    bot.take(ledger, 3)  # heard between the server's join and our ack
    bot.memberships.append(Membership(2, 5))
    report = delivery_report([log.payload()])["rooms"]["r"]
    assert report["expected"] == 1 and report["received"] == 1 and report["lost"] == 0


# ------------------------------------------------------------------ rates
def test_rates_are_per_second_of_sending_not_of_the_drain(tmp_path: Path) -> None:
    second = 1_000_000_000
    recorder = Recorder(0, "chat.ack", now_ns=lambda: 0)
    for k in range(100):
        recorder.latency("chat.ack", 0, (k + 1) * MS)
    recorder.tick(second, 0)
    meta = {
        "run_id": "r",
        "started_ns": 0,
        "ended_ns": 15 * second,  # 10 s sending, 5 s drain and checks
        "sending_started_ns": 0,
        "sending_stopped_ns": 10 * second,
        "duration": 10.0,
        "main_event": "chat.ack",
    }
    path = RunDirectory.write(tmp_path / "r", meta=meta, payload=recorder.payload())
    summary = json.loads((path / "summary.json").read_text())
    assert summary["events"]["chat.ack"]["rate_per_s"] == 10.0
    assert summary["sending_s"] == 10.0 and summary["duration_s"] == 15.0
    # a reader that computes the rate itself (no rate in the summary) uses the window too
    del summary["events"]["chat.ack"]["rate_per_s"]
    del summary["sending_s"]
    (path / "summary.json").write_text(json.dumps(summary))
    assert load_realtime_run(path, "check").events["chat.ack"].rate_per_s == 10.0


# ------------------------------------------------------------------ trio personas
def _context(limiter: trio.CapacityLimiter) -> BotContext:
    recorder = Recorder(0, "connect")
    shared = FleetShared(
        target="http://127.0.0.1:9",
        namespace="/",
        run_tag="t",
        recorder=recorder,
        delivery=DeliveryLog(),
        phases=FleetPhases(0, 10**19),
        connect_limiter=limiter,
    )
    plan = BotPlan(0, "p", "chatter", "room", 0, 0.0)
    return BotContext(
        plan, PersonaSpec("p", "chatter", 1.0, cast(Any, None)), shared, random.Random(1)
    )


def test_connect_latency_includes_the_wait_for_a_connect_slot() -> None:
    async def refused_link() -> Any:
        raise OSError("refused")

    async def main() -> Recorder:
        limiter = trio.CapacityLimiter(1)
        ctx = _context(limiter)
        ctx.link_factory = refused_link
        async with trio.open_nursery() as nursery:

            async def hold() -> None:
                async with limiter:
                    await trio.sleep(0.2)

            nursery.start_soon(hold)
            await trio.sleep(0.01)
            with pytest.raises(BotCannotConnect):
                async with ctx.session(reconnect=False):
                    pass
        return ctx.recorder

    recorder = trio.run(main)
    payload = recorder.payload()
    queue = summarize(payload, 1)["events"]["connect.queue"]
    assert queue["count"] == 1 and queue["p50_ms"] >= 150


class _DeadClient:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def on(self, event: str, handler: Any) -> None:
        self.handlers[event] = handler

    async def emit_event(self, *_: Any, **__: Any) -> None:
        raise NotConnected("gone")


class _Replica:
    def take_outgoing(self) -> list[dict[str, Any]]:
        return [{"op": 1}]


def test_a_failed_doc_op_is_not_counted_as_sent() -> None:
    async def main() -> Recorder:
        recorder = Recorder(0, "doc.ack")
        session = MeasuredDocumentSession(cast(Any, _DeadClient()), "d", "u", recorder)
        session.replica = cast(Any, _Replica())
        session.strategy = "ot"
        session.note_edit(0)
        await session.flush()
        assert session.sent == 0 and recorder.pending == 0
        return recorder

    recorder = trio.run(main)
    row = recorder.tick(1, 0)
    assert row["sent"] == 0 and row["errors"] == 1


class _RefusingClient:
    async def emit_event(self, *_: Any, ack: Any = None) -> None:
        ack({"ok": False, "error": {"code": "not_in_game"}})


def test_a_refused_ack_reaches_on_error() -> None:
    async def main() -> tuple[Recorder, list[str]]:
        recorder = Recorder(0, "game.input")
        kinds: list[str] = []
        acks = AckTracker(recorder)
        sent = await acks.emit(
            cast(Any, _RefusingClient()),
            "game.input",
            0,
            PlayerInput("g", 0),
            on_error=kinds.append,
        )
        assert sent
        return recorder, kinds

    recorder, kinds = trio.run(main)
    assert kinds == ["not_in_game"] and recorder.pending == 0
