"""The rtlab run directory of a Locust run: the same files a bot fleet writes.

`reports/` reads only run directories (format: `simulate/recording.py`), so a
Locust run records into the fleet's own `Recorder` / `DeliveryLog` (both are
trio-free) and writes through `RunDirectory.write`: HdrHistograms in µs, the
per-second series with the generator's CPU, summary.json, delivery.json.

Importing this module registers Locust event listeners (Locust's hooks are
process-wide by design); the state of one run lives in a `LocustRun` stored
on the `Environment`, created at `init` and reached with `run_of(env)`.

Lifecycle, and why:

- `test_start`: the recorder starts, and a greenlet ticks once a second:
  per-second counters plus `time.process_time()` deltas. One Locust process
  saturates near 9–10k messages/s on one core; a saturated generator
  measures itself, so the run says so (meta.json) instead of blaming the
  server.
- `test_stopping`: users stop sending; clients stay connected.
- `test_stop` (users are stopped): drain — wait until every ack is in and
  the wire has been quiet briefly, bounded by the scenario's `drain` — count
  the acks still missing as `timeout` errors, disconnect, write. After that
  nothing more is recorded, so Locust's stats and the run directory count
  the same events.
- Distributed mode: the master's `test_stop` asks every worker for its
  results (`runner.send_message("rtlab-finish")`: on a --run-time limit
  Locust's master tells workers to quit only after its own `test_stop`);
  each worker stops sending, drains and answers with its mergeable payload
  (`"rtlab-run"`, also sent from its own `test_stop` when the master
  stopped it first). The master merges them with `merge_payloads` (keyed
  by worker index, so a payload sent twice counts once) and writes the one
  directory.

Target profile (simulate/target_profile.py): at `init` the master (or the
single process) probes the target (`--target-profile auto`, the default) or
takes the profile named, fits the scenario to it (refused scenarios end the
process with exit 2 before any user starts; a mix loses what the server
lacks, with a note) and hands the choice to the workers with the options.
A run whose server answers nothing within `ANSWER_DEADLINE_S` of the first
connection is stopped (exit 3, no run directory), and one that ends without
a sample of its main event exits 3 after writing its run directory
(simulate/answer_watch.py).

Locust's numbers and ours: every measured event is fired once into Locust
(`LocustRun.latency`: a request with its latency; `LocustRun.error`: a
failure), so Locust's request and failure counts agree with summary.json
(requests = count + errors). Latencies never include failures: the run
directory's histograms hold successes only, and a failure is fired with no
response time (`response_time=None`, which Locust counts as a request but
leaves out of its average, min/max and percentiles) rather than with its
elapsed time — a timeout's 5 s would otherwise be Locust's p99. So both
sides' latency percentiles describe successful events; the time to a
failure is in the request's context (`elapsed_ms`) only, for listeners.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent
import locust.stats
from hdrh.histogram import HdrHistogram
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from locustfiles.target_choice import choice_from_json, choice_to_json, choose_profile
from simulate.answer_watch import (
    NOTHING_MEASURED_EXIT,
    AnswerWatch,
    nothing_measured,
)
from simulate.measurement import QUIET_NS, PeerClock, Saturation, host, main_event, versions
from simulate.recording import (
    DeliveryLog,
    Recorder,
    RunDirectory,
    delivery_report,
    merge_payloads,
    new_run_id,
)
from simulate.roster import PresenceLog, Roster, presence_report
from simulate.scenarios import Scenario, load_scenario
from simulate.target_profile import (
    AUTO,
    PROFILE_CHOICES,
    EventMap,
    ProfileChoice,
    ProfileError,
    ScenarioFit,
    fit_scenario,
    forced,
)

log = logging.getLogger(__name__)

MESSAGE_TYPE = "rtlab-run"  # worker -> master: a finished process's payload
FINISH_TYPE = "rtlab-finish"  # master -> workers: stop sending, drain, send your payload
DRAIN_CAP_S = 10.0
WORKER_PAYLOAD_WAIT_S = 30.0
RUN_DIR_LINE = "rtlab run directory: "  # the driver reads the path from this line


# ------------------------------------------------------------------ command line
@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    """Custom arguments; each also reads an environment variable (CI sets those)."""
    group = parser.add_argument_group("rtlab", "rtlab run directory and scenario")
    group.add_argument(
        "--rtlab-run-dir",
        env_var="RTLAB_RUN_DIR",
        default="",
        help="write the rtlab run directory exactly here",
    )
    group.add_argument(
        "--rtlab-runs",
        env_var="RTLAB_RUNS",
        default="reports/runs",
        help="parent of <run-id>/ when --rtlab-run-dir is not given (default reports/runs)",
    )
    group.add_argument(
        "--rtlab-scenario",
        env_var="RTLAB_SCENARIO",
        default="",
        help="scenario name or .toml path (default: the locustfile's own)",
    )
    group.add_argument(
        "--strategy",
        env_var="RTLAB_STRATEGY",
        default="",
        help="conflict strategy of the editors (naive, ot, fugue, rga, yjs, lww)",
    )
    group.add_argument(
        "--rtlab-seed", env_var="RTLAB_SEED", type=int, default=None, help="override the seed"
    )
    group.add_argument(
        "--rtlab-quiet",
        env_var="RTLAB_QUIET",
        action="store_true",
        default=False,
        help="no per-second progress line",
    )
    group.add_argument(
        "--target-profile",
        env_var="RTLAB_TARGET_PROFILE",
        choices=PROFILE_CHOICES,
        default=AUTO,
        help="what the server speaks: rtlab (acks), tutorial (no acks), auto (probe; default)",
    )
    group.add_argument(
        "--event-map",
        env_var="RTLAB_EVENT_MAP",
        default="",
        help="the server's names for our events, e.g. send-message=chat:send",
    )
    # Chosen by the master (or the single process) and sent to workers with the options.
    group.add_argument("--rtlab-run-tag", default="", help="(internal) tag shared by all workers")
    group.add_argument("--rtlab-profile-choice", default="", help="(internal) the master's choice")


# ------------------------------------------------------------------ the run
# The generator-CPU rule (`Saturation`), `PeerClock`, `QUIET_NS` and `main_event`
# are the bot fleet's own (simulate/measurement.py).


class AckBook:
    """Acks still awaited, by token, so that the drain can count the missing ones."""

    def __init__(self) -> None:
        self._outstanding: dict[int, tuple[str, str, int]] = {}
        self._next = 0

    def open(self, kind: str, label: str, since_ns: int) -> int:
        token = self._next
        self._next += 1
        self._outstanding[token] = (kind, label, since_ns)
        return token

    def close(self, token: int) -> bool:
        """False when the ack came too late (already counted as a timeout or lost)."""
        return self._outstanding.pop(token, None) is not None

    def pop(self, token: int) -> tuple[str, str, int] | None:
        return self._outstanding.pop(token, None)

    def __len__(self) -> int:
        return len(self._outstanding)

    def expire(self) -> list[tuple[str, str, int]]:
        missing = list(self._outstanding.values())
        self._outstanding.clear()
        return missing


class RtlabError(Exception):
    """An error kind (`timeout`, `not_connected`, a server error code) as Locust shows it."""


@dataclass
class LocustRun:
    """One process's share of a run: recorder, delivery log, seats, clients, CPU."""

    environment: Environment
    scenario: Scenario
    run_tag: str
    run_dir: Path
    quiet: bool = False
    choice: ProfileChoice = field(default_factory=lambda: _forced_rtlab())
    fit: ScenarioFit | None = None
    event_map: EventMap = field(default_factory=EventMap)
    recorder: Recorder = field(init=False)
    delivery: DeliveryLog = field(default_factory=DeliveryLog)
    peers: PeerClock = field(default_factory=PeerClock)
    acks: AckBook = field(default_factory=AckBook)
    saturation: Saturation = field(default_factory=Saturation)
    clients: set[Any] = field(default_factory=set)  # socketio clients still to disconnect
    documents: dict[str, list[Any]] = field(default_factory=dict)  # editors by document
    roster: Roster = field(default_factory=Roster)  # who is certainly in which room
    presence: PresenceLog = field(default_factory=PresenceLog)  # users lists judged
    aborted: str | None = None  # the server answered nothing (AnswerWatch): no run directory
    stopping: bool = False
    closed: bool = False
    started_ns: int = 0
    stopping_ns: int = 0
    ended_ns: int = 0
    peak_users: int = 0
    worker_payloads: dict[int, dict[str, Any]] = field(default_factory=dict)  # by worker index
    final_payload: dict[str, Any] | None = None
    _users_created: int = 0
    _seats: dict[str, int] = field(default_factory=dict)
    _ticker: Any = None

    def __post_init__(self) -> None:
        self.recorder = Recorder(time.time_ns(), main_event(self.scenario))
        self._watch = AnswerWatch(self.choice.profile)

    @property
    def acked(self) -> bool:
        """The target acks requests (rtlab), or answers nothing (the tutorial's)."""
        return self.choice.profile.acks

    # -- identities, seats --
    @property
    def worker_index(self) -> int:
        return max(0, getattr(self.environment.runner, "worker_index", 0) or 0)

    def next_user_index(self) -> int:
        """A run-wide user number: workers never collide, a process counts its own."""
        index = self.worker_index * 1_000_000 + self._users_created
        self._users_created += 1
        return index

    def take_seat(self, family: str) -> str:
        """The next seat of a room (or document) family: room_size users per room."""
        seat = self._seats.get(family, 0)
        self._seats[family] = seat + 1
        return f"{self.run_tag}-w{self.worker_index}-{family}{seat // self.scenario.room_size}"

    # -- recording, from users --
    def latency(
        self, kind: str, event: str, since_ns: int, length: int = 0, now_ns: int | None = None
    ) -> None:
        """One measured event: in our histogram and as a Locust request of `kind`."""
        if self.closed:
            return
        now = time.time_ns() if now_ns is None else now_ns
        self.recorder.latency(event, since_ns, now)
        self.environment.events.request.fire(
            request_type=kind,
            name=event,
            response_time=max(0.0, (now - since_ns) / 1e6),
            response_length=length,
            exception=None,
            context={},
        )

    def error(self, kind: str, event: str, code: str, since_ns: int | None = None) -> None:
        """One failed event: counted in our errors, fired into Locust as a failure.

        Fired with response_time None (Locust's "no duration"), so Locust's
        response times hold no failure, as our histograms do (see the module
        docstring); the time until the error was noticed (ms, None if
        unknown) goes in the request's context as `elapsed_ms`.
        """
        if self.closed:
            return
        self.recorder.error(event, code)
        elapsed = None if since_ns is None else max(0.0, (time.time_ns() - since_ns) / 1e6)
        self.environment.events.request.fire(
            request_type=kind,
            name=event,
            response_time=None,
            response_length=0,
            exception=RtlabError(code),
            context={"elapsed_ms": elapsed},
        )

    # -- lifecycle --
    def start(self) -> None:
        self.started_ns = time.time_ns()
        self.recorder = Recorder(self.started_ns, main_event(self.scenario))
        self._ticker = gevent.spawn(self._tick_every_second)

    def stop_sending(self) -> None:
        self.stopping = True
        self.stopping_ns = time.time_ns()

    def finish(self) -> dict[str, Any]:
        """Drain, expire, disconnect; return this process's mergeable results."""
        if not self.stopping:
            self.stop_sending()
        self._drain()
        for kind, label, since_ns in self.acks.expire():
            self.error(kind, label, "timeout", since_ns)
        convergence = check_convergence(self)
        self.closed = True
        self.ended_ns = time.time_ns()
        if self._ticker is not None:
            self._ticker.kill(block=True)
            self._ticker = None
        self.recorder.tick(self.ended_ns, self.saturation.last_percent)
        self._disconnect_all()
        return {
            "recorder": self.recorder.payload(),
            "delivery": self.delivery.payload(),
            "presence": self.presence.payload(),
            "convergence": convergence,
            "cpu": self.saturation.as_dict(),
            "started_ns": self.started_ns,
            "stopping_ns": self.stopping_ns or self.ended_ns,  # sending stopped
            "ended_ns": self.ended_ns,
            "peak_users": self.peak_users,
            "worker_index": self.worker_index,
        }

    def _drain(self) -> None:
        deadline = time.monotonic() + min(self.scenario.drain, DRAIN_CAP_S)
        while time.monotonic() < deadline:
            quiet = time.time_ns() - self.recorder.last_receive_ns >= QUIET_NS
            if len(self.acks) == 0 and quiet:
                return
            gevent.sleep(0.05)

    def _disconnect_all(self) -> None:
        clients, self.clients = list(self.clients), set()
        jobs = [gevent.spawn(_quiet_disconnect, client) for client in clients]
        gevent.joinall(jobs, timeout=5)
        gevent.killall([j for j in jobs if not j.ready()], block=False)

    def _tick_every_second(self) -> None:
        last_cpu, last_wall = time.process_time(), time.monotonic()
        next_tick = last_wall + 1
        while True:
            gevent.sleep(max(0.0, next_tick - time.monotonic()))
            next_tick += 1
            cpu, wall = time.process_time(), time.monotonic()
            percent = 100.0 * (cpu - last_cpu) / max(wall - last_wall, 1e-3)
            last_cpu, last_wall = cpu, wall
            self.recorder.connected = sum(1 for c in self.clients if c.connected)
            if self._watch_answers():
                return
            users = self.environment.runner.user_count if self.environment.runner else 0
            self.peak_users = max(self.peak_users, users)
            row = self.recorder.tick(time.time_ns(), percent)
            if self.saturation.update(percent):
                print(
                    f"WARNING: the Locust process is CPU-saturated ({percent:.0f}% of a core): "
                    "its latencies describe the generator, not the server. Use more workers.",
                    file=sys.stderr,
                )
            if not self.quiet:
                _print_progress(row, users)

    def _watch_answers(self) -> bool:
        """Stop the whole run when the server answered nothing in time; True if stopped."""
        if self.aborted is not None or self.stopping:
            return self.aborted is not None
        if self._watch.answered:
            return False
        message = self._watch.check(time.time_ns(), self.recorder.connected, self.recorder)
        if message is None:
            return False
        self.aborted = message
        print(f"error: {message}", file=sys.stderr, flush=True)
        self.environment.process_exit_code = NOTHING_MEASURED_EXIT
        runner = self.environment.runner
        if runner is not None:
            gevent.spawn(runner.quit)
        return True


