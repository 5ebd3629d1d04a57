"""Notifications, dashboard, game state and WebRTC signaling over real sockets.

The server runs in-process on 127.0.0.1 (its own trio tasks, real TCP);
clients are our trio client, raw WebSocket connections (for a reader that
stops reading) and plain HTTP for `POST /notify`.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from server.app import ReferenceServer
from server.config import ServerConfig
from server.features.dashboard import COALESCE_BYTES
from simulate.client import connect

ADMIN = "s3cret-admin"


@asynccontextmanager
async def running_server(
    tmp_path: Path, **options: Any
) -> AsyncIterator[tuple[ReferenceServer, str]]:
    config = ServerConfig(
        port=0,
        db_path=str(tmp_path / "catalogue.sqlite3"),
        admin_token=ADMIN,
        dashboard_interval=0.05,
        game_tick_hz=50,
        **options,
    )
    server = ReferenceServer(config)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve)
        yield server, f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


class Inbox:
    """Collects one event type from a client, with bounded waits."""

    def __init__(self, client: Any, event: str) -> None:
        self.items: list[Any] = []
        client.on(event, lambda *args: self.items.append(args[0] if len(args) == 1 else args))

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        with trio.fail_after(timeout):
            while len(self.items) < count:
                await trio.sleep(0.01)
        return self.items


def post_notify(url: str, body: Any, token: str | None = ADMIN) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url + "/notify", data=data, method="POST")
    req.add_header("content-type", "application/json")
    if token is not None:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def notify_http(url: str, body: Any, token: str | None = ADMIN) -> tuple[int, dict[str, Any]]:
    return await trio.to_thread.run_sync(post_notify, url, body, token)


# --------------------------------------------------------------- notifications


async def test_notifications_reach_user_room_and_everyone(tmp_path):
    async with (
        running_server(tmp_path) as (_, url),
        connect(url, auth={"userId": "ann"}) as ann_tab1,
        connect(url, auth={"userId": "ann"}) as ann_tab2,
        connect(url, auth={"userId": "bob"}) as bob,
    ):
        inboxes = {
            n: Inbox(c, "notification")
            for n, c in (("a1", ann_tab1), ("a2", ann_tab2), ("bob", bob))
        }
        await bob.call("join-room", "ops", "bob")

        status, reply = await notify_http(
            url, {"userId": "ann", "type": "success", "title": "Hi", "message": "to ann"}
        )
        assert status == 200 and reply["ok"] and reply["delivered"] == 2
        await inboxes["a1"].wait_for(1)
        await inboxes["a2"].wait_for(1)
        note = inboxes["a1"].items[0]
        assert note["type"] == "success" and note["title"] == "Hi" and note["message"] == "to ann"
        assert {"id", "timestamp", "seq"} <= set(note)

        status, reply = await notify_http(
            url, {"roomId": "ops", "title": "room", "message": "deploy"}
        )
        assert status == 200 and reply["delivered"] == 1
        await inboxes["bob"].wait_for(1)
        assert inboxes["bob"].items[0]["message"] == "deploy"

        status, reply = await notify_http(
            url, {"all": True, "type": "warning", "title": "all", "message": "maintenance"}
        )
        assert status == 200 and reply["delivered"] == 3
        for inbox in inboxes.values():
            await inbox.wait_for(2)
        await trio.sleep(0.1)
        assert [n["message"] for n in inboxes["bob"].items] == ["deploy", "maintenance"]
        assert [n["message"] for n in inboxes["a1"].items] == ["to ann", "maintenance"]


async def test_bad_notify_requests_are_refused_and_send_nothing(tmp_path):
    async with running_server(tmp_path) as (_, url):
        async with connect(url, auth={"userId": "ann"}) as ann:
            inbox = Inbox(ann, "notification")
            assert (await notify_http(url, {"userId": "ann", "message": "x"}, token=None))[0] == 401
            assert (await notify_http(url, {"userId": "ann", "message": "x"}, token="wrong"))[
                0
            ] == 401
            status, reply = await notify_http(url, b"{not json")
            assert status == 400 and reply["error"]["code"] == "bad_request"
            status, reply = await notify_http(url, {"message": "no target"})
            assert status == 400 and "target" in reply["error"]["message"]
            status, reply = await notify_http(url, {"userId": "ann", "all": True})
            assert status == 400
            status, reply = await notify_http(url, {"userId": "ann", "type": "fancy"})
            assert status == 400 and reply["error"]["code"] == "bad_request"
            await trio.sleep(0.2)
            assert inbox.items == []
            refused = await ann.call("notify", {"userId": "ann", "message": "self-service"})
            assert refused["ok"] is False and refused["error"]["code"] == "forbidden"


async def test_admin_connection_can_notify(tmp_path):
    async with (
        running_server(tmp_path) as (_, url),
        connect(url, auth={"userId": "ann"}) as ann,
        connect(url, auth={"adminToken": ADMIN}) as admin,
    ):
        inbox = Inbox(ann, "notification")
        reply = await admin.call(
            "notify", {"userId": "ann", "type": "error", "title": "t", "message": "m"}
        )
        assert reply["ok"] is True and reply["delivered"] == 1
        assert (await inbox.wait_for(1))[0]["type"] == "error"


async def test_notifications_replay_on_reconnect_without_duplicates(tmp_path):
    async with running_server(tmp_path) as (_, url):
        for text in ("while offline 1", "while offline 2"):
            status, reply = await notify_http(url, {"userId": "cy", "message": text})
            assert status == 200 and reply["delivered"] == 0
        inboxes: list[Inbox] = []
        catch = lambda client: inboxes.append(Inbox(client, "notification"))  # noqa: E731
        async with connect(url, auth={"userId": "cy"}, setup=catch):
            inbox = inboxes[-1]
            replayed = await inbox.wait_for(2)
            assert [n["message"] for n in replayed] == ["while offline 1", "while offline 2"]
            assert all(n.get("replayed") for n in replayed)
            async with connect(url, auth={"userId": "cy"}, setup=catch):
                tab_inbox = inboxes[-1]
                await notify_http(url, {"userId": "cy", "message": "live"})
                await tab_inbox.wait_for(1)
                await inbox.wait_for(3)
                await trio.sleep(0.1)
                assert [n["message"] for n in tab_inbox.items] == ["live"]  # no replay of old ones
        async with connect(url, auth={"userId": "cy"}, setup=catch):
            inbox = inboxes[-1]
            await trio.sleep(0.3)
            assert inbox.items == []  # everything was delivered already
        async with connect(url, auth={"userId": "cy", "lastNotificationSeq": 1}, setup=catch):
            inbox = inboxes[-1]
            assert [n["message"] for n in await inbox.wait_for(2)] == ["while offline 2", "live"]


# ------------------------------------------------------------------- dashboard


async def test_dashboard_publishes_server_stats_and_tracks_connections(tmp_path):
    async with running_server(tmp_path) as (server, url):
        async with connect(url) as watcher:
            updates = Inbox(watcher, "dashboard-update")
            reply = await watcher.call("subscribe-dashboard", "server")
            assert reply["ok"] and reply["dashboardId"] == "server"
            async with connect(url) as _other:
                await updates.wait_for(3)
                with trio.fail_after(5):
                    while updates.items[-1]["metrics"]["connections"] != 2:
                        await trio.sleep(0.02)
            with trio.fail_after(5):
                while updates.items[-1]["metrics"]["connections"] != 1:
                    await trio.sleep(0.02)
            metrics = updates.items[-1]["metrics"]
            assert {
                "events_in_per_s",
                "deliveries_per_s",
                "fanout",
                "handling_p99_ms",
                "rooms",
            } <= set(metrics)
            assert updates.items[-1]["dashboardId"] == "server" and updates.items[-1]["ts"] > 0
            unknown = await watcher.call("subscribe-dashboard", "nope")
            assert unknown["ok"] is False and unknown["error"]["code"] == "not_found"
            assert (await watcher.call("unsubscribe-dashboard", "server"))["ok"]
            count = len(updates.items)
            await trio.sleep(0.3)
            assert len(updates.items) <= count + 1
        await trio.sleep(0.1)
        assert not any(server.dashboards.subscriptions.get("server", {}))


class RawSocketIO:
    """A WebSocket Socket.IO client that reads only when told to (a slow reader)."""

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.port = port
        self.rcvbuf = rcvbuf
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.events: list[Any] = []
        self._partial = ""

    async def open(self) -> None:
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        await sock.connect(("127.0.0.1", self.port))
        self.stream = trio.SocketStream(sock)
        await self.stream.send_all(
            self.ws.send(Request(host="127.0.0.1", target="/socket.io/?EIO=4&transport=websocket"))
        )
        await self._until(lambda e: isinstance(e, AcceptConnection))
        await self.send("40")
        await self._until(lambda e: isinstance(e, TextMessage) and e.data.startswith("40"))

    async def send(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))

    async def _until(self, predicate: Any) -> None:
        with trio.fail_after(5):
            while True:
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        self._partial += event.data
                        if not event.message_finished:
                            continue
                        event = TextMessage(data=self._partial)
                        self._partial = ""
                        if event.data == "2":
                            await self.send("3")
                        elif event.data.startswith("42"):
                            self.events.append(json.loads(event.data[2:]))
                    if predicate(event):
                        return
                self.ws.receive_data(await self.stream.receive_some(4096))

    async def read_for(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._until(lambda e: False)


async def test_slow_dashboard_subscriber_gets_fresh_snapshots_not_a_backlog(tmp_path):
    """A subscriber that stops reading for 80 intervals, then resumes, sees only what the
    kernel buffers held (its receive buffer plus the server's coalescing threshold, in
    updates) and then current ones; the server skipped the rest instead of queueing them."""
    async with running_server(tmp_path) as (server, url):
        port = int(url.rsplit(":", 1)[1])
        slow = RawSocketIO(port, rcvbuf=2048)
        await slow.open()
        rcvbuf = slow.stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        await slow.send('42["subscribe-dashboard","server"]')
        async with connect(url) as noisy:
            for i in range(40):  # some traffic, so that updates carry rates
                await noisy.call("join-room", f"room-{i}", "noisy")
            await trio.sleep(0.05 * 80)  # 80 ticks without reading
            resumed_at_ms = int(time.time() * 1000)
            await slow.read_for(1.0)
        updates = [e[1] for e in slow.events if e[0] == "dashboard-update"]
        stale = [u for u in updates if u["ts"] < resumed_at_ms - 60]
        fresh = [u for u in updates if u["ts"] >= resumed_at_ms]
        sub_skipped = sum(s.skipped for s in server.dashboards.subscriptions["server"].values())
        size = min(len(json.dumps(u)) for u in updates)
        buffered = (rcvbuf + COALESCE_BYTES) // size + 2
        assert fresh, "the subscriber receives current snapshots after resuming"
        assert len(stale) <= buffered < 60, (len(stale), buffered, rcvbuf, size)
        assert sub_skipped >= 80 - buffered


# ------------------------------------------------------------------------ game


async def test_game_inputs_are_applied_in_order_and_reflected_in_ticks(tmp_path):
    async with running_server(tmp_path) as (server, url):
        async with connect(url) as p1, connect(url) as p2:
            states = Inbox(p1, "game-state")
            join = await p1.call("join-game", "arena", "p1")
            assert join["ok"] and join["tickRate"] == 50
            await p2.call("join-game", "arena", "p2")
            for seq in range(5):
                assert (
                    await p1.call(
                        "player-input", "arena", {"seq": seq, "input": {"dx": 1, "dy": 0}}
                    )
                )["ok"]
            for seq in range(3):
                await p2.emit("player-input", "arena", {"seq": seq, "input": {"dx": 0, "dy": -1}})
            with trio.fail_after(5):
                while (
                    not states.items
                    or states.items[-1]["players"].get("p2", {}).get("lastSeq") != 2
                    or states.items[-1]["players"]["p1"]["lastSeq"] != 4
                ):
                    await trio.sleep(0.02)
            last = states.items[-1]["players"]
            assert last["p1"]["x"] == 55.0 and last["p1"]["y"] == 50.0
            assert last["p2"]["x"] == 50.0 and last["p2"]["y"] == 47.0
            ticks = [s["tick"] for s in states.items]
            assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)
            stale = await p1.call("player-input", "arena", {"seq": 3, "input": {"dx": 1}})
            assert stale["ok"] is False and stale["error"]["code"] == "conflict"
            bad = await p1.call("player-input", "arena", {"seq": 9, "input": {"dx": "left"}})
            assert bad["ok"] is False and bad["error"]["code"] == "bad_request"
            outsider = await p2.call("player-input", "other", {"seq": 1, "input": {}})
            assert outsider["ok"] is False and outsider["error"]["code"] == "forbidden"
        await trio.sleep(0.1)
        assert "arena" not in server.games.games  # the loop stopped when everyone left


async def test_a_player_who_stops_reading_does_not_slow_the_tick_loop(tmp_path):
    async with running_server(tmp_path) as (_server, url):
        port = int(url.rsplit(":", 1)[1])
        stalled = RawSocketIO(port, rcvbuf=2048)
        await stalled.open()
        await stalled.send('42["join-game","g","stalled"]')
        async with connect(url) as player:
            states = Inbox(player, "game-state")
            await player.call("join-game", "g", "reader")
            await trio.sleep(1.5)
            first, last = states.items[0]["tick"], states.items[-1]["tick"]
        # 50 Hz for 1.5 s is 75 ticks; a loop slowed by the stalled reader would show far fewer
        assert last - first >= 40
        assert len(states.items) >= 40


# ------------------------------------------------------------------------- RTC


async def test_rtc_signals_reach_only_the_addressee(tmp_path):
    async with running_server(tmp_path) as (_, url):
        async with (
            connect(url) as a,
            connect(url) as b,
            connect(url) as c,
            connect(url) as outsider,
        ):
            joined = Inbox(a, "rtc-peer-joined")
            Inbox(a, "rtc-peer-left")
            offers = {
                n: Inbox(cl, "rtc-offer")
                for n, cl in (("a", a), ("b", b), ("c", c), ("o", outsider))
            }
            answers = Inbox(a, "rtc-answer")
            candidates = Inbox(b, "rtc-ice-candidate")
            ra = await a.call("rtc-join", "call-1")
            assert ra["ok"] and ra["peers"] == []
            rb = await b.call("rtc-join", "call-1")
            assert rb["peers"] == [a.sid]
            await c.call("rtc-join", "call-1")
            assert [p["peerId"] for p in await joined.wait_for(2)] == [b.sid, c.sid]

            sdp = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
            assert (await a.call("rtc-offer", {"to": b.sid, "sdp": sdp}))["ok"]
            got = (await offers["b"].wait_for(1))[0]
            assert got["from"] == a.sid and got["sdp"] == sdp and got["to"] == b.sid
            await b.emit("rtc-answer", {"to": a.sid, "sdp": {"type": "answer", "sdp": "v=0"}})
            assert (await answers.wait_for(1))[0]["from"] == b.sid
            for i in range(20):
                await a.emit(
                    "rtc-ice-candidate", {"to": b.sid, "candidate": {"candidate": f"c{i}"}}
                )
            assert [x["candidate"]["candidate"] for x in await candidates.wait_for(20)] == [
                f"c{i}" for i in range(20)
            ]
            await trio.sleep(0.1)
            assert offers["a"].items == [] and offers["c"].items == [] and offers["o"].items == []

            stranger = await a.call("rtc-offer", {"to": outsider.sid, "sdp": sdp})
            assert stranger["ok"] is False and stranger["error"]["code"] == "not_found"
            nobody = await a.call("rtc-offer", {"to": "no-such-peer", "sdp": sdp})
            assert nobody["ok"] is False and nobody["error"]["code"] == "not_found"
            missing = await a.call("rtc-offer", {"to": b.sid})
            assert missing["ok"] is False and missing["error"]["code"] == "bad_request"


async def test_rtc_peer_left_on_disconnect_and_leave(tmp_path):
    async with running_server(tmp_path) as (server, url), connect(url) as a:
        left = Inbox(a, "rtc-peer-left")
        await a.call("rtc-join", "room")
        async with connect(url) as b:
            await b.call("rtc-join", "room")
            b_sid = b.sid
        assert (await left.wait_for(1))[0]["peerId"] == b_sid
        async with connect(url) as c:
            await c.call("rtc-join", "room")
            assert (await c.call("rtc-leave", "room"))["ok"]
            assert [p["peerId"] for p in await left.wait_for(2)][-1] == c.sid
            assert (await c.call("rtc-leave", "room"))["error"]["code"] == "not_found"
        members = list(server.hub.namespaces["/"].members("rtc:room"))
        assert [m.sid for m in members] == [a.sid]
