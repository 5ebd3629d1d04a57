"""The rest of the catalogue as load: notifications, dashboard, game, RTC — engine-free parts.

Persona parameters (registered into `simulate.scenarios` so TOML files can
name them), their validation, and the measurement logic both engines share
(the trio bots in `simulate/catalogue_personas.py`, the Locust users in
`locustfiles/catalogue_users.py`), including the requests both send, built
from the catalogue's types (`server/catalogue.py`). Like
`simulate.scenarios`, this module imports neither trio nor gevent.

Event names (run directory, `simulate/recording.py`), all latencies in the
usual histograms:

- `notify.ack`: POST /notify (or the admin socket's `notify`) round trip,
  from the scheduled instant.
- `notification.delivery`: scheduled send instant of the notifier -> a
  receiver's `notification` (one-way, same host clock). The stamp travels
  in the notification's `message` as JSON `{"run", "sentAt", "n"}`: the
  server keeps only `title` and `message` of the body.
- `dashboard.subscribe`, `dashboard.staleness` (receive time - the update's
  `ts`, ms resolution), `dashboard.interval` (time between two updates).
- `game.join`, `game.input` (player-input ack), `game.input_to_state` (input
  seq N scheduled -> first `game-state` whose `players[me].lastSeq >= N`),
  `game.tick_jitter` (|arrival interval - ticks elapsed x nominal interval|),
  `game.skipped_ticks` (one sample per tick never received; its value is
  the stall the player saw: the time between the states around the gap).
- `rtc.join`, `rtc.offer_answer` (offer scheduled -> the peer's answer back,
  both relayed by the server), `rtc.ice_delivery` (a burst's scheduled
  instant -> each relayed `rtc-ice-candidate`).

The admin token the notifier needs comes from the environment
(`RTLAB_ADMIN_TOKEN`, the server's own variable); `scripts/loadtest.py`
sets it for the server it starts and for the engines.
"""

from __future__ import annotations

import json
import math
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.catalogue import (
    EventError,
    NotificationType,
    Notify,
    RtcAnswer,
    RtcIceCandidate,
    RtcOffer,
    RtcOfferRelayed,
)

ADMIN_TOKEN_ENV = "RTLAB_ADMIN_TOKEN"
DASHBOARD_ID = "server"
SDP_FILLER = "v=0 o=- 0 0 IN IP4 127.0.0.1 s=- t=0 0 a=group:BUNDLE 0 m=audio 9 UDP/TLS/RTP 111 "

# An event the reports' catalogue table reads; a sample per tick never received.
SKIPPED_TICKS = "game.skipped_ticks"


class CatalogueError(ValueError):
    """A catalogue persona's parameters that cannot work."""


# ------------------------------------------------------------------ parameters
@dataclass(frozen=True, slots=True)
class NotificationReceiverParams:
    """Connects as its user, joins its room (room-wide notifications) and times deliveries."""


@dataclass(frozen=True, slots=True)
class NotifierParams:
    """Sends notifications at `rate`/s to one receiver, a receivers' room, or everyone."""

    rate: float = 2.0
    arrival: str = "poisson"
    user_weight: float = 0.6
    room_weight: float = 0.3
    all_weight: float = 0.1
    via_http: int = 1  # 1: POST /notify with the admin token; 0: `notify` on an admin socket


@dataclass(frozen=True, slots=True)
class DashboardWatcherParams:
    """Subscribes to the `server` dashboard; with `ack` = 1 it acks every update (flow control)."""

    ack: int = 0


@dataclass(frozen=True, slots=True)
class GamePlayerParams:
    """Joins its game (room_size players) and sends `player-input` at `rate`/s."""

    rate: float = 10.0
    arrival: str = "constant"


@dataclass(frozen=True, slots=True)
class RtcPeerParams:
    """Joins its RTC room; at `rate`/s offers to a random peer, then a burst of ICE candidates."""

    rate: float = 0.5
    arrival: str = "poisson"
    ice_burst: int = 8
    sdp_bytes: int = 1500


CATALOGUE_PARAMS: dict[str, type[Any]] = {
    "notification-receiver": NotificationReceiverParams,
    "notifier": NotifierParams,
    "dashboard-watcher": DashboardWatcherParams,
    "game-player": GamePlayerParams,
    "rtc-peer": RtcPeerParams,
}
# Receivers and notifiers share rooms (room notifications); players share games; peers RTC rooms.
CATALOGUE_FAMILY = {
    "notification-receiver": "notify",
    "notifier": "notify",
    "dashboard-watcher": "dash",
    "game-player": "game",
    "rtc-peer": "rtc",
}
# The headline latency of a scenario made only of these personas (in this order of preference).
MAIN_EVENTS = (
    ("game-player", "game.input_to_state"),
    ("rtc-peer", "rtc.offer_answer"),
    ("notification-receiver", "notification.delivery"),
    ("notifier", "notify.ack"),
    ("dashboard-watcher", "dashboard.staleness"),
)


