"""Live dashboards: periodic, coalesced `dashboard-update` pushes.

Why coalescing: a dashboard is a *state*, not a stream of events. A
subscriber that reads slowly must see the newest snapshot when it catches
up, never minutes of stale backlog, and must never make the server buffer
for it. So each tick, a subscriber whose connection still holds unsent
bytes (our outbox plus the kernel's send queue) is skipped; the next tick
brings a newer snapshot anyway. With `{ack: true}` in the subscription the
server goes further and sends the next update only after the client acked
the previous one.

The built-in dashboard `server` publishes the server's own live stats.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import trio

from server.catalogue import (
    DashboardReply,
    DashboardUpdate,
    SubscribeDashboard,
    SubscribeDashboardReply,
    UnsubscribeDashboard,
)
from server.errors import ErrorCode, EventError
from server.hub import Hub, Socket
from server.services import Services

COALESCE_BYTES = 2048
BUILT_IN = ("server",)


def install(hub: Hub, services: Services) -> Dashboards:
    dashboards = Dashboards(hub, services)
    hub.on(SubscribeDashboard)(dashboards.on_subscribe)
    hub.on(UnsubscribeDashboard)(dashboards.on_unsubscribe)
    hub.on_disconnect(dashboards.on_disconnect)
    services.start_task(dashboards.run)
    return dashboards


@dataclass(eq=False, slots=True)
class Subscription:
    sock: Socket
    dashboard_id: str
    with_ack: bool
    awaiting_ack: bool = False
    sent: int = 0
    skipped: int = 0


@dataclass(slots=True)
class _Previous:
    at: float = 0.0
    events_in: Counter[str] = field(default_factory=Counter)
    events_out: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    emits: int = 0


class Dashboards:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.gauges = services.gauges
        self.clock = services.clock
        self.interval = services.config.dashboard_interval
        self.started = time.time()
        self.subscriptions: dict[str, dict[Socket, Subscription]] = {}
        self._previous = _Previous(at=time.perf_counter())
        self.latest: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- events
    async def on_subscribe(
        self, sock: Socket, subscribe: SubscribeDashboard
    ) -> SubscribeDashboardReply:
        dashboard_id = subscribe.dashboard_id
        if dashboard_id not in BUILT_IN:
            raise EventError(ErrorCode.NOT_FOUND, f"unknown dashboard {dashboard_id!r}")
        sub = Subscription(sock, dashboard_id, with_ack=subscribe.ack)
        self.subscriptions.setdefault(dashboard_id, {})[sock] = sub
        return SubscribeDashboardReply(
            dashboard_id, self.interval * 1000, self.latest.get(dashboard_id)
        )

    async def on_unsubscribe(
        self, sock: Socket, unsubscribe: UnsubscribeDashboard
    ) -> DashboardReply:
        dashboard_id = unsubscribe.dashboard_id
        subs = self.subscriptions.get(dashboard_id, {})
        if subs.pop(sock, None) is None:
            raise EventError(ErrorCode.NOT_FOUND, f"not subscribed to {dashboard_id!r}")
        return DashboardReply(dashboard_id)

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for subs in self.subscriptions.values():
            subs.pop(sock, None)

    # --------------------------------------------------------------- publish
    async def run(self) -> None:
        """One publisher for all dashboards, on a fixed schedule without drift."""
        next_tick = trio.current_time()
        while True:
            next_tick += self.interval
            await trio.sleep_until(next_tick)
            metrics = self.server_metrics()
            self.latest["server"] = metrics
            self.publish("server", metrics)

    def publish(self, dashboard_id: str, metrics: dict[str, Any]) -> None:
        subs = self.subscriptions.get(dashboard_id)
        if not subs:
            return
        update = DashboardUpdate(dashboard_id, self.clock.wall_ms(), metrics)
        args = update.to_args()
        for sub in list(subs.values()):
            if sub.awaiting_ack or sub.sock.pending_bytes > COALESCE_BYTES:
                sub.skipped += 1
                continue
            if sub.with_ack:
                sub.awaiting_ack = True
                sub.sock.emit_with_ack(update.name, *args, callback=_acked(sub))
            else:
                sub.sock.emit(update.name, *args)
            sub.sent += 1

    def server_metrics(self) -> dict[str, Any]:
        hub = self.hub
        stats = hub.stats
        now = time.perf_counter()
        prev = self._previous
        elapsed = max(1e-9, now - prev.at)
        samples = sorted(stats.handling_seconds)
        stats.handling_seconds.clear()
        emits = stats.emits - prev.emits
        deliveries = stats.deliveries - prev.deliveries
        metrics = {
            "connections": hub.connection_count,
            "rooms": hub.room_count,
            **self.gauges.read(),
            "events_in_per_s": _rates(stats.events_in, prev.events_in, elapsed),
            "events_out_per_s": _rates(stats.events_out, prev.events_out, elapsed),
            "deliveries_per_s": round(deliveries / elapsed, 1),
            "fanout": round(deliveries / emits, 2) if emits else 0.0,
            "handling_p50_ms": _percentile_ms(samples, 0.50),
            "handling_p99_ms": _percentile_ms(samples, 0.99),
            "errors": stats.errors,
            "dropped": stats.dropped,
            "uptime_s": round(time.time() - self.started, 1),
        }
        self._previous = _Previous(
            now, Counter(stats.events_in), Counter(stats.events_out), stats.deliveries, stats.emits
        )
        return metrics


def _acked(sub: Subscription) -> Any:
    def on_ack(_args: list[Any]) -> None:
        sub.awaiting_ack = False

    return on_ack


def _rates(now: Counter[str], before: Counter[str], elapsed: float) -> dict[str, float]:
    return {
        k: round((v - before.get(k, 0)) / elapsed, 1)
        for k, v in now.items()
        if v != before.get(k, 0)
    }


def _percentile_ms(sorted_samples: list[float], q: float) -> float | None:
    if not sorted_samples:
        return None
    index = min(len(sorted_samples) - 1, int(q * len(sorted_samples)))
    return round(sorted_samples[index] * 1000, 3)
