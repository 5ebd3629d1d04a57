"""Bots for the rest of the catalogue: notifications, dashboard, game, RTC (trio).

Importing this module registers the personas in `simulate.personas.PERSONAS`
(the fleet imports it). Parameters, event names and the measurement logic
shared with the Locust users are in `simulate/catalogue.py`.

Same rules as the chat personas: latencies from the scheduled instant, a
persona never crashes the fleet (errors counted per event), bots send until
`phases.stop_ns`, stay for the drain and leave when the fleet has finished.
Requests are the catalogue's types (`server/catalogue.py`), as the Locust
users send them.
Streams (game states, dashboard updates) are stopped when sending ends —
players leave their game once their inputs are reflected, watchers
unsubscribe — so the fleet's drain sees a quiet wire.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import h11
import trio

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
    DASHBOARD_ID,
    DashboardTracker,
    DashboardWatcherParams,
    GamePlayerParams,
    GameTracker,
    NotifierParams,
    RtcPeerParams,
    admin_token,
    notification_request,
    notification_sent_at,
    notify_directory,
    offer_to_answer,
    rtc_answer,
    rtc_candidate,
    rtc_offer,
)
from simulate.client import Endpoint, NotConnected, SocketIOClient, connect
from simulate.http_request import http_request
from simulate.personas import (
    CALL_TIMEOUT,
    CONNECT_ERRORS,
    PERSONAS,
    AckTracker,
    BotContext,
    Persona,
    call_measured,
    stay_until_finished,
)
from simulate.schedule import arrival_times

STREAM_SETTLE_S = 2.0  # after sending: how long a player waits for its last inputs to show


def _recording(ctx: BotContext) -> Callable[[str, int, int], None]:
    recorder = ctx.recorder
    return lambda event, since_ns, now_ns: recorder.latency(event, since_ns, now_ns)


def _sending_schedule(ctx: BotContext, params: Any) -> Iterator[int]:
    """Open-model send instants (`rate`/s, `arrival`) from now until sending stops."""
    return arrival_times(
        ctx.rng, params.rate, params.arrival, time.time_ns(), ctx.shared.phases.stop_ns
    )


def _rejoin_on_reconnect(
    ctx: BotContext,
    client: SocketIOClient,
    nursery: trio.Nursery,
    rejoin: Callable[[], Awaitable[Any]],
) -> None:
    """The client reconnects on its own; the server forgot our rooms: join again (off-reader)."""
    client.on_reconnect(lambda _client: nursery.start_soon(rejoin))


async def _emit_quietly(ctx: BotContext, client: SocketIOClient, request: ClientEvent) -> None:
    """Emit without an ack request; a failure is counted under the event's name."""
    try:
        await client.emit_event(request)
    except NotConnected:
        ctx.recorder.error(str(request.name), "not_connected")
    else:
        ctx.recorder.sent()  # counted only once it left


# ------------------------------------------------------------------ notifications
async def notification_receiver(ctx: BotContext) -> None:
    run_tag = ctx.shared.run_tag
    recorder = ctx.recorder
    directory = notify_directory(run_tag)

    def on_notification(note: Any = None, *_: Any) -> None:
        now = time.time_ns()
        recorder.received()
        sent_at = notification_sent_at(note, run_tag)
        if sent_at is not None:
            recorder.latency("notification.delivery", sent_at, now)

    async def join(label: str = "room.join") -> bool:
        request = JoinRoom(ctx.room, ctx.user_id)
        return await call_measured(recorder, client, label, time.time_ns(), request) is not None

    async with ctx.session() as client, trio.open_nursery() as nursery:
        client.on(EventName.NOTIFICATION, on_notification)
        _rejoin_on_reconnect(ctx, client, nursery, lambda: join("room.rejoin"))
        if await join():
            directory.add(ctx.user_id, ctx.room)
        try:
            await stay_until_finished(ctx)
        finally:
            directory.remove(ctx.user_id)
        nursery.cancel_scope.cancel()