def catalogue_main_event(kinds: set[str]) -> str | None:
    for kind, event in MAIN_EVENTS:
        if kind in kinds:
            return event
    return None


def validate_catalogue_params(params: Any, where: str) -> None:
    """Checks beyond `>= 0` (done by simulate.scenarios for every numeric field)."""
    if isinstance(params, NotifierParams | GamePlayerParams | RtcPeerParams):
        if params.rate <= 0:
            raise CatalogueError(f"{where}: rate must be > 0 per second, got {params.rate}")
        if params.rate > 1000:
            raise CatalogueError(f"{where}: rate {params.rate}/s per user is beyond a bot")
    if isinstance(params, NotifierParams):
        if params.user_weight + params.room_weight + params.all_weight <= 0:
            raise CatalogueError(f"{where}: user/room/all weights sum to zero")
        if params.via_http not in (0, 1):
            raise CatalogueError(f"{where}: via_http is 0 or 1")
    if isinstance(params, DashboardWatcherParams) and params.ack not in (0, 1):
        raise CatalogueError(f"{where}: ack is 0 or 1")
    if isinstance(params, RtcPeerParams):
        if not isinstance(params.ice_burst, int) or params.ice_burst > 1000:
            raise CatalogueError(f"{where}: ice_burst is an integer in 0..1000")
        if params.sdp_bytes > 60_000:
            raise CatalogueError(f"{where}: sdp_bytes must stay under the server's 64 KiB")


def admin_token() -> str:
    return os.environ.get(ADMIN_TOKEN_ENV, "")


