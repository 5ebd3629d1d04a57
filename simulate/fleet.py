"""`python -m simulate run`: a fleet of bots in real time against any Socket.IO server.

    python -m simulate run --target ws://127.0.0.1:8000 --scenario chat \\
        --users 2000 --duration 60s [--ramp 10s | --ramp 0s:0.5,10s:1] [--seed N] \\
        [--rate R] [--strategy S] [--room-size N] [--procs N] [--out reports/runs] \\
        [--target-profile auto|rtlab|tutorial] [--event-map send-message=chat:send,...]

Before any load the target is probed (`--target-profile auto`, the default:
does `join-room` come back with rtlab's ack?) or taken as named, and the
scenario is fitted to the profile (simulate/target_profile.py): personas the
server cannot serve are refused (exit 2, naming them) or, in a mix, left out
with a note. meta.json records the profile and why. A run whose server
answers nothing within `ANSWER_DEADLINE_S` of the first connection stops
early, and a run without one sample of its main event fails (exit 3,
simulate/answer_watch.py).

One process runs every bot as a task of one trio nursery; connections open
at the ramp's pace through a bounded `CapacityLimiter`, so that a burst of
arrivals queues instead of timing out. Sends follow the open-model schedule.
After `duration` the fleet stops sending, drains (until every ack is in and
the wire has been quiet briefly, bounded by the scenario's `drain`), checks
document convergence, and writes a run directory (format: simulate/recording.py).

`--procs N` starts N spawned processes, each a full trio fleet over a
contiguous slice of the plan (cut at room boundaries); every bot's seed
derives from the scenario seed and its global index, so a run's traffic
does not depend on how it is split. The parent merges the results
(histograms added, series rows summed per second) and prints the progress.

A fleet measures its own CPU (process_time deltas) every second: when it
stays above 90% of a core the numbers describe the generator, not the
server, so the run is flagged in meta.json and a warning is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import os
import queue
import random
import resource
import secrets
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import trio

import simulate.catalogue_personas  # noqa: F401 - registers the notification/dashboard/game/RTC bots
from server.catalogue import EventError, JoinDocument, JoinDocumentReply
from simulate.answer_watch import (
    NOTHING_MEASURED_EXIT,
    AnswerWatch,
    NothingMeasured,
    nothing_measured,
)
from simulate.catalogue import ADMIN_TOKEN_ENV
from simulate.client import connect
from simulate.clock import RealClock
from simulate.measurement import (
    QUIET_NS,
    Saturation,
    convergence_entry,
    host,
    main_event,
    versions,
)
from simulate.personas import (
    CONNECT_ERRORS,
    PERSONAS,
    BotCannotConnect,
    BotContext,
    FleetPhases,
    FleetShared,
)
from simulate.reactor import Reactor
from simulate.recording import (
    DeliveryLog,
    Recorder,
    RunDirectory,
    delivery_report,
    merge_payloads,
    new_run_id,
)
from simulate.roster import PresenceLog, presence_report
from simulate.scenarios import (
    BotPlan,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
    plan_bots,
    split_plan,
)
from simulate.schedule import Ramp, ScheduleError, parse_duration
from simulate.target_probe import choose_profile
from simulate.target_profile import (
    AUTO,
    PROFILE_CHOICES,
    RTLAB,
    EventMap,
    ProfileChoice,
    ProfileError,
    ScenarioFit,
    TargetProfile,
    fit_scenario,
)

log = logging.getLogger(__name__)

FD_MARGIN = 64  # stdio, the event loop, checker connections, churners' overlapping sockets
CONVERGENCE_TIMEOUT = 15.0
SPAWN_LEAD_S = 3.0  # children need time to start Python and import trio before the common start


# ------------------------------------------------------------------ CLI
@dataclass(frozen=True, slots=True)
class FleetOptions:
    target: str
    scenario: Scenario
    procs: int = 1
    out: Path = Path("reports/runs")
    namespace: str = "/"
    quiet: bool = False
    command: str = ""
    # "reactor": one epoll task reads every bot's WebSocket (simulate.reactor);
    # "tasks": a reading task per client (simpler, slower)
    io: str = "reactor"
    target_profile: str = AUTO  # auto (probe), rtlab or tutorial
    event_map: EventMap = field(default_factory=EventMap)  # over the scenario's own


def parse_args(argv: list[str]) -> FleetOptions:
    p = argparse.ArgumentParser(
        prog="python -m simulate run", description="Run a bot fleet in real time."
    )
    p.add_argument("--target", default="ws://127.0.0.1:8000", help="server URL (http:// or ws://)")
    p.add_argument(
        "--scenario", default="chat", help=f"{', '.join(list_scenarios())} or a .toml path"
    )
    p.add_argument("--users", type=int, help="total bots (overrides the scenario)")
    p.add_argument("--duration", help="sending time, e.g. 10s, 2m (overrides the scenario)")
    p.add_argument("--ramp", help="linear '10s' or steps '0s:0.25,5s:0.5,10s:1'")
    p.add_argument("--seed", type=int)
    p.add_argument("--rate", type=float, help="per-user rate of every rate-driven persona")
    p.add_argument("--strategy", help="editing strategy of every editor")
    p.add_argument("--room-size", type=int, help="users per chat room / editors per document")
    p.add_argument("--procs", type=int, default=1, help="processes to spread the users over")
    p.add_argument("--out", default="reports/runs", help="parent directory of run directories")
    p.add_argument("--namespace", default="/", help="Socket.IO namespace (default /)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--io",
        choices=("reactor", "tasks"),
        default="reactor",
        help="how bots read: one shared epoll (default) or a task per connection",
    )
    p.add_argument("--admin-token", help=f"admin token for notifiers (or {ADMIN_TOKEN_ENV})")
    p.add_argument(
        "--target-profile",
        choices=PROFILE_CHOICES,
        default=AUTO,
        help="what the server speaks: rtlab (acks), tutorial (no acks), auto (probe; default)",
    )
    p.add_argument(
        "--event-map",
        default="",
        help="the server's names for our events, e.g. send-message=chat:send,"
        "receive-message=chat:message",
    )
    p.add_argument("--list", action="store_true", help="list the built-in scenarios and exit")
    ns = p.parse_args(argv)
    if ns.list:
        for name in list_scenarios():
            scenario = load_scenario(name)
            print(f"{name:16} {scenario.description}")
        raise SystemExit(0)
    if ns.procs < 1:
        p.error("--procs must be >= 1")
    if ns.admin_token:
        os.environ[ADMIN_TOKEN_ENV] = ns.admin_token  # notifiers read it (spawned children too)
    try:
        scenario = load_scenario(ns.scenario).with_overrides(
            users=ns.users,
            duration=None if ns.duration is None else parse_duration(ns.duration, "--duration"),
            seed=ns.seed,
            rate=ns.rate,
            strategy=ns.strategy,
            ramp=None if ns.ramp is None else Ramp.parse(ns.ramp, "--ramp"),
            room_size=ns.room_size,
        )
        event_map = EventMap.parse(ns.event_map)
    except (ScenarioError, ScheduleError, ProfileError) as exc:
        p.error(str(exc))
    command = shlex.join(["python", "-m", "simulate", "run", *argv])
    return FleetOptions(
        ns.target,
        scenario,
        ns.procs,
        Path(ns.out),
        ns.namespace,
        ns.quiet,
        command,
        ns.io,
        ns.target_profile,
        event_map,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = parse_args(argv)
    try:
        path = run(options)
    except (FdLimitTooLow, ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NothingMeasured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOTHING_MEASURED_EXIT
    print(f"run directory: {path}")
    verdict = measured_nothing(path)
    if verdict:
        print(f"error: {verdict}", file=sys.stderr)
        return NOTHING_MEASURED_EXIT
    return 0


def measured_nothing(path: Path) -> str | None:
    """The failure message of a finished run without one sample of its main event, else None."""
    meta = json.loads((path / "meta.json").read_text())
    summary = json.loads((path / "summary.json").read_text())
    main = meta.get("main_event")
    if not main or (summary["events"].get(main) or {}).get("count"):
        return None
    profile = (meta.get("target_profile") or {}).get("name", "rtlab")
    from simulate.target_profile import PROFILES

    return nothing_measured(PROFILES.get(profile, RTLAB), main)


# ------------------------------------------------------------------ one run
class FdLimitTooLow(Exception):
    """More sockets than this process may open."""


def resolve_target(
    options: FleetOptions, run_tag: str
) -> tuple[ProfileChoice, ScenarioFit, EventMap]:
    """Probe (or take) the profile and fit the scenario to it, before any load.

    Raises ProfileError (the CLI exits 2) for an unreachable target or a
    scenario the target cannot serve.
    """
    event_map = EventMap(options.scenario.event_map).merged(options.event_map)
    choice = trio.run(
        partial(
            choose_profile,
            options.target_profile,
            options.target,
            namespace=options.namespace,
            event_map=event_map,
            run_tag=run_tag,
        )
    )
    fit = fit_scenario(options.scenario, choice.profile)
    if not options.quiet or fit.notes:
        print(f"target profile: {choice.profile.name} ({choice.reason})", file=sys.stderr)
        for note in fit.notes:
            print(f"note: {note}", file=sys.stderr)
    return choice, fit, event_map


def run(options: FleetOptions) -> Path:
    """Run the fleet (in this process or in `procs` spawned ones); return the run directory."""
    procs = min(options.procs, options.scenario.users)
    # before planning: a slice may exceed users/procs by up to a room (cuts at room boundaries)
    ensure_fd_capacity(
        math.ceil(options.scenario.users / procs) + options.scenario.room_size, procs
    )
    run_tag = secrets.token_hex(3)
    choice, fit, event_map = resolve_target(options, run_tag)
    scenario = fit.scenario
    plans = plan_bots(scenario)
    slices = [s for s in split_plan(plans, procs) if s]
    run_id = new_run_id(scenario.name, scenario.seed)
    started_ns = time.time_ns() + (int(SPAWN_LEAD_S * 1e9) if len(slices) > 1 else 0)
    jobs = [
        ProcessJob(
            scenario=scenario,
            plans=slice_,
            target=options.target,
            namespace=options.namespace,
            run_tag=run_tag,
            start_ns=started_ns,
            proc_index=index,
            io=options.io,
            profile=choice.profile,
            event_map=event_map,
        )
        for index, slice_ in enumerate(slices)
    ]
    progress = ProgressPrinter(len(jobs), scenario.users, options.quiet)
    if len(jobs) == 1:
        results = [trio.run(run_process, jobs[0], progress.row)]
    else:
        results = _run_children(jobs, progress)
    ended_ns = time.time_ns()
    progress.done()
    aborted = [r["aborted"] for r in results if r.get("aborted")]
    if aborted:
        raise NothingMeasured(aborted[0])
    merged = merge_payloads([r["recorder"] for r in results])
    cpu_peak = max(r["cpu"]["peak_percent"] for r in results)
    saturated = any(r["cpu"]["saturated"] for r in results)
    meta = {
        "run_id": run_id,
        "producer": "simulate.fleet",
        "scenario": scenario.as_dict(),
        "target": options.target,
        "namespace": options.namespace,
        "seed": scenario.seed,
        "users": scenario.users,
        "duration": scenario.duration,
        "procs": len(jobs),
        "run_tag": run_tag,
        "main_event": main_event(scenario),
        "versions": versions("trio", "rtlab", "hdrhistogram"),
        "host": host(),
        "command": options.command,
        "started_at": _iso(started_ns),
        "ended_at": _iso(ended_ns),
        "started_ns": started_ns,
        "ended_ns": ended_ns,
        # the sending window (rates are per second of it); started..ended adds the drain
        "sending_started_ns": started_ns,
        "sending_stopped_ns": started_ns + int(scenario.duration * 1e9),
        "generator_saturated": saturated,
        "generator_peak_cpu_percent": cpu_peak,
        "generator_saturated_seconds": sum(r["cpu"]["saturated_seconds"] for r in results),
        "generator_cpu_per_process": [r["cpu"] for r in results],
        "target_profile": {
            **choice.as_meta(),
            "skipped_personas": list(fit.skipped),
            "notes": list(fit.notes),
        },
        "event_map": dict(event_map.pairs),
    }
    convergence = merge_convergence([r["convergence"] for r in results])
    delivery = delivery_report([r["delivery"] for r in results])
    path = RunDirectory.write(
        options.out / run_id,
        meta=meta,
        payload=merged,
        delivery=delivery if delivery["rooms"] else None,
        convergence=convergence,
        presence=presence_report(r["presence"] for r in results),
    )
    if saturated:
        print(
            f"WARNING: the load generator was CPU-saturated (peak {cpu_peak:.0f}% of a core): "
            "latencies describe the generator, not the server. Use --procs.",
            file=sys.stderr,
        )
    return path


def ensure_fd_capacity(users_per_process: int, procs: int) -> None:
    """Raise the soft fd limit to the hard one; refuse clearly if the users still cannot fit."""
    soft, hard = raise_fd_limit()
    needed = users_per_process + FD_MARGIN
    if needed > soft:
        raise FdLimitTooLow(
            f"{users_per_process} users per process need about {needed} file descriptors, "
            f"but the limit is {soft} (hard {hard}). Spread them with --procs "
            f"{procs * (needed // max(1, soft - FD_MARGIN) + 1)} or raise `ulimit -n`."
        )


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return soft, hard


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


# ------------------------------------------------------------------ one process
@dataclass(frozen=True, slots=True)
class ProcessJob:
    scenario: Scenario
    plans: list[BotPlan]
    target: str
    namespace: str
    run_tag: str
    start_ns: int
    proc_index: int = 0
    io: str = "reactor"
    profile: TargetProfile = RTLAB
    event_map: EventMap = field(default_factory=EventMap)


async def run_process(
    job: ProcessJob, progress: Callable[[int, dict[str, Any]], None]
) -> dict[str, Any]:
    """Run one process's bots to the end; return its mergeable results."""
    raise_fd_limit()
    scenario = job.scenario
    now_ns = time.time_ns()
    if job.start_ns > now_ns:
        await trio.sleep((job.start_ns - now_ns) / 1e9)
    recorder = Recorder(job.start_ns, main_event(scenario))
    shared = FleetShared(
        target=job.target,
        namespace=job.namespace,
        run_tag=job.run_tag,
        recorder=recorder,
        delivery=DeliveryLog(),
        phases=FleetPhases(job.start_ns, job.start_ns + int(scenario.duration * 1e9)),
        connect_limiter=trio.CapacityLimiter(scenario.connect_concurrency),
        clock=RealClock.started(),
        room_size=scenario.room_size,
        reactor=Reactor() if job.io == "reactor" else None,
        profile=job.profile,
        event_map=job.event_map,
        presence=PresenceLog(),
    )
    saturation = Saturation()
    convergence: dict[str, Any] = {"documents": []}
    verdict: list[str] = []
    async with trio.open_nursery() as nursery:
        if shared.reactor is not None:
            nursery.start_soon(shared.reactor.run)
        nursery.start_soon(_tick_every_second, shared, saturation, job.proc_index, progress)
        nursery.start_soon(_watch_answers, shared, verdict, nursery.cancel_scope)
        nursery.start_soon(_conclude, shared, scenario, convergence)
        async with trio.open_nursery() as bots:
            for plan in job.plans:
                persona = scenario.persona(plan.persona)
                rng = random.Random(scenario.seed * 1_000_003 + plan.index)
                bots.start_soon(_run_bot, BotContext(plan, persona, shared, rng))
        nursery.cancel_scope.cancel()
    recorder.tick(time.time_ns(), saturation.last_percent)  # what came after the last tick
    return {
        "recorder": recorder.payload(),
        "delivery": shared.delivery.payload(),
        "presence": shared.presence.payload(),
        "convergence": convergence,
        "cpu": saturation.as_dict(),
        "aborted": verdict[0] if verdict else None,
    }


