"""simulate.catalogue without a server: the game tracker and notification stamps."""

from __future__ import annotations

from types import SimpleNamespace

from reports.catalogue import catalogue_rows
from simulate.catalogue import SKIPPED_TICKS, GameTracker, notification_sent_at


def test_the_game_tracker_counts_skipped_ticks_and_reports_show_them():
    samples: list[tuple[str, int]] = []
    tracker = GameTracker("me", lambda event, since, now: samples.append((event, now - since)))
    tracker.set_tick_rate(20)
    tracker.on_input(0, 1_000)
    tracker.on_input(1, 2_000)
    ms = 1_000_000

    def state(tick: int, last_seq: int) -> dict:
        return {"tick": tick, "players": {"me": {"lastSeq": last_seq}}}

    assert tracker.on_state(state(1, -1), 10 * ms) == []
    assert tracker.on_state(state(2, 0), 62 * ms) == [(1_000, None)]  # 2 ms late
    assert tracker.on_state(state(5, 1), 212 * ms) == [(2_000, None)]  # ticks 3, 4 skipped
    assert tracker.on_state(state(5, 1), 215 * ms) == []  # a duplicate says nothing
    assert tracker.skipped == 2 and not tracker.pending
    assert samples == [
        ("game.tick_jitter", 2 * ms),
        ("game.tick_jitter", 0),
        (SKIPPED_TICKS, 150 * ms),
        (SKIPPED_TICKS, 150 * ms),
    ]

    def stats(count: int, p50: float, p99: float) -> SimpleNamespace:
        return SimpleNamespace(count=count, p50_ms=p50, p99_ms=p99)

    rows = catalogue_rows(
        {"game.tick_jitter": stats(98, 0.5, 3.0), SKIPPED_TICKS: stats(2, 150.0, 150.0)}
    )
    assert ["game", "tick intervals seen / ticks skipped", "98 / 2 (2.00 %)"] in rows
    assert catalogue_rows({"chat.echo": stats(1, 1.0, 1.0)}) == []


def test_notification_stamps_belong_to_their_run():
    note = {"message": '{"run":"abc","sentAt":123,"n":0}'}
    assert notification_sent_at(note, "abc") == 123
    assert notification_sent_at(note, "other") is None
    assert notification_sent_at({**note, "replayed": True}, "abc") is None
    assert notification_sent_at({"message": "hello"}, "abc") is None