def _forced_rtlab() -> ProfileChoice:
    return forced("rtlab")


def _quiet_disconnect(client: Any) -> None:
    try:
        client.disconnect()
    except Exception:  # a client that is already gone has nothing left to close
        log.debug("disconnect failed", exc_info=True)


def _print_progress(row: dict[str, Any], users: int) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    print(
        f"[{row['second']:>4}s] users {users} connected {row['connected']}"
        f"  sent {row['sent']}/s  received {row['received']}/s"
        f"  p50 {ms(row['main_p50_ms'])} ms  p99 {ms(row['main_p99_ms'])} ms"
        f"  errors {row['errors']}  cpu {row['cpu_percent']:.0f}%",
        file=sys.stderr,
        flush=True,
    )


# ------------------------------------------------------------------ convergence
ConvergenceCheck = Callable[[LocustRun], list[dict[str, Any]]]
_convergence_checks: list[ConvergenceCheck] = []


def register_convergence_check(check: ConvergenceCheck) -> None:
    """Editing registers how to compare replicas; chat-only runs have nothing to check."""
    if check not in _convergence_checks:
        _convergence_checks.append(check)


def check_convergence(run: LocustRun) -> dict[str, Any]:
    documents: list[dict[str, Any]] = []
    for check in _convergence_checks:
        documents.extend(check(run))
    return {"documents": documents}


