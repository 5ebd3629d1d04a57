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
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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


def start_server(port: int, db: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--db", db, "--log-level", "WARNING"],
        cwd=ROOT,
    )
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


def run_scenario(name: str, rooms: int, per_room: int, senders: int, rate: float, seconds: float):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(port, str(Path(tmp) / "bench.sqlite3"))
        try:
            rss_before = rss_bytes(server.pid)
            driver = subprocess.Popen(
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
    result = json.loads(out.decode().strip().splitlines()[-1])
    clients = result["clients"]
    result.update(
        scenario=name,
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
    args = p.parse_args(argv)
    scenarios = {
        "F": (5, 20, 20, args.rate_f),
        "R": (1, 500, 50, args.rate_r),
    }
    rows = []
    for name, (rooms, per_room, senders, rate) in scenarios.items():
        if args.only and name != args.only:
            continue
        rows.append(run_scenario(name, rooms, per_room, senders, rate, args.seconds))
    print(
        f"{'scen':4} {'clients':>7} {'sent':>7} {'delivered':>9} {'lost':>6} {'deliv/s':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'srv CPU s':>9} {'µs/deliv':>8} {'KiB/conn':>8} "
        f"{'drv CPU s':>9}"
    )
    for r in rows:
        print(
            f"{r['scenario']:4} {r['clients']:7d} {r['sent']:7d} {r['received']:9d} {r['lost']:6d} "
            f"{r['deliveries_per_s']:9.0f} {r['p50_ms'] or 0:7.1f} {r['p99_ms'] or 0:7.1f} "
            f"{r['server_cpu_s']:9.2f} {r['cpu_us_per_delivery']:8.2f} "
            f"{r['kib_per_connection']:8.1f} {r['driver_cpu_s']:9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
