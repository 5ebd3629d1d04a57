"""`RtlabUser`: Locust's SocketIOUser, measuring what it sends and receives itself.

Why not the contrib client as is: it logs every emit and every push as a
0 ms request, which drowns the real rows and flattens Locust's aggregated
percentiles. Our client keeps Locust's class (so `self.sio` is still a
`locust.contrib.socketio.SocketIOClient`) but does not log on its own;
every measured event goes through `LocustRun.latency` / `.error`, which
records it both in the rtlab histograms and as a Locust request. Requests
are the catalogue's types (`server/catalogue.py`), as the bots send them:
`emit_acked`, `call_measured` and `emit_plain` take a `ClientEvent`.

Timing rules (shared with the bot fleet, simulate/personas.py):

- Open model: a user computes its next *scheduled* send instant from the
  scenario (seeded per user) and `wait_time` sleeps until it; latency is
  measured from the scheduled instant, never from when we got round to it.
- Every user is de-phased by a seeded random offset: Locust starts users in
  bursts and a paced user otherwise fires in lockstep with the others
  spawned in the same second (measured: receive p50 2 ms -> 33–63 ms).
- Connecting waits up to `CONNECT_WAIT_S` for the namespace: python-socketio's
  default of 1 s fails under a spawn burst.
"""

from __future__ import annotations

import contextlib
import random
import time
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import gevent
import socketio
from locust import User
from locust.contrib.socketio import SocketIOClient, SocketIOUser

from locustfiles.run_recording import LocustRun, run_of
from server.catalogue import ClientEvent, EventName
from simulate.measurement import ack_error_code as ack_error_code  # shared with the bots
from simulate.measurement import filler as filler
from simulate.scenarios import PersonaSpec, load_scenario
from simulate.schedule import arrival_times
from simulate.target_profile import EventMap

CONNECT_WAIT_S = 10.0
CALL_TIMEOUT_S = 10.0
CONNECT_ATTEMPTS = 5
FAR_FUTURE_NS = 2**62
RETRY_JOIN_NS = 1_000_000_000  # a failed connect or join is retried at most once a second