# ------------------------------------------------------------------ listeners
def run_of(environment: Environment) -> LocustRun:
    run = getattr(environment, "rtlab_run", None)
    if run is None:
        run = _create_run(environment)
    return run


def _options(environment: Environment) -> Any:
    return environment.parsed_options


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    options = _options(environment)
    if options is None:
        return
    if not isinstance(environment.runner, WorkerRunner) and not options.rtlab_run_tag:
        options.rtlab_run_tag = secrets.token_hex(3)
    if not isinstance(environment.runner, WorkerRunner):
        fit = _choose_target(environment, options)
        _weights_from_scenario(environment, fit.scenario)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(MESSAGE_TYPE, _on_worker_payload)
    if isinstance(environment.runner, WorkerRunner):
        # concurrent: the drain sleeps, and the worker must keep answering heartbeats
        environment.runner.register_message(FINISH_TYPE, _on_finish_request, concurrent=True)


def _choose_target(environment: Environment, options: Any) -> ScenarioFit:
    """Probe (or take) the profile, once, and fit the scenario; exit 2 if it cannot run."""
    scenario = resolve_scenario(environment)
    try:
        event_map = run_event_map(options, scenario)
        if not options.rtlab_profile_choice:
            host = environment.host or ""
            url = "http" + host[2:] if host.startswith("ws") else host
            if url or options.target_profile != AUTO:
                choice = choose_profile(
                    options.target_profile, url, event_map, options.rtlab_run_tag
                )
            else:  # the web UI names the host later: nothing to probe yet
                choice = replace(
                    forced("rtlab"),
                    requested=AUTO,
                    reason="no --host at start, so not probed: rtlab assumed "
                    "(give --host, or --target-profile tutorial for a server without acks)",
                )
            options.rtlab_profile_choice = choice_to_json(choice)
        choice = choice_from_json(options.rtlab_profile_choice)
        fit = fit_scenario(scenario, choice.profile)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    if not getattr(options, "rtlab_quiet", False) or fit.notes:
        print(f"target profile: {choice.profile.name} ({choice.reason})", file=sys.stderr)
        for note in fit.notes:
            print(f"note: {note}", file=sys.stderr, flush=True)
    return fit


