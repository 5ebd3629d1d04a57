"""Locust users for the rest of the catalogue: notifications, dashboard, game, RTC.

The bots' twins (simulate/catalogue_personas.py): same parameters, same
event names, same measurement code (simulate/catalogue.py), so a Locust run
and a fleet run of a scenario fill the same histograms. Locust rows:
`ack notify.ack`, `push notification.delivery`, `ack dashboard.subscribe`,
`push dashboard.staleness` / `push dashboard.interval`, `ack game.join`,
`ack game.input`, `push game.input_to_state` / `push game.tick_jitter` /
`push game.skipped_ticks`, `ack rtc.join`, `rtt rtc.offer_answer`,
`push rtc.ice_delivery`.

The notifier needs the server's admin token: `--rtlab-admin-token` or the
environment variable `RTLAB_ADMIN_TOKEN` (the server reads the same one).
Handlers run in python-socketio's reading greenlet: they never block;
answers to offers and the end-of-run leave go out from their own greenlets.
Requests are the catalogue's types (`server/catalogue.py`), as the bots'.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import gevent
import socketio
from locust import events, task

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.rtlab_user import (
    CALL_TIMEOUT_S,
    RtlabUser,
    SeatedUser,
    ack_error_code,
)
from server.catalogue import (
    ClientEvent,
    EventName,
    JoinGame,
    JoinRoom,
    LeaveGame,
    Notify,
    PlayerInput,
    RtcJoin,
    SubscribeDashboard,
    UnsubscribeDashboard,
)
from simulate.catalogue import (
    ADMIN_TOKEN_ENV,
    CATALOGUE_FAMILY,
    DASHBOARD_ID,
    DashboardTracker,
    GameTracker,
    admin_token,
    notification_request,
    notification_sent_at,
    notify_directory,
    offer_to_answer,
    rtc_answer,
    rtc_candidate,
    rtc_offer,
)

IDLE_NS = 1_000_000_000  # listeners wake once a second (only to retry a failed join)
STREAM_SETTLE_S = 2.0


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--rtlab-admin-token",
        env_var=ADMIN_TOKEN_ENV,
        default="",
        help="the server's admin token, for the notifier (POST /notify, admin socket)",
    )


class CatalogueUser(SeatedUser):
    """A seat of the persona's family: connect, join (`join(label)` below), retry, rejoin."""

    abstract = True

    def on_start(self) -> None:
        self.seat = self.rtlab.take_seat(CATALOGUE_FAMILY[self.persona_kind])
        self.setup_handlers()
        self.connect_and_join()
        self.next_at_ns = time.time_ns() + IDLE_NS

    def setup_handlers(self) -> None:
        """Register push handlers before connecting."""

    def idle(self) -> None:
        """A listener's task: retry a failed join, else only wake again in a second."""
        if not self.joined and not self.rtlab.stopping:
            self.retry_join()
        self.next_at_ns = time.time_ns() + IDLE_NS

    def record(self, kind: str) -> Callable[[str, int, int], None]:
        rtlab = self.rtlab
        return lambda event, since_ns, now_ns: rtlab.latency(kind, event, since_ns, now_ns=now_ns)

    def emit_later(self, request: ClientEvent) -> None:
        """An emit from a handler: off the reading greenlet (errors counted under its name)."""
        gevent.spawn(self.emit_plain, str(request.name), request)


