"""`make loadtest`: one command from nothing to a report — server, load, report, summary.

    python -m scripts.loadtest                     # mixed, 200 users, 20/s, 60 s, Locust
    SCENARIO=chat USERS=500 DURATION=30s python -m scripts.loadtest
    ENGINE=bots python -m scripts.loadtest         # the trio fleet instead of Locust
    TARGET=ws://127.0.0.1:3000 python -m scripts.loadtest   # someone else's server
    TARGET=tutorial-node python -m scripts.loadtest          # a bundled server, by name
    TARGET_PROFILE=tutorial EVENT_MAP=send-message=chat:send python -m scripts.loadtest
    WORKERS=4 python -m scripts.loadtest           # Locust master + 4 workers on this host
    python -m scripts.loadtest --smoke --budgets budgets.toml   # `make ci-budget`

Why a driver: a load test that needs three terminals is not run. This one
starts the reference server on a free loopback port with a throwaway
SQLite file (unless TARGET is a URL; TARGET may also name a bundled server:
rtlab, tutorial-node, tutorial-python — scripts/bundled_targets.py), runs
the load generator
headless, always stops what it started (try/finally, also on Ctrl-C),
then builds the report and prints the per-event table and the report's
path. Every wait is bounded: the whole run ends by itself after
duration + `HARD_MARGIN_S` at the latest.

Options come from flags, else environment variables (`SCENARIO`, `USERS`,
`SPAWN_RATE`, `DURATION`, `ENGINE`, `TARGET`, `WORKERS`, `STRATEGY`,
`SEED`, `OUT`, `BUDGETS`, `TARGET_PROFILE`, `EVENT_MAP`), else the defaults
below; they end up in one frozen `LoadtestConfig`. `--smoke` only changes defaults: its scenario,
users, spawn rate and duration replace the environment's and the built-in
ones, and an explicit flag still wins (`--smoke --users 30` runs 30 users).
The server we start gets a random admin token per run
(`RTLAB_ADMIN_TOKEN`, inherited by the engines: notifiers POST /notify);
with TARGET, set `RTLAB_ADMIN_TOKEN` to that server's token yourself.

The engines probe the target (`--target-profile auto`) or take the profile
given, and refuse a scenario the target cannot serve (exit 2). The exit
status is the engine's when it failed (3: the run measured nothing), else
the budget check's, else 0. A server this driver started is metered (CPU,
RSS: `server.json` in the run directory).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bundled_targets import (
    BUNDLED,
    ServerMeter,
    TargetError,
    pin,
    start_bundled,
    stop_process,
)
from simulate.target_profile import AUTO, PROFILE_CHOICES, EventMap, ProfileError

ROOT = Path(__file__).resolve().parent.parent
HARD_MARGIN_S = 90.0  # startup, drain (<= 10 s), convergence check, writing
REPORT_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
RUN_DIR_LINE = re.compile(r"^(?:rtlab )?run directory: (.+)$", re.MULTILINE)

# Scenario -> the locustfile whose user classes play it. Anything else (another
# built-in, a .toml path) runs mixed.py, whose weights follow the scenario's personas.
LOCUSTFILES = {
    "chat": "chat.py",
    "typing": "typing_indicators.py",
    "presence-churn": "presence.py",
    "editing": "editing.py",
    "notifications": "notifications.py",
    "dashboard": "dashboard.py",
    "game": "game.py",
    "rtc": "rtc.py",
    "mixed": "mixed.py",
    "smoke": "mixed.py",
}
ADMIN_TOKEN_ENV = "RTLAB_ADMIN_TOKEN"  # the server's and the notifiers' (POST /notify)
SMOKE = {"scenario": "smoke", "users": 12, "spawn_rate": 12.0, "duration": "3s"}


@dataclass(frozen=True, slots=True)
class LoadtestConfig:
    scenario: str = "mixed"
    users: int = 200
    spawn_rate: float = 20.0
    duration_s: float = 60.0
    engine: str = "locust"
    target: str = ""  # empty or a bundled name (rtlab, tutorial-node, ...): start it; else a URL
    workers: int = 0
    strategy: str = ""
    seed: int | None = None
    out: Path = Path("reports/runs")
    budgets: Path | None = None
    smoke: bool = False
    target_profile: str = AUTO
    event_map: str = ""  # --event-map as given (validated)

    @property
    def locustfile(self) -> Path:
        return ROOT / "locustfiles" / LOCUSTFILES.get(self.scenario, "mixed.py")

    @property
    def hard_timeout_s(self) -> float:
        return self.duration_s + HARD_MARGIN_S + 5 * self.workers


# ------------------------------------------------------------------ configuration
def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> LoadtestConfig:
    p = argparse.ArgumentParser(
        prog="python -m scripts.loadtest", description=__doc__.split("\n")[0]
    )
    # scenario, users, spawn rate, duration: flag, else --smoke's value, else env, else default
    defaults: dict[str, Any] = {
        "scenario": env.get("SCENARIO", "mixed"),
        "users": int(env.get("USERS", 200)),
        "spawn_rate": float(env.get("SPAWN_RATE", 20)),
        "duration": env.get("DURATION", "60s"),
    }
    p.add_argument("--scenario", help=f"default {defaults['scenario']} (SCENARIO)")
    p.add_argument("--users", type=int, help=f"default {defaults['users']} (USERS)")
    p.add_argument(
        "--spawn-rate", type=float, help=f"default {defaults['spawn_rate']:g}/s (SPAWN_RATE)"
    )
    p.add_argument("--duration", help=f"e.g. 60s, 2m; default {defaults['duration']} (DURATION)")
    p.add_argument("--engine", choices=("locust", "bots"), default=env.get("ENGINE", "locust"))
    p.add_argument(
        "--target",
        default=env.get("TARGET", ""),
        help=f"ws:// or http:// URL, or a bundled server: {', '.join(BUNDLED)} (default rtlab)",
    )
    p.add_argument(
        "--target-profile",
        choices=PROFILE_CHOICES,
        default=env.get("TARGET_PROFILE", AUTO),
        help="rtlab (acks), tutorial (no acks), auto (probe; default) (TARGET_PROFILE)",
    )
    p.add_argument(
        "--event-map",
        default=env.get("EVENT_MAP", ""),
        help="the server's event names, e.g. send-message=chat:send (EVENT_MAP)",
    )
    p.add_argument("--workers", type=int, default=int(env.get("WORKERS", 0)))
    p.add_argument("--strategy", default=env.get("STRATEGY", ""))
    seed = env.get("SEED")
    p.add_argument("--seed", type=int, default=int(seed) if seed else None)
    p.add_argument("--out", default=env.get("OUT", "reports/runs"), help="parent of run dirs")
    p.add_argument("--budgets", default=env.get("BUDGETS", ""), help="check the run (exit 1)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help=(
            "CI (budgets.toml): scenario smoke, 12 users, 3 s, all spawned at once (Locust). "
            "These are defaults only: an explicit --scenario/--users/--spawn-rate/--duration "
            "still applies (the environment variables do not)"
        ),
    )
    ns = p.parse_args(list(argv))
    if ns.smoke:
        defaults |= SMOKE
    given = {key: getattr(ns, key) for key in defaults}
    values = {key: defaults[key] if given[key] is None else given[key] for key in defaults}
    if ns.smoke and ns.engine == "locust" and given["spawn_rate"] is None:
        values["spawn_rate"] = float(values["users"])  # everyone at once: 3 s is short
    if values["users"] < 1 or values["spawn_rate"] <= 0 or ns.workers < 0:
        p.error("need users >= 1, spawn rate > 0, workers >= 0")
    if ns.engine == "bots" and ns.workers:
        p.error("WORKERS applies to Locust; the bot fleet has --procs (not wired here)")
    check_target(ns.target, p)
    try:
        EventMap.parse(ns.event_map)
    except ProfileError as exc:
        p.error(str(exc))
    return LoadtestConfig(
        scenario=values["scenario"],
        users=values["users"],
        spawn_rate=values["spawn_rate"],
        duration_s=parse_seconds(values["duration"], p),
        engine=ns.engine,
        target=ns.target,
        workers=ns.workers,
        strategy=ns.strategy,
        seed=ns.seed,
        out=Path(ns.out),
        budgets=Path(ns.budgets) if ns.budgets else None,
        smoke=ns.smoke,
        target_profile=ns.target_profile,
        event_map=ns.event_map,
    )


def check_target(target: str, parser: argparse.ArgumentParser) -> None:
    """A URL (ws, wss, http, https) or a bundled server's name."""
    if not target or target in BUNDLED:
        return
    if not re.match(r"^(ws|wss|http|https)://[^/\s]+", target):
        parser.error(
            f"TARGET {target!r} is neither a URL (ws://host:port) nor a bundled server "
            f"({', '.join(BUNDLED)})"
        )