async def notifier(ctx: BotContext) -> None:
    """POSTs /notify (or emits `notify` on an admin socket) on its open-model schedule."""
    params: NotifierParams = ctx.params
    recorder = ctx.recorder
    token = admin_token()
    if not token:
        recorder.error("notify.ack", "no_admin_token")
        await stay_until_finished(ctx)
        return
    directory = notify_directory(ctx.shared.run_tag)
    acks = AckTracker(recorder)
    async with AsyncExitStack() as stack:
        client: SocketIOClient | None = None
        if not params.via_http:
            began = time.time_ns()
            try:
                client = await stack.enter_async_context(
                    connect(
                        ctx.shared.target,
                        namespace=ctx.shared.namespace,
                        auth={"adminToken": token, "userId": ctx.user_id},
                        connect_timeout=10.0,
                    )
                )
            except CONNECT_ERRORS as exc:
                recorder.error("connect", type(exc).__name__)
                await stay_until_finished(ctx)
                return
            recorder.latency("connect", began)
        nursery = await stack.enter_async_context(trio.open_nursery())
        for number, scheduled in enumerate(_sending_schedule(ctx, params)):
            await ctx.sleep_until_ns(scheduled)
            request = notification_request(
                params, ctx.rng, directory, ctx.shared.run_tag, scheduled, number
            )
            if request is None:
                continue  # no receiver has joined yet
            if client is None:
                recorder.sent()
                nursery.start_soon(_post_notify, ctx, request, scheduled, token)
            elif await acks.emit(client, "notify.ack", scheduled, request):
                recorder.sent()  # counted only once it left
        await stay_until_finished(ctx, acks)
        nursery.cancel_scope.cancel()


