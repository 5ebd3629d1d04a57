"""Load-generator benchmark: the trio fleet against one Locust process, and a connection probe.

Why: a load generator that needs more CPU than the server it tests makes
every number suspect. The issue's targets are that one trio fleet process
drives at least 3x Locust's messages per CPU-second, and holds at least
10,000 connections. This prints figures and whether each target is met; it
asserts nothing.

Method (everything on 127.0.0.1, `python -m server` in its own process):

1. The same chat load (users in rooms of 20, each sending `--rate`
   messages/s) from `python -m simulate run` and from a headless Locust
   process whose users are `locust.contrib.socketio.SocketIOUser`s. For
   each generator: messages sent + received, divided by the generator's CPU
   seconds (user + system of the whole process, from its rusage at exit,
   startup included for both).
2. A heavier fleet run (`--max-users`) shows what one fleet process
   sustains: achieved rates, its peak CPU, delivery losses.
3. Connection probe: one process opens up to `--connections` idle bot
   connections (bounded concurrency) and holds them; we report how many held
   and the RSS per connection. Both processes raise their fd limits soft→hard.

    python -m benchmarks.fleet_bench [--users 200] [--rate 2] [--seconds 20]
        [--max-users 1000] [--connections 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ROOM_SIZE = 20

LOCUSTFILE = '''
"""Chat users for the fleet benchmark: the same load as `simulate run --scenario chat`."""
import itertools
import time

from locust import task, constant_pacing
from locust.contrib.socketio import SocketIOUser

RATE = {rate}
ROOM_SIZE = {room_size}
_numbers = itertools.count()


class Chatter(SocketIOUser):
    wait_time = constant_pacing(1.0 / RATE)

    def on_start(self):
        self.number = next(_numbers)
        self.user_id = f"locust-u{{self.number}}"
        self.room = f"locust-room{{self.number // ROOM_SIZE}}"
        self.sent = 0
        self.sio.connect(self.host, transports=["websocket"], wait_timeout=10,
                         auth={{"userId": self.user_id}})
        self.sio.call("join-room", (self.room, self.user_id), timeout=10)

    @task
    def send_message(self):
        self.sent += 1
        message = {{"id": f"{{self.user_id}}-{{self.sent}}", "userId": self.user_id,
                   "text": "x" * 48, "sentAt": time.time_ns()}}
        self.sio.emit("send-message", (self.room, message))

    def on_stop(self):
        self.sio.disconnect()
'''


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--rate", type=float, default=2.0, help="messages/s per user")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--max-users", type=int, default=1000)
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--probe", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        return _probe_child(args.probe[0], int(args.probe[1]))

    print(f"fd limits: soft {resource.getrlimit(resource.RLIMIT_NOFILE)}  cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_server(workdir)
        try:
            url = f"http://127.0.0.1:{server.port}"
            fleet = run_fleet(workdir, url, args.users, args.rate, args.seconds)
            locust = run_locust(workdir, url, args.users, args.rate, args.seconds)
            print_comparison(args, fleet, locust)
            heavy = run_fleet(workdir, url, args.max_users, 1.0, args.seconds)
            print_sustained(args, heavy)
            probe = run_probe(url, args.connections)
            print_probe(args, probe, server.pid)
        finally:
            server.stop()
    return 0


# ------------------------------------------------------------------ the server
class Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port, self.pid = proc, port, proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_server(workdir: Path) -> Server:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # the server raises its own fd soft limit; raising it here too changes nothing if it does
    cmd = [PYTHON, "-m", "server", "--port", str(port), "--db", str(workdir / "bench.sqlite3")]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "WARNING"],
        cwd=ROOT,
        preexec_fn=_raise_fd_limit,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return Server(proc, port)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_child(cmd: list[str], **options: Any) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a generator to completion; return it and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **options)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu


# ------------------------------------------------------------------ generators
def run_fleet(workdir: Path, url: str, users: int, rate: float, seconds: int) -> dict[str, Any]:
    out = workdir / f"runs-{users}"
    cmd = [PYTHON, "-m", "simulate", "run", "--target", url, "--scenario", "chat"]
    cmd += ["--users", str(users), "--rate", str(rate), "--room-size", str(ROOM_SIZE)]
    cmd += ["--duration", f"{seconds}s", "--ramp", "2s", "--out", str(out), "--quiet"]
    done, cpu = run_child(cmd, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"fleet failed:\n{done.stdout}\n{done.stderr}")
    [run] = list(out.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    meta = json.loads((run / "meta.json").read_text())
    delivery = json.loads((run / "delivery.json").read_text())
    totals = summary["totals"]
    echo = summary["events"].get("chat.echo", {})
    return {
        "cmd": " ".join(cmd),
        "users": users,
        "sent": totals["sent"],
        "received": totals["received"],
        "cpu_s": cpu,
        "seconds": seconds,
        "peak_cpu": meta["generator_peak_cpu_percent"],
        "saturated": meta["generator_saturated"],
        "lost": delivery["totals"]["lost"],
        "expected": delivery["totals"]["expected"],
        "p50_ms": echo.get("p50_ms"),
        "p99_ms": echo.get("p99_ms"),
    }


def run_locust(workdir: Path, url: str, users: int, rate: float, seconds: int) -> dict[str, Any]:
    locustfile = workdir / "chat_locustfile.py"
    locustfile.write_text(textwrap.dedent(LOCUSTFILE.format(rate=rate, room_size=ROOM_SIZE)))
    prefix = workdir / "locust"
    locust = str(Path(PYTHON).with_name("locust"))
    cmd = [locust, "-f", str(locustfile), "--headless", "-u", str(users)]
    cmd += ["-r", str(max(1, users // 2)), "-t", f"{seconds}s", "-H", url]
    cmd += ["--csv", str(prefix), "--only-summary", "--stop-timeout", "5", "--loglevel", "ERROR"]
    done, cpu = run_child(cmd, timeout=seconds + 120, preexec_fn=_raise_fd_limit)
    counts = {}
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            counts[(row["Type"], row["Name"])] = int(row["Request Count"])
    return {
        "cmd": " ".join(cmd),
        "users": users,
        "sent": counts.get(("WSE", "send-message"), 0),
        "received": counts.get(("WSR", "receive-message"), 0),
        "connects": counts.get(("WS", "connect"), 0),
        "cpu_s": cpu,
        "seconds": seconds,
        "returncode": done.returncode,
        "stderr_tail": done.stderr[-500:],
    }


# ------------------------------------------------------------------ connection probe
def run_probe(url: str, connections: int) -> dict[str, Any]:
    cmd = [PYTHON, "-m", "benchmarks.fleet_bench", "--probe", url, str(connections)]
    done, cpu = run_child(cmd, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"probe failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["cpu_s"] = cpu
    return result


def _probe_child(url: str, wanted: int) -> int:
    """Open `wanted` idle connections (at most 200 connecting at once), hold them, measure."""
    import psutil
    import trio

    from simulate.client import SocketIOClient
    from simulate.fleet import raise_fd_limit

    soft, _ = raise_fd_limit()
    target = min(wanted, soft - 64)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    clients: list[SocketIOClient] = []
    failures: dict[str, int] = {}

    async def hold_one(nursery: trio.Nursery, index: int, limiter: trio.CapacityLimiter) -> None:
        client = SocketIOClient(url, auth={"userId": f"probe{index}"}, reconnect=False)
        async with limiter:
            try:
                await nursery.start(client.run)
            except Exception as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return
        clients.append(client)

    async def probe() -> dict[str, Any]:
        began = time.monotonic()
        async with trio.open_nursery() as nursery:
            limiter = trio.CapacityLimiter(200)
            with trio.move_on_after(300):
                async with trio.open_nursery() as openers:
                    for index in range(target):
                        openers.start_soon(hold_one, nursery, index, limiter)
            opened_in = time.monotonic() - began
            await trio.sleep(5)  # hold them idle a while
            held = sum(1 for c in clients if c.connected)
            rss = process.memory_info().rss
            nursery.cancel_scope.cancel()
        return {
            "wanted": wanted,
            "attempted": target,
            "opened": len(clients),
            "held": held,
            "failures": failures,
            "open_seconds": round(opened_in, 2),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_mb": round(rss / 2**20, 1),
            "rss_per_connection_kb": round((rss - rss_before) / max(1, held) / 1024, 1),
        }

    print(json.dumps(trio.run(probe)))
    return 0


# ------------------------------------------------------------------ output
def print_comparison(
    args: argparse.Namespace, fleet: dict[str, Any], locust: dict[str, Any]
) -> None:
    print(
        f"\n== chat load: {args.users} users, rooms of {ROOM_SIZE}, {args.rate}/s each, "
        f"{args.seconds}s =="
    )
    ratios = []
    for name, r in (("trio fleet", fleet), ("locust", locust)):
        msgs = r["sent"] + r["received"]
        per_cpu = msgs / r["cpu_s"] if r["cpu_s"] else 0.0
        ratios.append(per_cpu)
        print(
            f"{name:10}  sent {r['sent']:>8}  received {r['received']:>9}  "
            f"({msgs / r['seconds']:>8.0f} msgs/s)  cpu {r['cpu_s']:6.2f}s  "
            f"-> {per_cpu:>8.0f} msgs per CPU-second"
        )
        print(f"            {r['cmd']}")
    print(f"fleet p50/p99 echo {fleet['p50_ms']}/{fleet['p99_ms']} ms, lost {fleet['lost']}")
    if locust["returncode"] not in (0, 1):
        print(f"locust exit code {locust['returncode']}: {locust['stderr_tail']}")
    ratio = ratios[0] / ratios[1] if ratios[1] else float("inf")
    verdict = "MET" if ratio >= 3 else "NOT MET"
    print(f"ratio fleet/locust per CPU-second: {ratio:.1f}x  (target >= 3x: {verdict})")


def print_sustained(args: argparse.Namespace, heavy: dict[str, Any]) -> None:
    msgs = heavy["sent"] + heavy["received"]
    print(f"\n== one fleet process, {heavy['users']} users at 1/s, {args.seconds}s ==")
    print(
        f"sent {heavy['sent'] / heavy['seconds']:.0f}/s, received "
        f"{heavy['received'] / heavy['seconds']:.0f}/s, {msgs / heavy['cpu_s']:.0f} msgs per "
        f"CPU-second; peak CPU {heavy['peak_cpu']}%, saturated {heavy['saturated']}; "
        f"lost {heavy['lost']} of {heavy['expected']}; echo p50/p99 "
        f"{heavy['p50_ms']}/{heavy['p99_ms']} ms"
    )


def print_probe(args: argparse.Namespace, probe: dict[str, Any], server_pid: int) -> None:
    print(f"\n== connection probe: up to {args.connections} idle connections in one process ==")
    print(
        f"held {probe['held']} of {probe['attempted']} attempted (opened {probe['opened']} in "
        f"{probe['open_seconds']}s, failures {probe['failures']}); RSS {probe['rss_mb']} MB, "
        f"{probe['rss_per_connection_kb']} KB per connection"
    )
    verdict = "MET" if probe["held"] >= 10_000 else "NOT MET"
    print(f"target >= 10,000 connections in one process: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