def parse_seconds(value: str, parser: argparse.ArgumentParser) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not match:
        parser.error(f"bad duration {value!r} (want e.g. 60s, 2m)")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    seconds = float(match.group(1)) * unit
    if seconds <= 0:
        parser.error("the duration must be > 0")
    return seconds


# ------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def http_url(target: str) -> str:
    return "http" + target[2:] if target.startswith("ws") else target


def ws_url(target: str) -> str:
    return "ws" + target[4:] if target.startswith("http") else target


# ------------------------------------------------------------------ engines
def locust_command(config: LoadtestConfig, target: str, run_dir: Path) -> list[str]:
    files = run_dir / "locust"
    cmd = [sys.executable, "-m", "locust", "-f", str(config.locustfile), "--headless"]
    cmd += ["-u", str(config.users), "-r", f"{config.spawn_rate:g}"]
    cmd += ["-t", f"{math.ceil(config.duration_s)}s", "--host", http_url(target)]
    cmd += ["--csv", str(files / "locust"), "--html", str(files / "locust.html")]
    cmd += ["--only-summary", "--rtlab-run-dir", str(run_dir), "--rtlab-scenario", config.scenario]
    cmd += ["--target-profile", config.target_profile]
    if config.event_map:
        cmd += ["--event-map", config.event_map]
    if config.strategy:
        cmd += ["--strategy", config.strategy]
    if config.seed is not None:
        cmd += ["--rtlab-seed", str(config.seed)]
    return cmd


