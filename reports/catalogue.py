"""The "catalogue" table: game ticks, dashboard staleness, notifications and RTC at a glance.

Their events are ordinary latency events (the per-event table lists them);
this table adds what a latency row does not say: how many game ticks were
skipped (`game.skipped_ticks` has one sample per tick a player never saw,
none when nothing was skipped), and the few numbers one looks at first for
each group. Events come from simulate/catalogue.py. Rows appear only for the
groups a run exercised. Input: `{event: stats}` with `count`, `p50_ms`,
`p99_ms` attributes (reports.summary.EventStats), so this module depends on
no other report module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CATALOGUE_HEADERS = ["group", "measure", "value"]
GROUP_EVENTS = {
    "game": ("game.tick_jitter", "game.input_to_state", "game.skipped_ticks"),
    "dashboard": ("dashboard.staleness", "dashboard.interval"),
    "notifications": ("notify.ack", "notification.delivery"),
    "rtc": ("rtc.offer_answer", "rtc.ice_delivery"),
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _count(events: Mapping[str, Any], name: str) -> int:
    stats = events.get(name)
    return int(stats.count) if stats is not None else 0


def _p50_p99(events: Mapping[str, Any], name: str) -> str:
    stats = events.get(name)
    if stats is None or not stats.count:
        return "-"
    return f"{_ms(stats.p50_ms)} / {_ms(stats.p99_ms)}"


def catalogue_rows(events: Mapping[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    if any(name in events for name in GROUP_EVENTS["game"]):
        intervals = _count(events, "game.tick_jitter")  # one per pair of states received
        skipped = _count(events, "game.skipped_ticks")
        expected = intervals + skipped
        share = f"{100 * skipped / expected:.2f} %" if expected else "-"
        rows += [
            ["game", "tick intervals seen / ticks skipped", f"{intervals} / {skipped} ({share})"],
            ["game", "tick jitter p50 / p99 ms", _p50_p99(events, "game.tick_jitter")],
            [
                "game",
                "stall around a skipped tick p50 / p99 ms",
                _p50_p99(events, "game.skipped_ticks"),
            ],
            ["game", "input -> state p50 / p99 ms", _p50_p99(events, "game.input_to_state")],
        ]
    if any(name in events for name in GROUP_EVENTS["dashboard"]):
        rows += [
            ["dashboard", "updates received", str(_count(events, "dashboard.staleness"))],
            ["dashboard", "staleness p50 / p99 ms", _p50_p99(events, "dashboard.staleness")],
            ["dashboard", "interval p50 / p99 ms", _p50_p99(events, "dashboard.interval")],
        ]
    if any(name in events for name in GROUP_EVENTS["notifications"]):
        sent, delivered = _count(events, "notify.ack"), _count(events, "notification.delivery")
        rows += [
            ["notifications", "sent (acked) / delivered", f"{sent} / {delivered}"],
            ["notifications", "POST /notify p50 / p99 ms", _p50_p99(events, "notify.ack")],
            ["notifications", "delivery p50 / p99 ms", _p50_p99(events, "notification.delivery")],
        ]
    if any(name in events for name in GROUP_EVENTS["rtc"]):
        answered, candidates = (
            _count(events, "rtc.offer_answer"),
            _count(events, "rtc.ice_delivery"),
        )
        rows += [
            ["rtc", "offers answered / ICE candidates delivered", f"{answered} / {candidates}"],
            ["rtc", "offer -> answer p50 / p99 ms", _p50_p99(events, "rtc.offer_answer")],
            ["rtc", "ICE delivery p50 / p99 ms", _p50_p99(events, "rtc.ice_delivery")],
        ]
    return rows