# ------------------------------------------------------------------ notifications
class NotificationReceiverUser(CatalogueUser):
    abstract = True
    persona_kind = "notification-receiver"
    scenario_name = "notifications"
    join_labels = ("room.join", "room.rejoin")

    def setup_handlers(self) -> None:
        self.sio.on(EventName.NOTIFICATION, self._on_notification)

    def join(self, label: str) -> bool:
        joined = self.call_measured(label, JoinRoom(self.seat, self.user_id), time.time_ns())
        if joined:
            notify_directory(self.rtlab.run_tag).add(self.user_id, self.seat)
        return joined is not None

    @task
    def listen(self) -> None:
        self.idle()

    def on_stop(self) -> None:
        notify_directory(self.rtlab.run_tag).remove(self.user_id)
        super().on_stop()

    def _on_notification(self, note: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        sent_at = notification_sent_at(note, self.rtlab.run_tag)
        if sent_at is not None:
            self.rtlab.latency("push", "notification.delivery", sent_at, now_ns=now)


class NotifierUser(RtlabUser):
    """POSTs /notify (or emits `notify` on an admin socket) on its open-model schedule."""

    abstract = True
    persona_kind = "notifier"
    scenario_name = "notifications"

    def on_start(self) -> None:
        params = self.params
        options = self.environment.parsed_options
        self.token = getattr(options, "rtlab_admin_token", "") or admin_token()
        self.sent_notifications = 0
        self.ready = bool(self.token)
        if not self.token:
            self.rtlab.error("ack", "notify.ack", "no_admin_token")
        elif not params.via_http:
            self.ready = self.connect_admin()
        self.start_schedule()

    def connect_admin(self) -> bool:
        auth = {"adminToken": self.token, "userId": self.user_id}
        return self.connect_once("connect", auth, time.time_ns())

    @task
    def notify(self) -> None:
        if self.rtlab.stopping:
            return
        scheduled = self.wait_for_turn()
        if not self.ready:
            return
        directory = notify_directory(self.rtlab.run_tag)
        number = self.sent_notifications
        request = notification_request(
            self.params, self.rng, directory, self.rtlab.run_tag, scheduled, number
        )
        if request is None:
            return  # no receiver has joined yet
        self.sent_notifications += 1
        if self.params.via_http:
            self.rtlab.recorder.sent()
            gevent.spawn(self._post, request, scheduled)
        elif self.emit_acked("notify.ack", request, scheduled):
            self.rtlab.recorder.sent()  # counted only once it left

    def _post(self, notify: Notify, scheduled: int) -> None:
        run = self.rtlab
        token = run.acks.open("ack", "notify.ack", scheduled)
        request = urllib.request.Request(
            self.url.rstrip("/") + "/notify",
            data=json.dumps(notify.to_json(), separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as response:
                status, reply = response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            status, reply = exc.code, _json_or_none(exc.read())
        except (OSError, ValueError) as exc:
            if run.acks.close(token):
                run.error("ack", "notify.ack", "timeout" if "timed out" in str(exc) else "http")
            return
        if not run.acks.close(token):
            return
        if status == 200 and isinstance(reply, dict) and reply.get("ok"):
            run.latency("ack", "notify.ack", scheduled)
        else:
            code = ack_error_code(reply) if isinstance(reply, dict) else f"http_{status}"
            run.error("ack", "notify.ack", code, scheduled)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


# ------------------------------------------------------------------ dashboard
class DashboardWatcherUser(CatalogueUser):
    abstract = True
    persona_kind = "dashboard-watcher"
    scenario_name = "dashboard"
    join_labels = ("dashboard.subscribe", "dashboard.resubscribe")

    def setup_handlers(self) -> None:
        self.tracker = DashboardTracker(self.record("push"))
        self.sio.on(EventName.DASHBOARD_UPDATE, self._on_update)

    def join(self, label: str) -> bool:
        request = SubscribeDashboard(DASHBOARD_ID, ack=bool(self.params.ack))
        return self.call_measured(label, request, time.time_ns()) is not None

    @task
    def watch(self) -> None:
        self.idle()

    def on_stop(self) -> None:
        if self.rtlab.stopping and self.joined:
            unsubscribe = UnsubscribeDashboard(DASHBOARD_ID)
            self.emit_plain(str(unsubscribe.name), unsubscribe)
        super().on_stop()

    def _on_update(self, update: Any = None, *_: Any) -> Any:
        now = time.time_ns()
        self.rtlab.recorder.received()
        self.tracker.on_update(update, now)
        return {"ok": True}  # answers the ack request in `ack` mode


# ------------------------------------------------------------------ game
class GamePlayerUser(CatalogueUser):
    abstract = True
    persona_kind = "game-player"
    scenario_name = "game"
    join_labels = ("game.join", "game.rejoin")

    def setup_handlers(self) -> None:
        self.tracker = GameTracker(self.user_id, self.record("push"))
        self.seq = 0
        self.sio.on(EventName.GAME_STATE, self._on_state)

    def on_start(self) -> None:
        super().on_start()
        self.start_schedule()

    def join(self, label: str) -> bool:
        reply = self.call_measured(label, JoinGame(self.seat, self.user_id), time.time_ns())
        if reply is not None:
            self.tracker.set_tick_rate(reply.get("tickRate"))
        return reply is not None

    @task
    def play(self) -> None:
        if not self.ready_to_act():
            return
        scheduled = self.wait_for_turn()
        seq, self.seq = self.seq, self.seq + 1
        token = self.rtlab.acks.open("push", "game.input_to_state", scheduled)
        self.tracker.on_input(seq, scheduled, token)
        move = PlayerInput(self.seat, seq, self.rng.uniform(-1, 1), self.rng.uniform(-1, 1))
        if self.emit_acked("game.input", move, scheduled):
            self.rtlab.recorder.sent()  # counted only once it left
        else:
            tag = self.tracker.drop(seq)
            if tag is not None:
                self.rtlab.acks.close(tag)

    def on_stop(self) -> None:
        if self.rtlab.stopping and self.joined:
            gevent.spawn(self._leave_when_settled)
        super().on_stop()

    def _leave_when_settled(self) -> None:
        """Wait for the last inputs to show in a state, then leave: the stream stops."""
        deadline = time.monotonic() + STREAM_SETTLE_S
        while self.tracker.pending and time.monotonic() < deadline:
            gevent.sleep(0.02)
        leave = LeaveGame(self.seat)
        self.emit_plain(str(leave.name), leave)

    def _on_state(self, state: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        for scheduled, token in self.tracker.on_state(state, now):
            if self.rtlab.acks.close(token):
                self.rtlab.latency("push", "game.input_to_state", scheduled, now_ns=now)


# ------------------------------------------------------------------ RTC
class RtcPeerUser(CatalogueUser):
    abstract = True
    persona_kind = "rtc-peer"
    scenario_name = "rtc"
    join_labels = ("rtc.join", "rtc.rejoin")

    def setup_handlers(self) -> None:
        self.peers: list[str] = []
        self.offers: dict[str, tuple[int, int]] = {}  # offer id -> (ack token, scheduled)
        self.offers_sent = 0
        for event, handler in (
            (EventName.RTC_PEER_JOINED, self._on_peer_joined),
            (EventName.RTC_PEER_LEFT, self._on_peer_left),
            (EventName.RTC_OFFER, self._on_offer),
            (EventName.RTC_ANSWER, self._on_answer),
            (EventName.RTC_ICE_CANDIDATE, self._on_candidate),
        ):
            self.sio.on(event, handler)

    def on_start(self) -> None:
        super().on_start()
        self.start_schedule()

    def join(self, label: str) -> bool:
        reply = self.call_measured(label, RtcJoin(self.seat), time.time_ns())
        if reply is None:
            return False
        self.peers[:] = [p for p in reply.get("peers") or () if isinstance(p, str)]
        return True

    @task
    def call_a_peer(self) -> None:
        if not self.ready_to_act():
            return
        scheduled = self.wait_for_turn()
        if not self.peers:
            return  # alone in the room (yet): nobody to call
        to = self.rng.choice(self.peers)
        self.send_offer(to, scheduled)
        for n in range(self.params.ice_burst):
            candidate = rtc_candidate(self.rng, to, n, scheduled, self.rtlab.run_tag)
            self.emit_plain(str(candidate.name), candidate)

    def send_offer(self, to: str, scheduled: int) -> None:
        run = self.rtlab
        offer_id = f"{self.user_id}-o{self.offers_sent}"
        self.offers_sent += 1
        offer = rtc_offer(self.rng, self.params, to, offer_id, scheduled, run.run_tag)
        token = run.acks.open("rtt", "rtc.offer_answer", scheduled)
        self.offers[offer_id] = (token, scheduled)

        def relayed(*reply: Any) -> None:  # the server's ack: relayed, or refused (peer gone)
            body = reply[0] if reply else None
            if not (isinstance(body, dict) and body.get("ok")):
                self._settle(offer_id, ack_error_code(body))

        try:
            self.sio.emit_event(offer, callback=relayed)
        except socketio.exceptions.SocketIOError:
            self._settle(offer_id, "not_connected")
            return
        run.recorder.sent()  # counted only once it left

    def _settle(self, offer_id: str, error: str | None = None, now: int | None = None) -> None:
        entry = self.offers.pop(offer_id, None)
        if entry is None:
            return
        token, scheduled = entry
        if not self.rtlab.acks.close(token):
            return  # already counted as a timeout
        if error is None:
            self.rtlab.latency("rtt", "rtc.offer_answer", scheduled, now_ns=now)
        else:
            self.rtlab.error("rtt", "rtc.offer_answer", error, scheduled)

    def _on_peer_joined(self, peer: Any = None, *_: Any) -> None:
        self.rtlab.recorder.received()
        if isinstance(peer, dict) and isinstance(peer.get("peerId"), str):
            self.peers.append(peer["peerId"])

    def _on_peer_left(self, peer: Any = None, *_: Any) -> None:
        self.rtlab.recorder.received()
        if isinstance(peer, dict) and peer.get("peerId") in self.peers:
            self.peers.remove(peer["peerId"])

    def _on_offer(self, payload: Any = None, *_: Any) -> None:
        self.rtlab.recorder.received()
        offer = offer_to_answer(payload, self.rtlab.run_tag)
        if offer is not None:
            self.emit_later(rtc_answer(self.rng, self.params, offer, self.rtlab.run_tag))

    def _on_answer(self, answer: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        if isinstance(answer, dict) and answer.get("run") == self.rtlab.run_tag:
            self._settle(str(answer.get("id")), now=now)

    def _on_candidate(self, candidate: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.rtlab.recorder.received()
        if isinstance(candidate, dict) and candidate.get("run") == self.rtlab.run_tag:
            sent_at = candidate.get("sentAt")
            if isinstance(sent_at, int):
                self.rtlab.latency("push", "rtc.ice_delivery", sent_at, now_ns=now)