async def _watch_answers(
    shared: FleetShared, verdict: list[str], run_scope: trio.CancelScope
) -> None:
    """Stop the process's bots when the server answered nothing in time (AnswerWatch)."""
    watch = AnswerWatch(shared.profile)
    while not shared.phases.drained.is_set():
        connected = sum(1 for c in shared.clients if c.connected)
        message = watch.check(time.time_ns(), connected, shared.recorder)
        if message is not None:
            verdict.append(message)
            run_scope.cancel()
            return
        if watch.answered:
            return  # nothing more to watch
        await trio.sleep(0.2)


async def _run_bot(ctx: BotContext) -> None:
    """Arrive on the ramp, run the persona; retry a failed connect while the run is on."""
    phases = ctx.shared.phases
    await ctx.sleep_until_ns(phases.start_ns + int(ctx.plan.start_offset * 1e9))
    persona = PERSONAS[ctx.persona.kind]
    while not phases.finished.is_set():
        try:
            await persona(ctx)
            return
        except BotCannotConnect:
            if not ctx.sending():
                return
            await trio.sleep(0.5 + ctx.rng.random())
        except Exception as exc:
            # A bot's bug or an unexpected reply must not stop the fleet: count it and leave.
            ctx.recorder.error("bot", type(exc).__name__)
            log.debug("bot %s failed", ctx.user_id, exc_info=True)
            return