def run_event_map(options: Any, scenario: Scenario) -> EventMap:
    """The scenario's event names, overridden by --event-map."""
    given = getattr(options, "event_map", "") if options else ""
    return EventMap(scenario.event_map).merged(EventMap.parse(given))


def _weights_from_scenario(environment: Environment, scenario: Scenario) -> None:
    """User classes that say so take their weight from the scenario's persona weights.

    Locust reads `weight` when it dispatches users (after `init`), so a
    scenario given with --rtlab-scenario decides the mix of mixed.py.
    """
    weights: dict[str, float] = {}
    for persona in scenario.personas:
        weights[persona.kind] = weights.get(persona.kind, 0) + persona.weight
    for user_class in environment.user_classes:
        kind = getattr(user_class, "persona_kind", None)
        if getattr(user_class, "weight_from_scenario", False) and kind:
            user_class.weight = weights.get(kind, 0)


def resolve_scenario(environment: Environment) -> Scenario:
    """--rtlab-scenario, else the one scenario every user class names; overrides applied."""
    options = _options(environment)
    name = getattr(options, "rtlab_scenario", "") if options else ""
    if not name:
        names = {getattr(c, "scenario_name", "mixed") for c in environment.user_classes}
        name = names.pop() if len(names) == 1 else "mixed"
    scenario = load_scenario(name)
    strategy = getattr(options, "strategy", "") if options else ""
    seed = getattr(options, "rtlab_seed", None) if options else None
    has_editor = any(p.kind == "editor" for p in scenario.personas)
    return scenario.with_overrides(
        seed=seed, strategy=strategy if strategy and has_editor else None
    )


