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
from typing import TYPE_CHECKING, Any

import trio

from server.features.arguments import arg, identifier
from server.hub import EventError, Socket

if TYPE_CHECKING:
    from server.app import ReferenceServer

COALESCE_BYTES = 2048
BUILT_IN = ("server",)


def install(server: ReferenceServer) -> Dashboards:
    dashboards = Dashboards(server)
    server.hub.on("subscribe-dashboard")(dashboards.on_subscribe)
    server.hub.on("unsubscribe-dashboard")(dashboards.on_unsubscribe)
    server.hub.on_disconnect(dashboards.on_disconnect)
    server.background_tasks.append(dashboards.run)
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
    def __init__(self, server: ReferenceServer) -> None:
        self.server = server
        self.hub = server.hub
        self.interval = server.config.dashboard_interval
        self.subscriptions: dict[str, dict[Socket, Subscription]] = {}
        self._previous = _Previous(at=time.perf_counter())
        self.latest: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- events
    async def on_subscribe(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        dashboard_id = identifier(arg(args, 0, "dashboardId"), "dashboardId")
        if dashboard_id not in BUILT_IN:
            raise EventError("not_found", f"unknown dashboard {dashboard_id!r}")
        options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        sub = Subscription(sock, dashboard_id, with_ack=options.get("ack") is True)
        self.subscriptions.setdefault(dashboard_id, {})[sock] = sub
        return {
            "dashboardId": dashboard_id,
            "intervalMs": self.interval * 1000,
            "metrics": self.latest.get(dashboard_id),
        }

    async def on_unsubscribe(self, sock: Socket, args: list[Any]) -> dict[str, Any]:
        dashboard_id = identifier(arg(args, 0, "dashboardId"), "dashboardId")
        subs = self.subscriptions.get(dashboard_id, {})
        if subs.pop(sock, None) is None:
            raise EventError("not_found", f"not subscribed to {dashboard_id!r}")
        return {"dashboardId": dashboard_id}

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
        update = {"dashboardId": dashboard_id, "ts": int(time.time() * 1000), "metrics": metrics}
        for sub in list(subs.values()):
            if sub.awaiting_ack or sub.sock.client.session.transport.pending_bytes > COALESCE_BYTES:
                sub.skipped += 1
                continue
            if sub.with_ack:
                sub.awaiting_ack = True
                sub.sock.emit_with_ack("dashboard-update", update, callback=_acked(sub))
            else:
                sub.sock.emit("dashboard-update", update)
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
            "sessions": len(self.server.engine.sessions),
            "rooms": sum(len(ns.rooms) for ns in hub.namespaces.values()),
            "documents": len(self.server.documents.documents),
            "users_online": sum(1 for u in self.server.presence.users.values() if u.sockets),
            "events_in_per_s": _rates(stats.events_in, prev.events_in, elapsed),
            "events_out_per_s": _rates(stats.events_out, prev.events_out, elapsed),
            "deliveries_per_s": round(deliveries / elapsed, 1),
            "fanout": round(deliveries / emits, 2) if emits else 0.0,
            "handling_p50_ms": _percentile_ms(samples, 0.50),
            "handling_p99_ms": _percentile_ms(samples, 0.99),
            "errors": stats.errors,
            "dropped": stats.dropped,
            "uptime_s": round(time.time() - self.server.started, 1),
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