def run_locust(
    config: LoadtestConfig, target: str, run_dir: Path, cores: list[int] | None = None
) -> int:
    (run_dir / "locust").mkdir(parents=True, exist_ok=True)
    cmd = locust_command(config, target, run_dir)
    if not config.workers:
        return run_bounded([cmd], config.hard_timeout_s, cores=cores)
    port = free_port()
    master = [*cmd, "--master", "--master-bind-host", "127.0.0.1"]
    master += ["--master-bind-port", str(port), "--expect-workers", str(config.workers)]
    worker = [sys.executable, "-m", "locust", "-f", str(config.locustfile), "--worker"]
    worker += ["--master-host", "127.0.0.1", "--master-port", str(port), "--rtlab-quiet"]
    return run_bounded([master, *([worker] * config.workers)], config.hard_timeout_s, cores=cores)


def run_bots(
    config: LoadtestConfig, target: str, cores: list[int] | None = None
) -> tuple[int, Path | None]:
    ramp = min(config.users / config.spawn_rate, config.duration_s)
    cmd = [sys.executable, "-m", "simulate", "run", "--target", ws_url(target)]
    cmd += ["--scenario", config.scenario, "--users", str(config.users)]
    cmd += ["--duration", f"{config.duration_s:g}s", "--ramp", f"{ramp:g}s"]
    cmd += ["--out", str(config.out), "--target-profile", config.target_profile]
    if config.event_map:
        cmd += ["--event-map", config.event_map]
    if config.strategy:
        cmd += ["--strategy", config.strategy]
    if config.seed is not None:
        cmd += ["--seed", str(config.seed)]
    output = Path(tempfile.mkstemp(prefix="rtlab-bots-", suffix=".log")[1])
    try:
        code = run_bounded([cmd], config.hard_timeout_s, stdout_to=output, cores=cores)
        text = output.read_text(errors="replace")
    finally:
        output.unlink(missing_ok=True)
    print(text, end="")
    match = RUN_DIR_LINE.search(text)
    return code, Path(match.group(1).strip()) if match else None