class MeasuredSocketIOClient(SocketIOClient):
    """Locust's socket.io client without its automatic 0 ms request rows.

    With an `event_map` (`--event-map`) it also speaks the server's event
    names: emits are renamed on the way out, handlers registered under the
    server's name (the catch-all `*` handler sees the server's names).
    """

    event_map: EventMap = EventMap()

    def on(self, event: str, handler: Any = None, namespace: Any = None) -> Any:
        wire = event if event == "*" else self.event_map.wire(event)
        return socketio.Client.on(self, wire, handler, namespace)

    def connect(self, *args: Any, **kwargs: Any) -> None:
        # python-socketio's own reconnect loop calls this too: keep its wait long enough
        kwargs.setdefault("wait_timeout", CONNECT_WAIT_S)
        socketio.Client.connect(self, *args, **kwargs)

    def emit(self, event: str, data: Any = None, namespace: Any = None, callback: Any = None):
        socketio.Client.emit(self, self.event_map.wire(event), data, namespace, callback)

    def call(self, event: str, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        return socketio.Client.call(self, self.event_map.wire(event), data, *args, **kwargs)

    def emit_event(self, event: ClientEvent, callback: Callable[..., Any] | None = None) -> None:
        """`emit` a catalogue event: its wire name and arguments."""
        self.emit(event.name, socketio_data(event), callback=callback)

    def call_event(self, event: ClientEvent, timeout: float = CALL_TIMEOUT_S) -> Any:
        """`call` with a catalogue event; the server's first ack argument."""
        return self.call(event.name, socketio_data(event), timeout=timeout)


def socketio_data(event: ClientEvent) -> tuple[Any, ...]:
    """python-socketio's `data` for an event's arguments: a tuple is several arguments."""
    return tuple(event.to_args())


class RtlabUser(SocketIOUser):
    """Base of every rtlab persona: identity, seeded randomness, measured emits."""

    abstract = True
    # reconnect quickly after a drop, like a browser tab; jitter avoids reconnect storms.
    # Declared as SocketIOUser declares it (a ClassVar would clash with its declaration).
    options: dict[str, Any] = {  # noqa: RUF012
        "reconnection_delay": 0.2,
        "reconnection_delay_max": 2.0,
        "randomization_factor": 0.5,
    }
    scenario_name: ClassVar[str] = "mixed"  # the scenario this class's parameters come from
    persona_kind: ClassVar[str] = ""  # chatter, typist, presence-churner, editor
    weight_from_scenario: ClassVar[bool] = False  # mixed.py: weight = the persona's weight

    def __init__(self, environment: Any) -> None:
        # SocketIOUser.__init__ would build the logging client and a `wait` greenlet
        # that ends a second later when not yet connected; we need neither.
        User.__init__(self, environment)
        self.sio = MeasuredSocketIOClient(environment.events.request, **self.options)
        self.rtlab: LocustRun = run_of(environment)  # not `run`: User.run is the user loop
        self.sio.event_map = self.rtlab.event_map
        self.index = self.rtlab.next_user_index()
        self.rng = random.Random(self.rtlab.scenario.seed * 1_000_003 + self.index)
        self.user_id = f"{self.rtlab.run_tag}-u{self.index}"
        self.persona = persona_for(self.rtlab, self.persona_kind, self.scenario_name)
        self.next_at_ns = 0
        self._open_acks: set[int] = set()
        self.sio.on("*", self._on_other_event)
        self.sio.on(EventName.ERROR, self._on_server_error)
        self.sio.on("disconnect", self._on_disconnect)

    @property
    def params(self) -> Any:
        return self.persona.params

    # ---------------------------------------------------------------- pacing
    def wait_time(self) -> float:
        """Until the next scheduled action (open model); tasks set `next_at_ns`."""
        if self.rtlab.stopping:
            return 1.0
        return max(0.0, (self.next_at_ns - time.time_ns()) / 1e9)

    def sleep_until(self, at_ns: int) -> None:
        delay = (at_ns - time.time_ns()) / 1e9
        if delay > 0:
            gevent.sleep(delay)

    def dephase_ns(self, interval_s: float) -> int:
        """A seeded random offset within one interval, so that users do not fire together."""
        return int(self.rng.uniform(0, interval_s) * 1e9)

    def start_schedule(self) -> None:
        """The persona's open-model schedule (`rate`/s, `arrival`), seeded and de-phased."""
        params = self.params
        start = time.time_ns() + self.dephase_ns(1.0 / params.rate)
        self.schedule = arrival_times(self.rng, params.rate, params.arrival, start, FAR_FUTURE_NS)
        self.next_at_ns = next(self.schedule)

    def wait_for_turn(self) -> int:
        """Sleep until the scheduled instant (returned: latencies count from it); plan the next."""
        scheduled = self.next_at_ns
        self.sleep_until(scheduled)
        self.next_at_ns = next(self.schedule)
        return scheduled

    # ---------------------------------------------------------------- connection
    @property
    def url(self) -> str:
        host = self.host or self.environment.host or "http://127.0.0.1:8000"
        return "http" + host[2:] if host.startswith("ws") else host

    def connect(self, label: str = "connect", since_ns: int | None = None) -> bool:
        """Connect (websocket only), retrying a few times; the time is recorded under `label`."""
        auth = {"userId": self.user_id, "name": self.user_id}
        for attempt in range(CONNECT_ATTEMPTS):
            began = time.time_ns() if since_ns is None else since_ns
            if self.connect_once(label, auth, began):
                return True
            if self.rtlab.stopping or attempt == CONNECT_ATTEMPTS - 1:
                return False
            gevent.sleep(0.5 + self.rng.random())
        return False

    def connect_once(self, label: str, auth: dict[str, Any], began: int) -> bool:
        """One websocket connect with `auth`, recorded under `label` from `began`."""
        try:
            self.sio.connect(
                self.url, auth=auth, transports=["websocket"], wait_timeout=CONNECT_WAIT_S
            )
        except (socketio.exceptions.ConnectionError, ValueError, OSError) as exc:
            self.rtlab.error("connect", label, error_kind(exc), began)
            return False
        self.rtlab.latency("connect", label, began)
        self.rtlab.clients.add(self.sio)
        return True

    def disconnect(self) -> None:
        self.rtlab.clients.discard(self.sio)
        with contextlib.suppress(Exception):  # already gone: nothing to close
            self.sio.disconnect()

    def on_stop(self) -> None:
        """At the end of the run the drain disconnects everyone; a ramp-down leaves now."""
        if not self.rtlab.stopping:
            self.disconnect()

    # ---------------------------------------------------------------- measured requests
    def emit_acked(
        self,
        label: str,
        request: ClientEvent,
        since_ns: int,
        on_ok: Callable[[dict[str, Any]], None] | None = None,
    ) -> bool:
        """Emit `request` with an ack request, timed from `since_ns`; False if it was not sent."""
        run = self.rtlab
        token = run.acks.open("ack", label, since_ns)
        self._open_acks.add(token)

        def on_ack(*reply: Any) -> None:
            self._open_acks.discard(token)
            if not run.acks.close(token):
                return
            body = reply[0] if reply else None
            if isinstance(body, dict) and body.get("ok"):
                run.latency("ack", label, since_ns)
                if on_ok is not None:
                    on_ok(body)
            else:
                run.error("ack", label, ack_error_code(body), since_ns)

        try:
            self.sio.emit_event(request, callback=on_ack)
        except socketio.exceptions.SocketIOError:
            self._open_acks.discard(token)
            run.acks.close(token)
            run.error("ack", label, "not_connected", since_ns)
            return False
        return True

    def call_measured(
        self, label: str, request: ClientEvent, since_ns: int
    ) -> dict[str, Any] | None:
        """A blocking request/ack, timed from `since_ns`; None (error counted) on failure.

        The reply is the whole ack (`{ok: true, ...}`): `type(request).reply.parse` reads it.
        """
        run = self.rtlab
        try:
            reply = self.sio.call_event(request, timeout=CALL_TIMEOUT_S)
        except socketio.exceptions.TimeoutError:
            run.error("ack", label, "timeout", since_ns)
            return None
        except socketio.exceptions.SocketIOError:
            run.error("ack", label, "not_connected", since_ns)
            return None
        if not isinstance(reply, dict) or not reply.get("ok"):
            run.error("ack", label, ack_error_code(reply), since_ns)
            return None
        run.latency("ack", label, since_ns)
        return reply

    def emit_plain(self, label: str, request: ClientEvent) -> bool:
        """A fire-and-forget emit (typing, cursor): counted as sent once it left; errors counted."""
        try:
            self.sio.emit_event(request)
        except socketio.exceptions.SocketIOError:
            self.rtlab.error("emit", label, "not_connected")
            return False
        self.rtlab.recorder.sent()
        return True

    # ---------------------------------------------------------------- incoming
    def _on_other_event(self, event: str, *args: Any) -> None:
        """Pushes nobody times (user-joined, cursor-update, ...): counted as received."""
        self.rtlab.recorder.received()

    def _on_server_error(self, error: Any = None, *_: Any) -> None:
        code = error.get("code", "error") if isinstance(error, dict) else "error"
        event = error.get("event", "unknown") if isinstance(error, dict) else "unknown"
        self.rtlab.error("error", f"server.{event}", str(code))

    def _on_disconnect(self, *_: Any) -> None:
        """python-socketio forgets pending ack callbacks on a disconnect: count them lost."""
        for token in list(self._open_acks):
            self._open_acks.discard(token)
            entry = self.rtlab.acks.pop(token)
            if entry is not None:
                kind, label, since_ns = entry
                self.rtlab.error(kind, label, "connection_lost", since_ns)


class SeatedUser(RtlabUser):
    """A user with a seat (room, game, ...): join once connected, retry a failed join, rejoin.

    python-socketio reconnects by itself after a drop, but the server has
    forgotten our seat: `rejoin` runs then, in its own greenlet (handlers run
    in the reading greenlet and must not block). Subclasses set `joined` with
    `connect_and_join()` in `on_start` and implement `join(label)`.
    """

    abstract = True
    # the events timing a join and a rejoin after a reconnect (`room.join`, `room.rejoin`)
    join_labels: ClassVar[tuple[str, str]] = ("", "")

    def connect_and_join(self) -> None:
        self.joined = False
        self.rejoin_on_reconnect = False
        self.sio.on("connect", self._on_connect)
        self.joined = self.connect() and self.join(self.join_labels[0])
        self.rejoin_on_reconnect = self.joined

    def join(self, label: str) -> bool:
        raise NotImplementedError

    def rejoin(self) -> None:
        self.join(self.join_labels[1])

    def retry_join(self) -> None:
        """After a failed connect or join: try again, at most once a second."""
        self.next_at_ns = time.time_ns() + RETRY_JOIN_NS
        self.joined = (self.sio.connected or self.connect()) and self.join(self.join_labels[0])
        self.rejoin_on_reconnect = self.joined

    def ready_to_act(self) -> bool:
        """A task's first step: False while the run stops, or (after a retry) while not joined."""
        if self.rtlab.stopping:
            return False
        if not self.joined:
            self.retry_join()
            return False
        return True

    def _on_connect(self, *_: Any) -> None:
        if self.rejoin_on_reconnect and not self.rtlab.stopping:
            gevent.spawn(self.rejoin)


def scenario_users(
    scenario_name: str, bases: Mapping[str, type[RtlabUser]], module: str
) -> dict[str, type[RtlabUser]]:
    """A subclass per `name: base`, weighted by the persona weights of `scenario_name`.

    For a locustfile's `globals()`: Locust registers the User classes it finds
    among a locustfile's module attributes.
    """

    def body(namespace: dict[str, Any]) -> None:
        namespace.update(__module__=module, scenario_name=scenario_name, weight_from_scenario=True)

    return {name: types.new_class(name, (base,), exec_body=body) for name, base in bases.items()}


def persona_for(run: LocustRun, kind: str, fallback_scenario: str) -> PersonaSpec:
    """The run's persona of this kind, else the class's own scenario's (chat users in `editing`)."""
    for persona in run.scenario.personas:
        if persona.kind == kind:
            return persona
    for persona in load_scenario(fallback_scenario).personas:
        if persona.kind == kind:
            return persona
    raise LookupError(f"no {kind!r} persona in {run.scenario.name!r} or {fallback_scenario!r}")


def error_kind(exc: BaseException) -> str:
    text = str(exc).strip().lower().replace(" ", "_")
    return text[:40] if text else type(exc).__name__