# ------------------------------------------------------------------ notifications
class NotifyDirectory:
    """Who can be notified in this process, per run tag: receivers register when they joined."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.rooms: list[str] = []

    def add(self, user_id: str, room: str) -> None:
        self.users.append(user_id)
        if room not in self.rooms:
            self.rooms.append(room)

    def remove(self, user_id: str) -> None:
        if user_id in self.users:
            self.users.remove(user_id)


_directories: dict[str, NotifyDirectory] = {}


def notify_directory(run_tag: str) -> NotifyDirectory:
    directory = _directories.get(run_tag)
    if directory is None:
        directory = _directories[run_tag] = NotifyDirectory()
    return directory


def notification_request(
    params: NotifierParams, rng: Any, directory: NotifyDirectory, run_tag: str, at_ns: int, n: int
) -> Notify | None:
    """One `notify` (target chosen by the weights); None: nobody to target yet.

    The same body goes out as the `notify` event or as `POST /notify`'s JSON
    (`to_json()`).
    """
    weights = [params.user_weight, params.room_weight, params.all_weight]
    target = rng.choices(("user", "room", "all"), weights)[0]
    stamp = json.dumps({"run": run_tag, "sentAt": at_ns, "n": n}, separators=(",", ":"))
    title = f"load {n}"
    if target == "user":
        if not directory.users:
            return None
        user = rng.choice(directory.users)
        return Notify(user_id=user, type=NotificationType.INFO, title=title, message=stamp)
    if target == "room":
        if not directory.rooms:
            return None
        room = rng.choice(directory.rooms)
        return Notify(room_id=room, type=NotificationType.INFO, title=title, message=stamp)
    return Notify(everyone=True, type=NotificationType.INFO, title=title, message=stamp)


def notification_sent_at(note: Any, run_tag: str) -> int | None:
    """The scheduled instant stamped in a live notification of this run (replays: None)."""
    if not isinstance(note, dict) or note.get("replayed"):
        return None
    message = note.get("message")
    if not isinstance(message, str) or not message.startswith("{"):
        return None
    try:
        stamp = json.loads(message)
    except ValueError:
        return None
    if not isinstance(stamp, dict) or stamp.get("run") != run_tag:
        return None
    sent_at = stamp.get("sentAt")
    return sent_at if isinstance(sent_at, int) else None


# ------------------------------------------------------------------ measurement
Record = Callable[[str, int, int], None]  # (event, since_ns, now_ns)


@dataclass
class DashboardTracker:
    record: Record
    last_arrival_ns: int | None = None
    updates: int = 0

    def on_update(self, update: Any, now_ns: int) -> None:
        if not isinstance(update, dict):
            return
        self.updates += 1
        ts = update.get("ts")
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            # `ts` is whole ms: the update may be up to 1 ms younger than it says
            self.record("dashboard.staleness", int(ts * 1_000_000), now_ns)
        if self.last_arrival_ns is not None:
            self.record("dashboard.interval", self.last_arrival_ns, now_ns)
        self.last_arrival_ns = now_ns


@dataclass
class GameTracker:
    """Ticks, jitter, skipped ticks and input-to-state latency of one player."""

    player_id: str
    record: Record
    nominal_ns: int = 50_000_000
    last_tick: int | None = None
    last_arrival_ns: int = 0
    states: int = 0
    skipped: int = 0
    pending: deque[tuple[int, int, Any]] = field(default_factory=deque)  # seq, scheduled, tag

    def set_tick_rate(self, tick_rate: Any) -> None:
        if isinstance(tick_rate, int | float) and tick_rate > 0 and math.isfinite(tick_rate):
            self.nominal_ns = int(1e9 / tick_rate)

    def on_input(self, seq: int, scheduled_ns: int, tag: Any = None) -> None:
        self.pending.append((seq, scheduled_ns, tag))

    def on_state(self, state: Any, now_ns: int) -> list[tuple[int, Any]]:
        """Record tick stats; return the (scheduled_ns, tag) of the inputs this state reflects.

        The caller records `game.input_to_state` for those (it knows whether an
        input's wait has already been counted as a timeout).
        """
        if not isinstance(state, dict) or not isinstance(state.get("tick"), int):
            return []
        tick = state["tick"]
        if self.last_tick is not None:
            gap = tick - self.last_tick
            if gap <= 0:
                return []  # a duplicate or a late one: says nothing about the loop
            elapsed = now_ns - self.last_arrival_ns
            jitter = abs(elapsed - gap * self.nominal_ns)
            self.record("game.tick_jitter", now_ns - jitter, now_ns)
            for _ in range(gap - 1):
                self.record(SKIPPED_TICKS, self.last_arrival_ns, now_ns)
            self.skipped += gap - 1
        self.states += 1
        self.last_tick = tick
        self.last_arrival_ns = now_ns
        players = state.get("players")
        me = players.get(self.player_id) if isinstance(players, dict) else None
        last_seq = me.get("lastSeq") if isinstance(me, dict) else None
        resolved: list[tuple[int, Any]] = []
        if isinstance(last_seq, int):
            while self.pending and self.pending[0][0] <= last_seq:
                _seq, scheduled, tag = self.pending.popleft()
                resolved.append((scheduled, tag))
        return resolved

    def drop(self, seq: int) -> Any:
        """An input the server refused will never show up in a state: forget it (its tag)."""
        for index, (pending_seq, _scheduled, tag) in enumerate(self.pending):
            if pending_seq == seq:
                del self.pending[index]
                return tag
        return None


def sdp(rng: Any, size: int) -> str:
    """A fake SDP of about `size` bytes (the server never parses it)."""
    body = SDP_FILLER * (size // len(SDP_FILLER) + 1)
    return body[: max(16, size - 8)] + f"{rng.randrange(16**8):08x}"


def ice_candidate(rng: Any, n: int) -> dict[str, Any]:
    port = rng.randrange(1024, 65535)
    return {
        "candidate": f"candidate:{n} 1 udp 2122260223 10.0.{n % 256}.{rng.randrange(256)} "
        f"{port} typ host generation 0",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


# The RTC messages of a peer, whichever engine sends them ("run": only peers of the run answer).
def rtc_offer(
    rng: Any, params: RtcPeerParams, to: str, offer_id: str, scheduled_ns: int, run_tag: str
) -> RtcOffer:
    return RtcOffer(to, sdp(rng, params.sdp_bytes), id=offer_id, sent_at=scheduled_ns, run=run_tag)


def offer_to_answer(offer: Any, run_tag: str) -> RtcOfferRelayed | None:
    """A relayed `rtc-offer` this run's peer answers (a peer of another run's: None)."""
    if not isinstance(offer, dict) or offer.get("run") != run_tag:
        return None
    try:
        return RtcOfferRelayed.parse([offer])
    except EventError:
        return None


def rtc_answer(rng: Any, params: RtcPeerParams, offer: RtcOfferRelayed, run_tag: str) -> RtcAnswer:
    """The answer to `offer`, back to its sender, naming the offer it answers."""
    return RtcAnswer(offer.sender, sdp(rng, params.sdp_bytes), id=offer.id, run=run_tag)


def rtc_candidate(rng: Any, to: str, n: int, scheduled_ns: int, run_tag: str) -> RtcIceCandidate:
    """The burst's `n`th ICE candidate, stamped with the burst's scheduled instant."""
    return RtcIceCandidate(to, ice_candidate(rng, n), sent_at=scheduled_ns, run=run_tag)
