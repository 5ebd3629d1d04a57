"""WebSocket broadcast benchmark: deliveries/s, latency and server CPU per delivery.

Scenarios from the reference-server issue, driven by a Node `ws` driver
(benchmarks/node/ws_driver.mjs) against `python -m server` in its own
process, both on 127.0.0.1:

  F  5 rooms x 20 clients, every client sends
  R  1 room of 500 clients, 50 senders

Server CPU comes from /proc/<pid>/stat (user+system) from the moment every
client has joined to the end of the run (sending window plus a 1.5 s drain),
so "µs per delivery" is server CPU time / messages delivered.
This prints figures; it asserts nothing.

    python -m benchmarks.ws_bench [--seconds 5] [--rate-f 100] [--rate-r 10]

Before/after in one run: `--baseline PATH` runs the same scenarios against the
server of another checkout (e.g. `git worktree add /tmp/base <commit>`), round
after round (`--rounds N`), alternating, so that both see the same machine;
`--pin` puts the server on core 0 and the driver on core 1 (taskset), so that
neither steals the other's CPU. The summary gives each side's median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "benchmarks" / "node" / "ws_driver.mjs"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pinned(command: list[str], core: int | None) -> list[str]:
    return command if core is None else ["taskset", "-c", str(core), *command]


def start_server(
    port: int, db: str, tree: Path = ROOT, core: int | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "server", "--port", str(port), "--db", db]
    proc = subprocess.Popen(pinned([*command, "--log-level", "WARNING"], core), cwd=tree)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_scenario(
    name: str,
    rooms: int,
    per_room: int,
    senders: int,
    rate: float,
    seconds: float,
    tree: Path = ROOT,
    pin: bool = False,
) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(port, str(Path(tmp) / "bench.sqlite3"), tree, 0 if pin else None)
        try:
            rss_before = rss_bytes(server.pid)
            driver = subprocess.Popen(
                pinned(
                    [
                        "node",
                        str(DRIVER),
                        f"http://127.0.0.1:{port}",
                        str(rooms),
                        str(per_room),
                        str(senders),
                        str(rate),
                        str(seconds),
                    ],
                    1 if pin else None,
                ),
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            # Server CPU is sampled over the sending window only: the connect phase (a
            # join storm whose membership broadcasts grow with the room) is not a delivery.
            assert driver.stdout is not None
            first = driver.stdout.readline().decode().strip()
            if first != "ready":
                raise RuntimeError(f"driver failed before sending: {first}")
            cpu_before = cpu_seconds(server.pid)
            out = driver.stdout.read()
            driver.wait(timeout=seconds + 120)
            cpu_after = cpu_seconds(server.pid)
            rss_after = rss_bytes(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    clients = result["clients"]
    result.update(
        scenario=name,
        tree=str(tree),
        deliveries_per_s=result["received"] / seconds,
        server_cpu_s=cpu_after - cpu_before,
        cpu_us_per_delivery=(cpu_after - cpu_before) * 1e6 / max(1, result["received"]),
        kib_per_connection=(rss_after - rss_before) / 1024 / max(1, clients),
        lost=result["expected"] - result["received"],
    )
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rate-f", type=float, default=100.0, help="messages/s per sender in F")
    p.add_argument("--rate-r", type=float, default=10.0, help="messages/s per sender in R")
    p.add_argument("--only", choices=["F", "R"])
    p.add_argument("--pin", action="store_true", help="server on core 0, driver on core 1")
    p.add_argument("--baseline", type=Path, help="another checkout's server, measured in turn")
    p.add_argument("--rounds", type=int, default=1, help="rounds (with --baseline: alternating)")
    args = p.parse_args(argv)
    scenarios = {
        "F": (5, 20, 20, args.rate_f),
        "R": (1, 500, 50, args.rate_r),
    }
    trees = [ROOT] if args.baseline is None else [args.baseline.resolve(), ROOT]
    rows = []
    for _ in range(max(1, args.rounds)):
        for name, (rooms, per_room, senders, rate) in scenarios.items():
            if args.only and name != args.only:
                continue
            for tree in trees:
                rows.append(
                    run_scenario(name, rooms, per_room, senders, rate, args.seconds, tree, args.pin)
                )
    print(
        f"{'scen':4} {'tree':10} {'clients':>7} {'sent':>7} {'delivered':>9} {'lost':>6} "
        f"{'deliv/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'srv CPU s':>9} {'µs/deliv':>8} "
        f"{'KiB/conn':>8} {'drv CPU s':>9}"
    )
    for r in rows:
        print(
            f"{r['scenario']:4} {_label(r['tree'], args.baseline):10} {r['clients']:7d} "
            f"{r['sent']:7d} {r['received']:9d} {r['lost']:6d} "
            f"{r['deliveries_per_s']:9.0f} {r['p50_ms'] or 0:7.1f} {r['p99_ms'] or 0:7.1f} "
            f"{r['server_cpu_s']:9.2f} {r['cpu_us_per_delivery']:8.2f} "
            f"{r['kib_per_connection']:8.1f} {r['driver_cpu_s']:9.2f}"
        )
    if len(rows) > 1:
        print("\nmedians (µs server CPU per delivery; deliveries/s)")
        for name in scenarios:
            for tree in trees:
                mine = [r for r in rows if r["scenario"] == name and r["tree"] == str(tree)]
                if mine:
                    us = statistics.median(r["cpu_us_per_delivery"] for r in mine)
                    rate = statistics.median(r["deliveries_per_s"] for r in mine)
                    label = _label(str(tree), args.baseline)
                    print(f"  {name} {label:10} {us:6.2f} µs  {rate:9.0f}/s  ({len(mine)} runs)")
    return 0


def _label(tree: str, baseline: Path | None) -> str:
    return "baseline" if baseline is not None and tree == str(baseline.resolve()) else "this"


if __name__ == "__main__":
    sys.exit(main())