async def _conclude(shared: FleetShared, scenario: Scenario, convergence: dict[str, Any]) -> None:
    """After the sending phase: drain, check convergence, then release the bots."""
    phases = shared.phases
    recorder = shared.recorder
    await shared.clock.sleep_until_ns(phases.stop_ns)
    with trio.move_on_after(scenario.drain):
        while recorder.pending > 0 or time.time_ns() - recorder.last_receive_ns < QUIET_NS:
            await trio.sleep(0.05)
    phases.drained.set()
    # the run's last row (written after the bots leave) must show who was still connected
    recorder.connected = sum(1 for c in shared.clients if c.connected)
    with trio.move_on_after(CONVERGENCE_TIMEOUT):
        convergence["documents"] = await check_convergence(shared)
    phases.finished.set()


async def check_convergence(shared: FleetShared) -> list[dict[str, Any]]:
    """Compare every editor's replica with the server's text, read by a fresh joiner.

    A relay-only server (no acks: the tutorial's) keeps no text: the
    replicas are compared with each other.
    """
    documents = []
    for number, (document_id, sessions) in enumerate(sorted(shared.documents.sessions.items())):
        server_text = None
        if shared.profile.acks:
            server_text = await read_server_text(
                shared, document_id, f"{shared.run_tag}-checker{number}"
            )
        documents.append(
            convergence_entry(
                document_id,
                sessions[0].strategy,
                [s.text for s in sessions],
                editors=len(sessions),
                idle=all(s.idle for s in sessions),
                broken_sessions=sum(s.broken for s in sessions),
                server_text=server_text,
                server_keeps_text=shared.profile.acks,
            )
        )
    return documents