def run_bounded(
    commands: list[list[str]],
    timeout_s: float,
    stdout_to: Path | None = None,
    cores: list[int] | None = None,
) -> int:
    """Start every command; wait for the first (the one that matters) within the timeout.

    `cores`: pin every process to these CPUs (a comparison keeps the server on others).
    """
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index, cmd in enumerate(commands):
            print(f"$ {shlex.join(cmd)}", flush=True)
            out = open(stdout_to, "wb") if stdout_to and index == 0 else None  # noqa: SIM115
            try:
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=out))
                pin(procs[-1].pid, cores)
            finally:
                if out is not None:
                    out.close()
        try:
            return procs[0].wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"error: the load generator did not finish in {timeout_s:g}s", file=sys.stderr)
            return 124
    finally:
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in procs[1:]:  # workers quit when the master does
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in procs:
            stop_process(proc)


# ------------------------------------------------------------------ reports
def reports_cli_available() -> bool:
    return importlib.util.find_spec("reports.__main__") is not None


def run_reports_cli(command: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python -m reports COMMAND RUN_DIR`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "reports", command, str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_S,
    )


def build_report(run_dir: Path) -> str | None:
    if not reports_cli_available():
        print("note: no `python -m reports` here: no report.html (the run directory is complete)")
        return None
    result = run_reports_cli("build", run_dir)
    if result.returncode != 0:
        print(f"note: `python -m reports build` failed:\n{result.stdout}{result.stderr}")
        return None
    match = re.search(r"report: (\S+)", result.stdout)
    return match.group(1) if match else str(run_dir / "report.html")


def print_summary(run_dir: Path) -> None:
    """The reports package's table if it has one, else ours from summary.json."""
    if reports_cli_available():
        result = run_reports_cli("summary", run_dir)
        if result.returncode == 0 and result.stdout.strip():
            print(result.stdout, end="")
            return
    print(summary_table(run_dir))


def summary_table(run_dir: Path) -> str:
    summary = json.loads((run_dir / "summary.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"{'event':<20}{'count':>9}{'rate/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
    ]
    for name, e in summary["events"].items():
        rate = "-" if e["rate_per_s"] is None else f"{e['rate_per_s']:.1f}"
        lines.append(
            f"{name:<20}{e['count']:>9}{rate:>10}{ms(e['p50_ms']):>9}{ms(e['p95_ms']):>9}"
            f"{ms(e['p99_ms']):>9}{ms(e['max_ms']):>9}{e['errors']:>8}"
        )
    saturated = " SATURATED" if meta.get("generator_saturated") else ""
    lines.append(
        f"generator ({meta.get('producer')}): peak CPU "
        f"{meta.get('generator_peak_cpu_percent')}% of a core{saturated}"
    )
    return "\n".join(lines)


def check_budgets(run_dir: Path, budgets: Path) -> int:
    if not reports_cli_available():
        print("error: budgets given but no `python -m reports check` here", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "reports", "check", str(run_dir), "--budgets", str(budgets)]
    print(f"$ {shlex.join(cmd)}", flush=True)
    return subprocess.run(cmd, cwd=ROOT, timeout=REPORT_TIMEOUT_S).returncode


def generator_line(run_dir: Path) -> str:
    meta = json.loads((run_dir / "meta.json").read_text())
    per_process = meta.get("generator_cpu_per_process") or []
    peaks = ", ".join(f"{p['peak_percent']:g}%" for p in per_process)
    flag = "SATURATED: numbers describe the generator" if meta["generator_saturated"] else "ok"
    return f"generator CPU peak per process: {peaks or '-'} ({flag})"


# ------------------------------------------------------------------ main
@dataclass(frozen=True, slots=True)
class EngineResult:
    code: int
    run_dir: Path | None


def run(config: LoadtestConfig) -> int:
    if not config.target or config.target == "rtlab":
        # our server gets a fresh admin token per run; the engines (notifiers) inherit it
        os.environ[ADMIN_TOKEN_ENV] = secrets.token_urlsafe(18)
    with tempfile.TemporaryDirectory(prefix="rtlab-loadtest-") as tmp:
        result = load_target(config, config.target or "rtlab", Path(tmp))
        # the server is stopped here: reports do not compete with it for CPU
    if result.run_dir is None or not (result.run_dir / "summary.json").exists():
        print(
            f"error: the load generator exited with code {result.code} and wrote no run "
            "directory (its message is above)",
            file=sys.stderr,
        )
        return result.code or 1
    report = build_report(result.run_dir)
    print()
    print_summary(result.run_dir)
    print(generator_line(result.run_dir))
    print(f"run directory: {result.run_dir}")
    print(f"report: {report or '(not built)'}")
    if result.code != 0:
        return result.code
    if config.budgets is not None:
        return check_budgets(result.run_dir, config.budgets)
    return 0


def load_target(
    config: LoadtestConfig,
    target: str,
    workdir: Path,
    server_cores: list[int] | None = None,
    engine_cores: list[int] | None = None,
) -> EngineResult:
    """Start `target` if it is a bundled name (metered), run the engine, stop the server.

    The server's CPU and RSS during the load go to `server.json` in the run
    directory (local servers only: a URL is someone else's process).
    """
    with contextlib.ExitStack() as stack:
        server = meter = None
        if target in BUNDLED:
            server = stack.enter_context(start_bundled(target, workdir, cores=server_cores))
            url = server.url
            print(f"server: {target} pid {server.proc.pid} on {url} (log {server.log_path})")
            if target == "rtlab":
                print(f"watch it live: {http_url(url)}/ (chat and dashboard)", flush=True)
            meter = stack.enter_context(ServerMeter(server.proc.pid))
        else:
            url = target
        if config.engine == "bots":
            code, run_dir = run_bots(config, url, cores=engine_cores)
        else:
            run_dir = (config.out / new_run_id(config)).resolve()
            code = run_locust(config, url, run_dir, cores=engine_cores)
    if run_dir is not None and (run_dir / "meta.json").exists():
        write_server_json(run_dir, target, server, meter, server_cores)
    return EngineResult(code, run_dir)


def write_server_json(
    run_dir: Path, target: str, server: Any, meter: ServerMeter | None, cores: list[int] | None
) -> None:
    """What the target was and (when we started it) what it spent: server.json."""
    from scripts.target_versions import target_versions

    info: dict[str, Any] = {"target": target, "local": server is not None}
    if server is not None and meter is not None:
        info |= {
            "name": server.name,
            "description": BUNDLED[server.name].description,
            "url": server.url,
            "command": shlex.join(server.command),
            "pinned_cores": cores,
            "versions": target_versions(server.name),
            "usage": meter.summary(),
        }
    (run_dir / "server.json").write_text(json.dumps(info, indent=2) + "\n")


def new_run_id(config: LoadtestConfig) -> str:
    from simulate.recording import new_run_id as run_id
    from simulate.scenarios import load_scenario

    seed = config.seed if config.seed is not None else load_scenario(config.scenario).seed
    return run_id(Path(config.scenario).stem, seed)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv, os.environ)
    try:
        return run(config)
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, TargetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