async def _post_notify(ctx: BotContext, request: Notify, scheduled: int, token: str) -> None:
    recorder = ctx.recorder
    endpoint = Endpoint.parse(ctx.shared.target)
    recorder.pending += 1
    try:
        body = request.to_json()
        status, reply = await post_json(endpoint.host, endpoint.port, "/notify", body, token)
    except (OSError, trio.TooSlowError, h11.ProtocolError, ValueError) as exc:
        recorder.error("notify.ack", "timeout" if isinstance(exc, trio.TooSlowError) else "http")
        return
    finally:
        recorder.pending -= 1
    if status == 200 and isinstance(reply, dict) and reply.get("ok"):
        recorder.latency("notify.ack", scheduled)
    else:
        error = reply.get("error") if isinstance(reply, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        recorder.error("notify.ack", str(code or f"http_{status}"))


async def post_json(
    host: str, port: int, path: str, body: Any, token: str, timeout: float = CALL_TIMEOUT
) -> tuple[int, Any]:
    """One HTTP/1.1 POST of a JSON body on a fresh connection; (status, decoded JSON body)."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [("content-type", "application/json"), ("authorization", f"Bearer {token}")]
    with trio.fail_after(timeout):
        status, raw = await http_request(host, port, "POST", path, payload, headers)
    return status, json.loads(raw or b"null")


# ------------------------------------------------------------------ dashboard
async def dashboard_watcher(ctx: BotContext) -> None:
    params: DashboardWatcherParams = ctx.params
    recorder = ctx.recorder
    tracker = DashboardTracker(_recording(ctx))

    def on_update(update: Any = None, *_: Any) -> Any:
        now = time.time_ns()
        recorder.received()
        tracker.on_update(update, now)
        return {"ok": True}  # answers the ack request in `ack` mode; ignored otherwise

    async def subscribe(label: str = "dashboard.subscribe") -> None:
        request = SubscribeDashboard(DASHBOARD_ID, ack=bool(params.ack))
        await call_measured(recorder, client, label, time.time_ns(), request)

    async with ctx.session() as client, trio.open_nursery() as nursery:
        client.on(EventName.DASHBOARD_UPDATE, on_update)
        _rejoin_on_reconnect(ctx, client, nursery, lambda: subscribe("dashboard.resubscribe"))
        await subscribe()
        await ctx.sleep_until_ns(ctx.shared.phases.stop_ns)
        await _emit_quietly(ctx, client, UnsubscribeDashboard(DASHBOARD_ID))
        await stay_until_finished(ctx)
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------ game
async def game_player(ctx: BotContext) -> None:
    params: GamePlayerParams = ctx.params
    recorder = ctx.recorder
    tracker = GameTracker(ctx.user_id, _recording(ctx))
    acks = AckTracker(recorder)

    def on_state(state: Any = None, *_: Any) -> None:
        now = time.time_ns()
        recorder.received()
        for scheduled, _tag in tracker.on_state(state, now):
            recorder.pending -= 1
            recorder.latency("game.input_to_state", scheduled, now)

    def forget(seq: int, _error: str | None = None) -> None:
        """An input that will never show in a state (not sent, refused, link lost)."""
        if tracker.drop(seq):  # the tag is True: found, still pending
            recorder.pending -= 1

    def expire_inputs() -> None:
        """Inputs no state showed: timeouts (once), and no longer awaited by the drain."""
        for _ in tracker.pending:
            recorder.pending -= 1
            recorder.error("game.input_to_state", "timeout")
        tracker.pending.clear()

    async def join(label: str = "game.join") -> bool:
        request = JoinGame(ctx.room, ctx.user_id)
        reply = await call_measured(recorder, client, label, time.time_ns(), request)
        if reply is not None:
            tracker.set_tick_rate(reply.get("tickRate"))
        return reply is not None

    async with ctx.session() as client, trio.open_nursery() as nursery:
        client.on(EventName.GAME_STATE, on_state)
        _rejoin_on_reconnect(ctx, client, nursery, lambda: join("game.rejoin"))
        if await join():
            for seq, scheduled in enumerate(_sending_schedule(ctx, params)):
                await ctx.sleep_until_ns(scheduled)
                move = PlayerInput(ctx.room, seq, ctx.rng.uniform(-1, 1), ctx.rng.uniform(-1, 1))
                tracker.on_input(seq, scheduled, True)
                recorder.pending += 1
                if await acks.emit(
                    client,
                    "game.input",
                    scheduled,
                    move,
                    # a refused (or lost) input is a game.input error, not also a timeout
                    on_error=partial(forget, seq),
                ):
                    recorder.sent()
                else:
                    forget(seq)
            with trio.move_on_after(STREAM_SETTLE_S):
                while tracker.pending:
                    await trio.sleep(0.02)
            await _emit_quietly(ctx, client, LeaveGame(ctx.room))  # the stream stops
        expire_inputs()  # before the drain, which waits for recorder.pending to reach 0
        await stay_until_finished(ctx, acks)
        expire_inputs()
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------ RTC
async def rtc_peer(ctx: BotContext) -> None:
    params: RtcPeerParams = ctx.params
    recorder = ctx.recorder
    run_tag = ctx.shared.run_tag
    peers: list[str] = []
    offers: dict[str, int] = {}  # offer id -> scheduled instant, until the answer is back

    def settle(offer_id: str, error: str | None = None, now: int | None = None) -> None:
        scheduled = offers.pop(offer_id, None)
        if scheduled is None:
            return
        recorder.pending -= 1
        if error is None:
            recorder.latency("rtc.offer_answer", scheduled, now)
        else:
            recorder.error("rtc.offer_answer", error)

    def on_peer_joined(peer: Any = None, *_: Any) -> None:
        recorder.received()
        if isinstance(peer, dict) and isinstance(peer.get("peerId"), str):
            peers.append(peer["peerId"])

    def on_peer_left(peer: Any = None, *_: Any) -> None:
        recorder.received()
        if isinstance(peer, dict) and peer.get("peerId") in peers:
            peers.remove(peer["peerId"])

    def on_offer(payload: Any = None, *_: Any) -> None:
        recorder.received()
        offer = offer_to_answer(payload, run_tag)
        if offer is not None:
            answer = rtc_answer(ctx.rng, params, offer, run_tag)
            nursery.start_soon(_emit_quietly, ctx, client, answer)

    def on_answer(answer: Any = None, *_: Any) -> None:
        now = time.time_ns()
        recorder.received()
        if isinstance(answer, dict) and answer.get("run") == run_tag:
            settle(str(answer.get("id")), now=now)

    def on_candidate(candidate: Any = None, *_: Any) -> None:
        now = time.time_ns()
        recorder.received()
        if isinstance(candidate, dict) and candidate.get("run") == run_tag:
            sent_at = candidate.get("sentAt")
            if isinstance(sent_at, int):
                recorder.latency("rtc.ice_delivery", sent_at, now)

    async def join(label: str = "rtc.join") -> bool:
        reply = await call_measured(recorder, client, label, time.time_ns(), RtcJoin(ctx.room))
        if reply is None:
            return False
        peers[:] = [p for p in reply.get("peers") or () if isinstance(p, str)]
        return True

    async with ctx.session() as client, trio.open_nursery() as nursery:
        for event, handler in (
            (EventName.RTC_PEER_JOINED, on_peer_joined),
            (EventName.RTC_PEER_LEFT, on_peer_left),
            (EventName.RTC_OFFER, on_offer),
            (EventName.RTC_ANSWER, on_answer),
            (EventName.RTC_ICE_CANDIDATE, on_candidate),
        ):
            client.on(event, handler)
        _rejoin_on_reconnect(ctx, client, nursery, lambda: join("rtc.rejoin"))
        if await join():
            for number, scheduled in enumerate(_sending_schedule(ctx, params)):
                await ctx.sleep_until_ns(scheduled)
                if not peers:
                    continue  # alone in the room (yet): nobody to call
                to = ctx.rng.choice(peers)
                offer_id = f"{ctx.user_id}-o{number}"
                await _send_offer(ctx, client, offers, settle, to, offer_id, scheduled)
                for n in range(params.ice_burst):
                    candidate = rtc_candidate(ctx.rng, to, n, scheduled, run_tag)
                    await _emit_quietly(ctx, client, candidate)
        await ctx.shared.phases.drained.wait()
        for offer_id in list(offers):
            settle(offer_id, "timeout")
        await stay_until_finished(ctx)
        nursery.cancel_scope.cancel()


async def _send_offer(
    ctx: BotContext,
    client: SocketIOClient,
    offers: dict[str, int],
    settle: Callable[..., None],
    to: str,
    offer_id: str,
    scheduled: int,
) -> None:
    offer = rtc_offer(ctx.rng, ctx.params, to, offer_id, scheduled, ctx.shared.run_tag)

    def relayed(reply: Any) -> None:  # the server's ack: relayed, or refused (peer gone)
        if not (isinstance(reply, dict) and reply.get("ok")):
            error = reply.get("error") if isinstance(reply, dict) else None
            code = error.get("code") if isinstance(error, dict) else "connection_lost"
            settle(offer_id, str(code))

    offers[offer_id] = scheduled
    ctx.recorder.pending += 1
    try:
        await client.emit_event(offer, ack=relayed)
    except NotConnected:
        settle(offer_id, "not_connected")
    else:
        ctx.recorder.sent()  # counted only once it left


CATALOGUE_PERSONAS: dict[str, Persona] = {
    "notification-receiver": notification_receiver,
    "notifier": notifier,
    "dashboard-watcher": dashboard_watcher,
    "game-player": game_player,
    "rtc-peer": rtc_peer,
}
PERSONAS.update(CATALOGUE_PERSONAS)