async def read_server_text(shared: FleetShared, document_id: str, user: str) -> str | None:
    """The server's text of a document, as a fresh joiner reads it (None if it cannot)."""
    with contextlib.suppress(*CONNECT_ERRORS, EventError):  # EventError: refused, or no text
        with trio.move_on_after(5):
            async with connect(
                shared.target, namespace=shared.namespace, auth={"userId": user}, reconnect=False
            ) as client:
                reply = await client.call_event(JoinDocument(document_id, user), timeout=5)
                return JoinDocumentReply.parse(reply).content
    return None


def merge_convergence(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One entry per document; a document split across processes converged only if all agree."""
    by_document: dict[str, dict[str, Any]] = {}
    for part in parts:
        for entry in part["documents"]:
            known = by_document.get(entry["document"])
            if known is None:
                by_document[entry["document"]] = dict(entry)
                continue
            known["editors"] += entry["editors"]
            known["broken_sessions"] += entry["broken_sessions"]
            for key in ("idle", "texts_equal", "converged"):
                known[key] = known[key] and entry[key]
    if not by_document:
        return None
    documents = [by_document[k] for k in sorted(by_document)]
    return {"documents": documents, "converged": all(d["converged"] for d in documents)}


async def _tick_every_second(
    shared: FleetShared,
    saturation: Saturation,
    proc_index: int,
    progress: Callable[[int, dict[str, Any]], None],
) -> None:
    recorder = shared.recorder
    last_cpu = time.process_time()
    last_wall = time.monotonic()
    # Ticks fall on whole seconds of the run's shared start, so the rows of several
    # processes (one may have started late) land in the same seconds when merged.
    start_ns = shared.phases.start_ns
    while True:
        now_ns = time.time_ns()
        second = max(0, (now_ns - start_ns) // 1_000_000_000) + 1
        await trio.sleep((start_ns + second * 1_000_000_000 - now_ns) / 1e9)
        cpu, wall = time.process_time(), time.monotonic()
        percent = 100.0 * (cpu - last_cpu) / max(wall - last_wall, 1e-3)
        last_cpu, last_wall = cpu, wall
        recorder.connected = sum(1 for c in shared.clients if c.connected)
        row = recorder.tick(time.time_ns(), percent)
        if saturation.update(percent):
            row = {**row, "saturated": True}
        progress(proc_index, row)


# ------------------------------------------------------------------ several processes
def _run_children(jobs: list[ProcessJob], progress: ProgressPrinter) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    inbox = context.Queue()
    children = [
        context.Process(target=_child_main, args=(job, inbox), name=f"fleet-{job.proc_index}")
        for job in jobs
    ]
    for child in children:
        child.start()
    results: dict[int, dict[str, Any]] = {}
    failures: dict[int, str] = {}
    scenario = jobs[0].scenario
    deadline = time.monotonic() + SPAWN_LEAD_S + scenario.duration + scenario.drain + 60
    try:
        while len(results) + len(failures) < len(children):
            if time.monotonic() > deadline:
                raise RuntimeError("fleet processes did not finish in time")
            try:
                kind, index, body = inbox.get(timeout=0.5)
            except queue.Empty:
                dead = [
                    i
                    for i, c in enumerate(children)
                    if not c.is_alive() and i not in results and i not in failures
                ]
                for i in dead:
                    failures[i] = f"exited with code {children[i].exitcode}"
                continue
            if kind == "tick":
                progress.row(index, body)
            elif kind == "result":
                results[index] = body
            else:
                failures[index] = body
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join()
    if failures:
        raise RuntimeError(f"fleet processes failed: {json.dumps(failures, indent=2)}")
    return [results[i] for i in range(len(children))]


def _child_main(job: ProcessJob, outbox: Any) -> None:
    def report(index: int, row: dict[str, Any]) -> None:
        outbox.put(("tick", index, row))

    try:
        result = trio.run(run_process, job, report)
        outbox.put(("result", job.proc_index, result))
    except BaseException:
        outbox.put(("error", job.proc_index, traceback.format_exc()))


# ------------------------------------------------------------------ progress line
@dataclass
class ProgressPrinter:
    """Once a second on stderr: the sum of every process's latest row for that second."""

    procs: int
    users: int
    quiet: bool = False
    _pending: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _printed: bool = False

    def row(self, proc_index: int, row: dict[str, Any]) -> None:
        if row.get("saturated"):
            print(
                f"\nWARNING: fleet process {proc_index} is CPU-saturated "
                f"({row['cpu_percent']:.0f}% of a core): its latencies are not the server's",
                file=sys.stderr,
            )
        rows = self._pending.setdefault(row["second"], [])
        rows.append(row)
        if len(rows) == self.procs:
            del self._pending[row["second"]]
            self._print(rows)

    def _print(self, rows: list[dict[str, Any]]) -> None:
        if self.quiet:
            return

        def worst(key: str) -> str:
            values = [r[key] for r in rows if r.get(key) is not None]
            return f"{max(values):.1f}" if values else "-"

        sent, received = sum(r["sent"] for r in rows), sum(r["received"] for r in rows)
        line = (
            f"[{rows[0]['second']:>4}s] connected {sum(r['connected'] for r in rows)}/{self.users}"
            f"  sent {sent}/s  received {received}/s"
            f"  p50 {worst('main_p50_ms')} ms  p99 {worst('main_p99_ms')} ms"
            f"  errors {sum(r['errors'] for r in rows)}"
            f"  cpu {sum(r['cpu_percent'] for r in rows):.0f}%"
        )
        end = "\n" if not sys.stderr.isatty() else ""
        print(("\r" if sys.stderr.isatty() else "") + line, end=end, file=sys.stderr, flush=True)
        self._printed = True

    def done(self) -> None:
        for second in sorted(self._pending):  # processes that ended before their last tick
            self._print(self._pending.pop(second))
        if self._printed and sys.stderr.isatty() and not self.quiet:
            print(file=sys.stderr)