def _create_run(environment: Environment) -> LocustRun:
    options = _options(environment)
    scenario = resolve_scenario(environment)
    run_tag = (getattr(options, "rtlab_run_tag", "") if options else "") or secrets.token_hex(3)
    explicit = getattr(options, "rtlab_run_dir", "") if options else ""
    parent = Path(getattr(options, "rtlab_runs", "reports/runs") if options else "reports/runs")
    run_dir = Path(explicit) if explicit else parent / new_run_id(scenario.name, scenario.seed)
    choice_json = getattr(options, "rtlab_profile_choice", "") if options else ""
    choice = choice_from_json(choice_json) if choice_json else _forced_rtlab()
    fit = fit_scenario(scenario, choice.profile)
    run = LocustRun(
        environment,
        fit.scenario,
        run_tag,
        run_dir,
        quiet=bool(getattr(options, "rtlab_quiet", False)) if options else False,
        choice=choice,
        fit=fit,
        event_map=run_event_map(options, scenario),
    )
    environment.rtlab_run = run  # type: ignore[attr-defined]
    return run


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    previous = getattr(environment, "rtlab_run", None)
    if previous is None or previous.started_ns:
        environment.rtlab_run = None  # type: ignore[attr-defined]
    run = run_of(environment)
    if isinstance(environment.runner, MasterRunner):
        run.started_ns = time.time_ns()  # the master only merges; it runs no users
        return
    run.start()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_: Any) -> None:
    run = getattr(environment, "rtlab_run", None)
    if run is not None:
        run.stop_sending()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    run = getattr(environment, "rtlab_run", None)
    runner = environment.runner
    if run is None or not run.started_ns or (run.closed and not isinstance(runner, WorkerRunner)):
        return
    if run.aborted is not None:
        run.closed = True
        run._disconnect_all()
        return
    if isinstance(runner, WorkerRunner):
        _send_payload(run, runner)
        return
    if isinstance(runner, MasterRunner):
        run.closed = True
        run.ended_ns = time.time_ns()
        # On a --run-time limit the master stops without telling workers until after
        # this event (quit), so it asks for the payloads itself.
        runner.send_message(FINISH_TYPE)
        _wait_for_workers(run, runner)
        results = list(run.worker_payloads.values())
    else:
        results = [run.finish()]
    if not results:
        log.error("no rtlab results arrived from the workers: no run directory written")
        return
    path = write_run_directory(run, results)
    print(f"{RUN_DIR_LINE}{path}", flush=True)
    main = main_event(run.scenario)
    if not any(
        HdrHistogram.decode(entry["encoded"]).get_total_count()
        for name, entry in merge_payloads([r["recorder"] for r in results])["events"].items()
        if name == main
    ):
        print(f"error: {nothing_measured(run.choice.profile, main)}", file=sys.stderr, flush=True)
        environment.process_exit_code = NOTHING_MEASURED_EXIT
    if getattr(_options(environment), "csv_prefix", None):
        # Locust rewrites its CSV once per interval and does not write it again on
        # exit: let it catch the drain's events so that both count the same.
        gevent.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.2)


