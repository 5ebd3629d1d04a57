"""Bots: the chatter, the typist, the presence churner and the editor, on the trio client.

Each persona is an async function of a `BotContext`: its client factory,
its scenario parameters, a seeded `random.Random` and the recorder. A
persona never crashes the fleet: error acks, timeouts and lost links are
counted per event type in the recorder, and the bot carries on.

Measurement rules shared by all personas (and by the Locust users: what
both apply lives in simulate/measurement.py):

- Every load message carries `sentAt`, its *scheduled* send instant in
  `time.time_ns()` units, and a unique id; latency is measured from that
  instant (open model, coordinated omission).
- Echo and ack latency need no clock sync. One-way latency of other bots'
  messages compares two clocks, which is right only on one host (same
  clock) — the fleet's normal case against a local server.
- `user-typing` and `presence-update` broadcasts carry no timestamp of ours
  (the server builds them), so their one-way latency is measured through
  `PeerClock`: the sender notes when it acted, receivers in the same
  process look it up. Receivers in other processes simply skip it.

Lifecycle: a bot sends until `phases.stop_ns`, stays connected while the
fleet drains acks and deliveries (`phases.drained`), then until the fleet
has checked document convergence (`phases.finished`), then leaves.

Two clocks: `BotContext.clock` is wall time in a fleet (`RealClock`) and
the network scheduler's time in a virtual-time experiment (`VirtualClock`,
simulate/virtual_time.py runs the `editor` persona in-process over
`simulate.network`). A persona that must run in both reads the time,
waits and bounds its waits only through that clock (simulate/clock.py);
the `editor` does.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from server.catalogue import (
    ClientEvent,
    DocumentChange,
    EventName,
    JoinRoom,
    LeaveRoom,
    PresenceStatus,
    PresenceUpdate,
    Typing,
)
from server.protocol.errors import ProtocolError
from simulate import metrics
from simulate.client import (
    ClientError,
    ConnectionLost,
    LinkFactory,
    NotConnected,
    SocketIOClient,
)
from simulate.clock import Clock, RealClock
from simulate.document_session import DocumentSession
from simulate.mapped_client import make_client
from simulate.measurement import (
    OpInstants,
    PeerClock,
    ack_error_code,
    chat_message,
    filler,
    membership_start,
    stamped_strategy,
)
from simulate.reactor import Reactor
from simulate.recording import BotDelivery, DeliveryLog, Membership, Recorder, RoomLedger
from simulate.roster import (
    PresenceLog,
    Roster,
    heard_membership_change,
    heard_unnumbered_message,
)
from simulate.scenarios import (
    BotPlan,
    ChatterParams,
    EditorParams,
    PersonaSpec,
    PresenceChurnParams,
    TypistParams,
)
from simulate.schedule import arrival_times
from simulate.target_profile import RTLAB, EventMap, TargetProfile
from simulate.typing_model import TypingEditor
from simulate.vocabulary import Metric

log = logging.getLogger(__name__)

CONNECT_ERRORS = (OSError, ClientError, trio.TooSlowError, ProtocolError)
CALL_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0


class BotCannotConnect(Exception):
    """The first connection of a session failed (already counted under `connect`)."""


# ------------------------------------------------------------------ shared fleet state
class Cohort:
    """Bots that start sending together, and whose end of sending someone awaits.

    The virtual-time runner gives its editors one: nobody types before every
    editor has joined (`await arrive()`; `on_start` runs once, synchronously,
    before anyone resumes, so the runner sets its partitions in time), and
    `all_done` is set when the last one has typed its last keystroke. Real-time
    fleets have none: bots start when they have joined and stop at `stop_ns`.
    """

    def __init__(self, size: int, on_start: Callable[[], None] | None = None) -> None:
        self.size = size
        self.on_start = on_start
        self.arrived = 0
        self.finished = 0
        self.all_arrived = trio.Event()
        self.all_done = trio.Event()

    async def arrive(self) -> None:
        self._count_arrival()
        await self.all_arrived.wait()

    def _count_arrival(self) -> None:
        self.arrived += 1
        if self.arrived == self.size:
            if self.on_start is not None:
                self.on_start()
            self.all_arrived.set()

    def done(self, *, arrived: bool = True) -> None:
        """A bot has sent its last; one that never arrived (its join failed) arrives now."""
        if not arrived:
            self._count_arrival()
        self.finished += 1
        if self.finished == self.size:
            self.all_done.set()


@dataclass
class FleetPhases:
    start_ns: int
    stop_ns: int  # sending ends
    drained: trio.Event = field(default_factory=trio.Event)
    finished: trio.Event = field(default_factory=trio.Event)
    cohort: Cohort | None = None  # virtual-time runs only


class DocumentBook:
    """The editors of this process by document, for the convergence check after the run."""

    def __init__(self) -> None:
        self.sessions: dict[str, list[MeasuredDocumentSession]] = {}

    def add(self, session: MeasuredDocumentSession) -> None:
        self.sessions.setdefault(session.document_id, []).append(session)


@dataclass
class FleetShared:
    """Everything the bots of one process share."""

    target: str
    namespace: str
    run_tag: str
    recorder: Recorder
    delivery: DeliveryLog
    phases: FleetPhases
    connect_limiter: trio.CapacityLimiter
    peers: PeerClock = field(default_factory=PeerClock)
    documents: DocumentBook = field(default_factory=DocumentBook)
    clients: set[SocketIOClient] = field(default_factory=set)
    # wall time anchored at fleet start (RealClock.started()), or a run's VirtualClock
    clock: Clock = field(default_factory=RealClock)
    room_size: int = 1  # users per room / editors per document (editors' alphabets)
    # `sentAt` in ops of stamped strategies (doc.remote); off where bytes/op compare strategies
    stamp_ops: bool = True
    # one epoll for every bot's WebSocket (simulate.reactor); None: a reading task per client
    reactor: Reactor | None = None
    # what the server offers (simulate/target_profile.py): rtlab's acks, or the tutorial's none
    profile: TargetProfile = RTLAB
    event_map: EventMap = field(default_factory=EventMap)  # the server's names for our events
    roster: Roster = field(default_factory=Roster)  # who is certainly in which room
    presence: PresenceLog = field(default_factory=PresenceLog)  # users lists judged


@dataclass
class BotContext:
    plan: BotPlan
    persona: PersonaSpec
    shared: FleetShared
    rng: random.Random
    # how this bot's connections are opened (None: a WebSocket to shared.target);
    # the virtual-time runner passes `simulate.network.Network.link_factory(...)`
    link_factory: LinkFactory | None = None
    _arrived: bool = field(default=False, init=False, repr=False)

    @property
    def user_id(self) -> str:
        return f"{self.shared.run_tag}-u{self.plan.index}"

    @property
    def room(self) -> str:
        """The chat room or document of this bot (run-tagged: runs never share state)."""
        return f"{self.shared.run_tag}-{self.plan.family}{self.plan.group}"

    @property
    def recorder(self) -> Recorder:
        return self.shared.recorder

    @property
    def params(self) -> Any:
        return self.persona.params

    @property
    def clock(self) -> Clock:
        return self.shared.clock

    def sending(self, now_ns: int | None = None) -> bool:
        return (self.clock.now_ns() if now_ns is None else now_ns) < self.shared.phases.stop_ns

    async def sleep_until_ns(self, at_ns: int) -> None:
        await self.clock.sleep_until_ns(at_ns)

    async def ready_to_send(self) -> None:
        """Wait for the rest of the cohort (virtual-time runs); at once in a fleet."""
        cohort = self.shared.phases.cohort
        if cohort is not None:
            self._arrived = True
            await cohort.arrive()

    def done_sending(self) -> None:
        cohort = self.shared.phases.cohort
        if cohort is not None:
            cohort.done(arrived=self._arrived)

    @asynccontextmanager
    async def session(
        self, *, reconnect: bool = True, link_factory: LinkFactory | None = None
    ) -> AsyncIterator[SocketIOClient]:
        """A connected client for the block; the connect time is recorded, errors counted.

        Connections open through `link_factory`, else the context's, else a WebSocket.
        """
        shared, clock = self.shared, self.clock
        client = make_client(
            shared.target,
            shared.event_map,
            namespace=shared.namespace,
            auth={"userId": self.user_id, "name": self.user_id},
            connect_timeout=clock.timeout(CONNECT_TIMEOUT),
            reconnect=reconnect,
            seed=self.rng.randrange(2**32),
            link_factory=link_factory or self.link_factory,
            reactor=shared.reactor,
        )
        client.sleep = clock.sleep  # reconnect backoff on this bot's clock
        client.on(EventName.ERROR, self._on_server_error)
        failure: BaseException | None = None
        async with trio.open_nursery() as nursery:
            # timed from before the limiter: waiting for a connect slot is part of the
            # connect latency (the queueing a user would see); the wait alone is `connect.queue`
            began = clock.now_ns()
            async with shared.connect_limiter:
                self.recorder.latency("connect.queue", began, clock.now_ns())
                try:
                    await nursery.start(client.run)
                except CONNECT_ERRORS as exc:
                    failure = exc
            if failure is None:
                self.recorder.latency("connect", began)
                shared.clients.add(client)
                try:
                    yield client
                finally:
                    shared.clients.discard(client)
                    with trio.move_on_after(clock.timeout(CLOSE_TIMEOUT)) as scope:
                        scope.shield = True
                        await client.close()
                    nursery.cancel_scope.cancel()
        if failure is not None:
            self.recorder.error("connect", type(failure).__name__)
            raise BotCannotConnect(str(failure)) from failure

    def _on_server_error(self, error: Any = None, *_: Any) -> None:
        code = error.get("code", "error") if isinstance(error, dict) else "error"
        event = error.get("event", "unknown") if isinstance(error, dict) else "unknown"
        self.recorder.error(f"server.{event}", str(code))


Persona = Callable[[BotContext], Awaitable[None]]


# ------------------------------------------------------------------ measured requests
class AckTracker:
    """Acks a bot is waiting for; what is still missing when the fleet drains is a timeout."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._outstanding: dict[int, str] = {}
        self._next = 0

    async def emit(
        self,
        client: SocketIOClient,
        label: str,
        scheduled_ns: int,
        request: ClientEvent,
        *,
        on_ok: Callable[[dict[str, Any]], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> bool:
        """Emit `request` with an ack request; False if it could not even be sent.

        `on_ok` gets an accepting reply, `on_error` the error kind of a refused
        or lost one (not of a failed emit: the caller sees False).
        """
        token = self._next
        self._next += 1
        self._outstanding[token] = label
        self.recorder.pending += 1

        def resolve(reply: Any) -> None:
            if self._outstanding.pop(token, None) is None:
                return
            self.recorder.pending -= 1
            if isinstance(reply, dict) and reply.get("ok"):
                self.recorder.latency(label, scheduled_ns)
                if on_ok is not None:
                    on_ok(reply)
                return
            kind = "connection_lost" if reply is None else ack_error_code(reply)
            self.recorder.error(label, kind)
            if on_error is not None:
                on_error(kind)

        try:
            await client.emit_event(request, ack=resolve)
        except NotConnected:
            if self._outstanding.pop(token, None) is not None:
                self.recorder.pending -= 1
            self.recorder.error(label, "not_connected")
            return False
        return True

    def expire(self) -> None:
        for label in self._outstanding.values():
            self.recorder.pending -= 1
            self.recorder.error(label, "timeout")
        self._outstanding.clear()


async def call_measured(
    recorder: Recorder,
    client: SocketIOClient,
    label: str,
    since_ns: int,
    request: ClientEvent,
    *,
    timeout: float = CALL_TIMEOUT,
) -> dict[str, Any] | None:
    """`request` with an ack, its latency recorded under `label`; None (error counted) on failure.

    The reply is the whole ack (`{ok: true, ...}`): `type(request).reply.parse` reads it.
    """
    try:
        reply = await client.call_event(request, timeout=timeout)
    except NotConnected:
        recorder.error(label, "not_connected")
        return None
    except ConnectionLost:
        recorder.error(label, "connection_lost")
        return None
    except trio.TooSlowError:
        recorder.error(label, "timeout")
        return None
    if not isinstance(reply, dict) or not reply.get("ok"):
        recorder.error(label, ack_error_code(reply))
        return None
    recorder.latency(label, since_ns)
    return reply


# ------------------------------------------------------------------ chat rooms
class ChatMembership:
    """A bot's seat in its chat room: joins, rejoins after a reconnect, counts what it hears."""

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.ledger: RoomLedger = ctx.shared.delivery.room(ctx.room)
        self.record: BotDelivery = ctx.shared.delivery.bot(ctx.room)
        self.rejoined = trio.Event()
        self._rejoin_wanted = trio.Event()
        self._client: SocketIOClient | None = None

    def attach(self, client: SocketIOClient, nursery: trio.Nursery) -> None:
        """Listen on a new client; a reconnect (the client's own backoff) triggers a rejoin."""
        self._client = client
        client.on(EventName.RECEIVE_MESSAGE, self._on_message)
        client.on(EventName.USER_TYPING, self._on_user_typing)
        client.on(EventName.PRESENCE_UPDATE, self._on_presence)
        client.on(EventName.USER_JOINED, self._on_user_joined)
        client.on(EventName.USER_LEFT, self._on_user_left)
        # The hook runs inside the client's reading task: it must not await an ack there.
        client.on_reconnect(lambda _client: self._rejoin_wanted.set())
        nursery.start_soon(self._rejoin_on_reconnect)

    @property
    def acks(self) -> bool:
        """The target acks joins and sends (rtlab), or answers nothing (the tutorial)."""
        return self.ctx.shared.profile.acks

    async def join(self, label: str = "room.join", since_ns: int | None = None) -> bool:
        assert self._client is not None
        if not self.acks:
            return await self._join_without_ack(label)
        began = time.time_ns() if since_ns is None else since_ns
        emitted = time.time_ns()
        # noted before the call: the others hear user-joined before the ack comes back
        self.ctx.shared.roster.note_act("joined", self.ctx.user_id, emitted)
        reply = await call_measured(
            self.ctx.recorder, self._client, label, began, JoinRoom(self.ctx.room, self.ctx.user_id)
        )
        if reply is None:
            return False
        now = time.time_ns()
        self.record.memberships.append(Membership(membership_start(reply), now))
        shared, user = self.ctx.shared, self.ctx.user_id
        shared.roster.join_sent(self.ctx.room, user, emitted)
        shared.roster.confirm(self.ctx.room, user, now, "ack")
        # broadcasts of acts from the join request on reach this bot (PeerClock)
        shared.peers.listen(user, began)
        return True

    async def _join_without_ack(self, label: str) -> bool:
        """Fire-and-forget join: the window opens when a broadcast shows it took effect."""
        assert self._client is not None
        ctx, shared = self.ctx, self.ctx.shared
        emitted = time.time_ns()
        try:
            await self._client.emit_event(JoinRoom(ctx.room, ctx.user_id))
        except NotConnected:
            ctx.recorder.error(label, "not_connected")
            return False
        ctx.recorder.sent()
        membership = Membership(None, emitted, acked=False)
        self.record.memberships.append(membership)
        shared.roster.join_sent(ctx.room, ctx.user_id, emitted, membership)
        shared.peers.listen(ctx.user_id, emitted)
        shared.roster.note_act("joined", ctx.user_id, emitted)
        return True

    async def leave_room(self) -> None:
        """`leave-room`, as the tutorial's chat panel does when it closes (user-left follows)."""
        assert self._client is not None
        try:
            await self._client.emit_event(LeaveRoom(self.ctx.room, self.ctx.user_id))
        except NotConnected:
            self.ctx.recorder.error(Metric.PRESENCE_LEFT, "not_connected")
            self.leave()
            return
        self.ctx.recorder.sent()
        self.leave(announced=True)

    def leave(self, *, announced: bool = False) -> None:
        """End the current membership here (before a deliberate disconnect).

        `announced`: the server will tell the room (`user-left`), so the
        others time it from now.
        """
        if self.record.memberships and self.record.memberships[-1].end_ns is None:
            current = self.record.memberships[-1]
            current.end_ns = now = time.time_ns()
            current.end_seq = self.record.last_seq if current.start_seq is not None else None
            shared = self.ctx.shared
            shared.roster.left(self.ctx.room, self.ctx.user_id, now)
            if announced:
                shared.roster.note_act("left", self.ctx.user_id, now)

    async def _rejoin_on_reconnect(self) -> None:
        while True:
            await self._rejoin_wanted.wait()
            self._rejoin_wanted = trio.Event()
            self.leave()
            if await self.join("room.rejoin"):
                self.rejoined.set()

    # -- incoming --
    def _on_message(self, message: Any = None, *_: Any) -> None:
        if not isinstance(message, dict) or message.get("run") != self.ctx.shared.run_tag:
            return
        now = time.time_ns()
        recorder = self.ctx.recorder
        recorder.received()
        sent_at = message.get("sentAt")
        own = message.get("userId") == self.ctx.user_id
        if self.acks:
            taken = self.record.take(self.ledger, message.get("seq"))
        else:  # the tutorial relays no seq: the message's own sender, number and sentAt tell
            taken = heard_unnumbered_message(
                self.ctx.shared.roster,
                self.record,
                self.ledger,
                self.ctx.room,
                self.ctx.user_id,
                message,
                now,
            )
        if taken and isinstance(sent_at, int):
            recorder.latency(Metric.CHAT_ECHO if own else Metric.CHAT_DELIVERY, sent_at, now)

    def _on_user_joined(self, payload: Any = None, *_: Any) -> None:
        self._on_membership_change(payload, joined=True)

    def _on_user_left(self, payload: Any = None, *_: Any) -> None:
        self._on_membership_change(payload, joined=False)

    def _on_membership_change(self, payload: Any, *, joined: bool) -> None:
        """`user-joined`/`user-left`: confirm the join, time it, judge the users list."""
        now = time.time_ns()
        ctx, shared = self.ctx, self.ctx.shared
        ctx.recorder.received()
        since = heard_membership_change(
            shared.roster,
            shared.presence,
            ctx.room,
            ctx.user_id,
            payload,
            joined=joined,
            now_ns=now,
        )
        if since is not None:
            metric = Metric.PRESENCE_JOINED if joined else Metric.PRESENCE_LEFT
            ctx.recorder.latency(metric, since, now)

    def _on_user_typing(self, user_id: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.ctx.recorder.received()
        if isinstance(user_id, str):
            since = self.ctx.shared.peers.since(
                "typing", user_id, "", now, receiver=self.ctx.user_id
            )
            if since is not None:
                self.ctx.recorder.latency("typing.delivery", since, now)

    def _on_presence(self, update: Any = None, *_: Any) -> None:
        now = time.time_ns()
        self.ctx.recorder.received()
        if isinstance(update, dict) and isinstance(update.get("userId"), str):
            since = self.ctx.shared.peers.since(
                "presence",
                update["userId"],
                str(update.get("status")),
                now,
                receiver=self.ctx.user_id,
            )
            if since is not None:
                self.ctx.recorder.latency("presence.delivery", since, now)


async def send_chat_message(
    ctx: BotContext,
    client: SocketIOClient,
    membership: ChatMembership,
    acks: AckTracker,
    scheduled_ns: int,
    number: int,
    size: int,
) -> None:
    ledger = membership.ledger
    text = filler(ctx.rng, size)
    message = chat_message(ctx.room, ctx.user_id, number, text, scheduled_ns, ctx.shared.run_tag)
    if not membership.acks:
        # fire-and-forget; the ledger counts by the sentAt the message carries
        try:
            await client.emit_event(message)
        except NotConnected:
            ctx.recorder.error(Metric.CHAT_ECHO, "not_connected")
            return
        ledger.note_sent(scheduled_ns)
        ctx.recorder.sent()
        return
    ledger.note_sent(time.time_ns())
    if await acks.emit(client, Metric.CHAT_ACK, scheduled_ns, message, on_ok=ledger.note_ack):
        ctx.recorder.sent()  # counted only once it left: the series and the ledger agree
    else:
        ledger.unsend()


async def stay_until_finished(ctx: BotContext, acks: AckTracker | None = None) -> None:
    ctx.done_sending()
    await ctx.shared.phases.drained.wait()
    if acks is not None:
        acks.expire()
    await ctx.shared.phases.finished.wait()


# ------------------------------------------------------------------ personas
async def chatter(ctx: BotContext) -> None:
    params: ChatterParams = ctx.params
    async with ctx.session() as client, trio.open_nursery() as nursery:
        membership = ChatMembership(ctx)
        membership.attach(client, nursery)
        acks = AckTracker(ctx.recorder)
        if await membership.join():
            schedule = arrival_times(
                ctx.rng, params.rate, params.arrival, time.time_ns(), ctx.shared.phases.stop_ns
            )
            for number, scheduled in enumerate(schedule):
                await ctx.sleep_until_ns(scheduled)
                await send_chat_message(
                    ctx, client, membership, acks, scheduled, number, params.message_bytes
                )
        await stay_until_finished(ctx, acks)
        nursery.cancel_scope.cancel()


async def typist(ctx: BotContext) -> None:
    params: TypistParams = ctx.params
    async with ctx.session() as client, trio.open_nursery() as nursery:
        membership = ChatMembership(ctx)
        membership.attach(client, nursery)
        acks = AckTracker(ctx.recorder)
        if await membership.join():
            await _type_messages(ctx, client, membership, acks, params)
        await stay_until_finished(ctx, acks)
        nursery.cancel_scope.cancel()


async def _type_messages(
    ctx: BotContext,
    client: SocketIOClient,
    membership: ChatMembership,
    acks: AckTracker,
    params: TypistParams,
) -> None:
    at = time.time_ns()
    number = 0
    while True:
        at += int(params.think.sample(ctx.rng) * 1e9)
        keystrokes = max(1, round(params.burst.sample(ctx.rng)))
        for _ in range(keystrokes):
            if not ctx.sending(at):
                return
            await ctx.sleep_until_ns(at)
            ctx.shared.peers.note("typing", ctx.user_id, "", at)
            try:
                await client.emit_event(Typing(ctx.room, ctx.user_id))
            except NotConnected:
                ctx.shared.peers.retract("typing", ctx.user_id, "", at)
                ctx.recorder.error("typing", "not_connected")
            else:
                ctx.recorder.sent()  # counted only once it left
            at += int(params.keystroke.sample(ctx.rng) * 1e9)
        if not ctx.sending(at):
            return
        await ctx.sleep_until_ns(at)
        await send_chat_message(ctx, client, membership, acks, at, number, keystrokes)
        number += 1


async def presence_churner(ctx: BotContext) -> None:
    """Each session ends by a clean close (then a new connection) or an abrupt drop."""
    params: PresenceChurnParams = ctx.params
    actions = ("away", "reconnect", "drop")
    weights = (params.away_weight, params.reconnect_weight, params.drop_weight)
    membership = ChatMembership(ctx)
    closed_at: int | None = None
    at = time.time_ns()
    while True:
        async with ctx.session() as client, trio.open_nursery() as nursery:
            membership.attach(client, nursery)
            joined = await membership.join()
            if joined and closed_at is not None:
                ctx.recorder.latency("reconnect.clean", closed_at)
            away = False
            action = "stay"
            while joined:
                at += int(params.think.sample(ctx.rng) * 1e9)
                if not ctx.sending(at):
                    break
                await ctx.sleep_until_ns(at)
                action = ctx.rng.choices(actions, weights)[0]
                if action == "away" and not membership.acks:
                    # no presence-update on the tutorial's server: leave and come back
                    await membership.leave_room()
                    joined = await membership.join()
                elif action == "away":
                    away = not away
                    status = PresenceStatus.AWAY if away else PresenceStatus.ONLINE
                    ctx.shared.peers.note("presence", ctx.user_id, status.value, at)
                    update = PresenceUpdate(ctx.user_id, status, room_id=ctx.room)
                    await call_measured(ctx.recorder, client, Metric.PRESENCE_ACK, at, update)
                elif action == "drop":
                    # rtlab tells the room a dropped user left; the tutorial never does
                    membership.leave(announced=membership.acks)
                    membership.rejoined = trio.Event()
                    dropped_at = time.time_ns()
                    drop_connection(client)
                    with trio.move_on_after(CALL_TIMEOUT + client.reconnect_delay_max) as scope:
                        await membership.rejoined.wait()
                    if scope.cancelled_caught:
                        ctx.recorder.error("reconnect.abrupt", "timeout")
                        break
                    ctx.recorder.latency("reconnect.abrupt", dropped_at)
                    away = False
                else:
                    break
            if action != "reconnect" or not ctx.sending():
                await stay_until_finished(ctx)
                nursery.cancel_scope.cancel()
                return
            if membership.acks:
                membership.leave(announced=True)  # rtlab: the close makes user-left
            else:
                await membership.leave_room()  # the tutorial's chat panel, when it closes
            closed_at = time.time_ns()
            nursery.cancel_scope.cancel()


def drop_connection(client: SocketIOClient) -> None:
    """Vanish like a crashed tab: an RST, no WebSocket close frame, no Socket.IO DISCONNECT.

    `abort` resets the TCP connection (SO_LINGER 0); the client's reader then
    sees the link die and reconnects with its own backoff, as after a real loss.
    """
    client.abort()


# ------------------------------------------------------------------ editing
class MeasuredDocumentSession(DocumentSession):
    """A DocumentSession that times each op from the scheduled instant of the edit it carries.

    OT may compose several local edits into one op, so an op is timed from
    the oldest edit it covers (`OpInstants`). Where the strategy relays ops
    unchanged (and `stamp` is on), the op carries `sentAt` and receivers time
    the remote change too. `now_ns` is the bot's clock.
    """

    def __init__(
        self,
        client: SocketIOClient,
        document_id: str,
        user_id: str,
        recorder: Recorder,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        stamp: bool = True,
    ) -> None:
        super().__init__(client, document_id, user_id)
        self.recorder = recorder
        self.now_ns = now_ns
        self.stamp = stamp
        self.broken = False
        self.typist: TypingEditor | None = None  # who types here (its counts feed the metrics)
        self.last_edit_ns: int | None = None
        self._instants = OpInstants()
        self._in_flight: deque[int] = deque()
        client.on(EventName.DOCUMENT_CHANGE, self._time_remote_change)
        client.on(EventName.CURSOR_UPDATE, self._time_cursor)

    def note_edit(self, scheduled_ns: int) -> None:
        self._instants.note(scheduled_ns)
        self.last_edit_ns = scheduled_ns

    async def flush(self) -> None:
        replica = self._require()
        ops = replica.take_outgoing()
        stamp = self.stamp and self.strategy is not None and stamped_strategy(self.strategy)
        for op, scheduled in zip(ops, self._instants.for_ops(len(ops), self.now_ns), strict=True):
            self._in_flight.append(scheduled)
            self.recorder.pending += 1
            wire = {**op, "sentAt": scheduled} if stamp else op
            if not self.acks:  # a relay-only server: nothing to wait for
                self._in_flight.pop()
                self.recorder.pending -= 1
            try:
                await self.client.emit_event(
                    DocumentChange(self.document_id, wire),
                    ack=self._on_ack if self.acks else None,
                )
            except NotConnected:
                if self.acks:
                    self._in_flight.pop()
                    self.recorder.pending -= 1
                self.recorder.error(
                    Metric.DOC_ACK if self.acks else Metric.DOC_REMOTE, "not_connected"
                )
                self.broken = True
                self.errors.append(None)
            else:
                self.sent += 1
                self.recorder.sent()  # counted only once it left

    def _on_ack(self, reply: Any) -> None:
        """A lost link breaks the session (the bot stops typing); a refused op is only counted.

        The bot types on after a refusal (naive's out-of-range positions, say):
        the offered load stays what the scenario says, and the refusal shows
        as a `doc.ack` error and in the convergence check.
        """
        scheduled = self._in_flight.popleft() if self._in_flight else None
        if scheduled is not None:
            self.recorder.pending -= 1
            if isinstance(reply, dict) and reply.get("ok"):
                self.recorder.latency("doc.ack", scheduled)
            elif reply is None:
                self.recorder.error("doc.ack", "connection_lost")
                self.broken = True
            else:
                self.recorder.error("doc.ack", ack_error_code(reply))
        super()._on_ack(reply)

    def _time_remote_change(self, change: Any = None, *_: Any) -> None:
        self.recorder.received()
        if (
            isinstance(change, dict)
            and isinstance(change.get("sentAt"), int)
            and change.get("documentId", self.document_id) == self.document_id
        ):
            self.recorder.latency("doc.remote", change["sentAt"])

    def _time_cursor(self, update: Any = None, *_: Any) -> None:
        """A relayed cursor that kept our `sentAt` (the tutorial relays it; rtlab rebuilds it)."""
        self.recorder.received()
        if isinstance(update, dict) and isinstance(update.get("sentAt"), int):
            self.recorder.latency(Metric.CURSOR_DELIVERY, update["sentAt"])


async def editor(ctx: BotContext) -> None:
    """Types words into the bot's document (simulate/typing_model.py), on the bot's clock.

    The same code runs in a real-time fleet and in a virtual-time experiment:
    every read of the time, every wait and every timeout goes through
    `ctx.clock`, the connection through `ctx.link_factory`.
    """
    params: EditorParams = ctx.params
    clock = ctx.clock
    async with ctx.session() as client, trio.open_nursery() as nursery:
        session = MeasuredDocumentSession(
            client,
            ctx.room,
            ctx.user_id,
            ctx.recorder,
            now_ns=clock.now_ns,
            stamp=ctx.shared.stamp_ops,
        )

        def reconnected(_client: SocketIOClient) -> None:
            # The replica missed whatever happened while the link was down.
            session.broken = True
            ctx.recorder.error("doc.session", "reconnected")

        client.on_reconnect(reconnected)
        began = clock.now_ns()
        try:
            if ctx.shared.profile.acks:
                await session.join(params.strategy, timeout=clock.timeout(CALL_TIMEOUT))
            else:  # the tutorial's editor: join, start from "", relay raw positions
                await session.join_without_ack(params.strategy)
                ctx.recorder.sent()
        except (RuntimeError, ClientError, trio.TooSlowError) as exc:
            ctx.recorder.error("doc.join", _exception_code(exc))
            await stay_until_finished(ctx)
            nursery.cancel_scope.cancel()
            return
        if ctx.shared.profile.acks:
            ctx.recorder.latency("doc.join", began)
        ctx.shared.documents.add(session)
        nursery.start_soon(session.run_pump)
        keyboard = _typist(ctx, session, params)
        await ctx.ready_to_send()
        await _type_words(ctx, session, keyboard, params)
        await stay_until_finished(ctx)
        nursery.cancel_scope.cancel()


def _typist(
    ctx: BotContext, session: MeasuredDocumentSession, params: EditorParams
) -> TypingEditor:
    """The bot's typing: its own alphabet within the document, its own random stream.

    The editors of a document have consecutive plan indices (plans are ordered
    by room), so `index % room_size` differs between them: disjoint alphabets.
    The typing draws from a stream of its own, so when (and how often) this
    bot types never depends on the text (on the strategy).
    """
    room_size = max(1, ctx.shared.room_size)
    alphabet = metrics.editor_alphabet(ctx.plan.index % room_size, room_size)
    rng = random.Random(ctx.rng.randrange(2**64))
    keyboard = TypingEditor(session, alphabet, params, rng, budget=params.keystrokes or None)
    session.typist = keyboard
    # registered after the session's own handler: the caret follows the applied change
    session.client.on(EventName.DOCUMENT_CHANGE, keyboard.on_remote_change)
    return keyboard


async def _type_words(
    ctx: BotContext,
    session: MeasuredDocumentSession,
    keyboard: TypingEditor,
    params: EditorParams,
) -> None:
    schedule = arrival_times(
        ctx.rng, params.rate, params.arrival, ctx.clock.now_ns(), ctx.shared.phases.stop_ns
    )
    for scheduled in schedule:
        if session.broken or keyboard.done:
            return
        await ctx.sleep_until_ns(scheduled)
        if keyboard.keystroke():
            session.note_edit(scheduled)
        if ctx.rng.random() < params.cursor_ratio:
            try:
                await session.move_cursor(keyboard.caret, None if session.acks else scheduled)
            except NotConnected:
                ctx.recorder.error("cursor", "not_connected")
            else:
                ctx.recorder.sent()  # counted only once it left


def _exception_code(exc: BaseException) -> str:
    text = str(exc)
    if "conflict" in text:
        return "conflict"
    return type(exc).__name__


PERSONAS: dict[str, Persona] = {
    "chatter": chatter,
    "typist": typist,
    "presence-churner": presence_churner,
    "editor": editor,
}
