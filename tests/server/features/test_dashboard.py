"""Live dashboards through a client/server pair, with the publisher running (`background`)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.server.memory_pair import RECENT_MS, reference_server, refusal, wait_until

METRICS = {
    "connections",
    "rooms",
    "documents",
    "sessions",
    "users_online",
    "events_in_per_s",
    "events_out_per_s",
    "deliveries_per_s",
    "fanout",
    "handling_p50_ms",
    "handling_p99_ms",
    "errors",
    "dropped",
    "uptime_s",
}
FAST = 0.02  # seconds between updates


async def test_subscribing_before_the_first_update(tmp_path: Path) -> None:
    async with reference_server(tmp_path, background=True, dashboard_interval=3600) as pair:
        async with pair.client() as watcher:
            assert await watcher.call("subscribe-dashboard", "server") == {
                "ok": True,
                "dashboardId": "server",
                "intervalMs": 3_600_000.0,
                "metrics": None,
            }
            assert await watcher.call("subscribe-dashboard", "nope") == refusal(
                "not_found", "unknown dashboard 'nope'"
            )
            assert await watcher.call("unsubscribe-dashboard", "server") == {
                "ok": True,
                "dashboardId": "server",
            }
            assert await watcher.call("unsubscribe-dashboard", "server") == refusal(
                "not_found", "not subscribed to 'server'"
            )


async def test_updates_carry_the_servers_stats_and_follow_its_connections(tmp_path: Path) -> None:
    async with reference_server(tmp_path, background=True, dashboard_interval=FAST) as pair:
        async with pair.client() as watcher:
            await watcher.call("subscribe-dashboard", "server")
            heard = pair.heard(watcher)
            update = (await heard.wait_for("dashboard-update"))[0]
            assert update == {
                "dashboardId": "server",
                "ts": RECENT_MS,
                "metrics": update["metrics"],
            }
            assert set(update["metrics"]) == METRICS

            def latest(metric: str) -> int:
                return int(heard.of("dashboard-update")[-1]["metrics"][metric])

            async with pair.client() as other:
                await other.call("join-room", "lobby", "other")
                # an update snapshotted between the connect and the join shows 2 connections
                # and nobody online yet: wait for one taken after the join
                await heard.until(
                    lambda: latest("connections") == 2 and latest("users_online") == 1
                )
            await heard.until(lambda: latest("connections") == 1 and latest("users_online") == 0)

            # a late subscriber starts from the latest snapshot
            async with pair.client() as late:
                reply = await late.call("subscribe-dashboard", "server")
                assert reply["metrics"] is not None and set(reply["metrics"]) == METRICS


async def test_no_updates_after_unsubscribing_or_disconnecting(tmp_path: Path) -> None:
    async with reference_server(tmp_path, background=True, dashboard_interval=FAST) as pair:
        async with pair.client() as stays, pair.client() as leaves:
            for client in (stays, leaves):
                await client.call("subscribe-dashboard", "server")
            await pair.heard(leaves).wait_for("dashboard-update")
            assert (await leaves.call("unsubscribe-dashboard", "server"))["ok"]
            before = len(pair.heard(leaves).of("dashboard-update"))
            count = len(pair.heard(stays).of("dashboard-update"))
            await pair.heard(stays).wait_for("dashboard-update", count + 3)
            assert len(pair.heard(leaves).of("dashboard-update")) == before
        subscriptions = pair.server.dashboards.subscriptions["server"]
        await wait_until(lambda: not subscriptions)


async def test_with_acks_every_update_asks_for_one(tmp_path: Path) -> None:
    async with reference_server(tmp_path, background=True, dashboard_interval=FAST) as pair:
        async with pair.client() as watcher:
            watcher.on("dashboard-update", lambda update: "thanks")
            await watcher.call("subscribe-dashboard", "server", {"ack": True})
            (subscription,) = pair.server.dashboards.subscriptions["server"].values()
            assert subscription.with_ack
            # the next update goes only once the previous one is acked: they keep coming
            await pair.heard(watcher).wait_for("dashboard-update", 3)
            await pair.settle()
            updates = len(pair.heard(watcher).of("dashboard-update"))
            acks = [p for p in pair.sent(watcher) if re.fullmatch(r'43\d+\["thanks"\]', str(p))]
            assert len(acks) == updates == subscription.sent - subscription.awaiting_ack