def _on_worker_payload(environment: Environment, msg: Any, **_: Any) -> None:
    run_of(environment).worker_payloads[msg.data["worker_index"]] = msg.data


def _on_finish_request(environment: Environment, msg: Any, **_: Any) -> None:
    run = getattr(environment, "rtlab_run", None)
    if run is not None and run.started_ns and isinstance(environment.runner, WorkerRunner):
        _send_payload(run, environment.runner)


def _send_payload(run: LocustRun, runner: WorkerRunner) -> None:
    """Finish once; answer every request with the same payload (the master dedups)."""
    if run.final_payload is None:
        run.final_payload = run.finish()
    runner.send_message(MESSAGE_TYPE, run.final_payload)


def _wait_for_workers(run: LocustRun, runner: MasterRunner) -> None:
    """Workers send their payload before reporting stopped; wait for stragglers, bounded."""
    expected = max(1, runner.worker_count)
    deadline = time.monotonic() + WORKER_PAYLOAD_WAIT_S
    while len(run.worker_payloads) < expected and time.monotonic() < deadline:
        gevent.sleep(0.1)


# ------------------------------------------------------------------ writing
def write_run_directory(run: LocustRun, results: list[dict[str, Any]]) -> Path:
    environment = run.environment
    options = _options(environment)
    started_ns = min(r["started_ns"] for r in results)
    ended_ns = max(r["ended_ns"] for r in results)
    # the sending window: rates are per second of it, not of the drain and checks after it
    sending_stopped_ns = max(r.get("stopping_ns") or r["ended_ns"] for r in results)
    payload = merge_payloads([r["recorder"] for r in results])
    delivery = delivery_report([r["delivery"] for r in results])
    documents = [d for r in results for d in r["convergence"]["documents"]]
    convergence = (
        {"documents": documents, "converged": all(d["converged"] for d in documents)}
        if documents
        else None
    )
    cpu = [r["cpu"] for r in results]
    # As the fleet does: users and duration are the configured ones (budgets pin them);
    # without -u / -t (web UI runs) the peak user count and the measured sending time.
    users = getattr(options, "num_users", None) or sum(r["peak_users"] for r in results)
    duration = getattr(options, "run_time", None) or round(
        ((run.stopping_ns or ended_ns) - started_ns) / 1e9, 3
    )
    scenario = run.scenario.with_overrides(users=users, duration=float(duration))
    meta = {
        "run_id": run.run_dir.name,
        "producer": "locust",
        "scenario": scenario.as_dict(),
        "target": environment.host,
        "namespace": "/",
        "seed": run.scenario.seed,
        "users": users,
        "duration": duration,
        "procs": len(results),
        "run_tag": run.run_tag,
        "main_event": main_event(run.scenario),
        "versions": versions("locust", "python-socketio", "gevent", "rtlab", "hdrhistogram"),
        "host": host(),
        "command": shlex.join(["locust", *sys.argv[1:]]),
        "started_at": _iso(started_ns),
        "ended_at": _iso(ended_ns),
        "started_ns": started_ns,
        "ended_ns": ended_ns,
        "sending_started_ns": started_ns,
        "sending_stopped_ns": sending_stopped_ns,
        "generator_saturated": any(c["saturated"] for c in cpu),
        "generator_peak_cpu_percent": max(c["peak_percent"] for c in cpu),
        "generator_saturated_seconds": sum(c["saturated_seconds"] for c in cpu),
        "generator_cpu_per_process": cpu,
        "target_profile": {
            **run.choice.as_meta(),
            "skipped_personas": list(run.fit.skipped) if run.fit else [],
            "notes": list(run.fit.notes) if run.fit else [],
        },
        "event_map": dict(run.event_map.pairs),
        "locust": {
            "users": getattr(options, "num_users", None),
            "spawn_rate": getattr(options, "spawn_rate", None),
            "run_time": getattr(options, "run_time", None),
            "workers": len(results) if isinstance(environment.runner, MasterRunner) else 0,
            "user_classes": sorted(c.__name__ for c in environment.user_classes),
        },
    }
    path = RunDirectory.write(
        run.run_dir,
        meta=meta,
        payload=payload,
        delivery=delivery if delivery["rooms"] else None,
        convergence=convergence,
        presence=presence_report(r.get("presence") or {} for r in results),
    )
    if meta["generator_saturated"]:
        print(
            f"WARNING: the load generator was CPU-saturated (peak "
            f"{meta['generator_peak_cpu_percent']:.0f}% of a core): latencies describe the "
            "generator, not the server. Run with more workers (WORKERS=N).",
            file=sys.stderr,
        )
    return path


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")
