"""Servers `make loadtest TARGET=name` can start by name, and how to watch what they cost.

`rtlab` (our reference server), `tutorial-node` (the tutorial's handlers on
npm socket.io) and `tutorial-python` (the same on python-socketio under
uvicorn; benchmarks/peers/) each start on a free loopback port, are waited
for until they answer HTTP, and are always stopped (SIGINT, SIGTERM, then
SIGKILL: bounded). `ServerMeter` samples a started server's CPU and RSS
while a load runs (psutil), so a comparison can say what each server spent
— numbers that only mean something for a server on this host.

Pinning: on a host with at least two cores the comparison puts the server
on core 0 and the load generator on core 1 (`cpu_affinity`), so the two do
not take turns on one core and the figures are each one's own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 20.0
STOP_GRACE_S = 10.0
METER_INTERVAL_S = 0.5


class TargetError(RuntimeError):
    """A bundled server that could not start (its log's tail is in the message)."""


@dataclass(frozen=True, slots=True)
class BundledTarget:
    name: str
    description: str
    health_path: str  # answered with 200 once the server listens

    def command(self, port: int, workdir: Path) -> list[str]:
        if self.name == "rtlab":
            db = workdir / f"rtlab-{port}.sqlite3"
            command = [sys.executable, "-m", "server", "--host", "127.0.0.1"]
            return [*command, "--port", str(port), "--db", str(db)]
        if self.name == "tutorial-node":
            node = shutil.which("node")
            if node is None:
                raise TargetError("tutorial-node needs node (Node.js 20) on PATH")
            if not (ROOT / "node_modules" / "socket.io").is_dir():
                raise TargetError("tutorial-node needs the npm package socket.io: run `make node`")
            return [node, str(ROOT / "benchmarks" / "peers" / "tutorial_node.mjs"), str(port)]
        return [sys.executable, "-m", "benchmarks.peers.tutorial_python", "--port", str(port)]


BUNDLED: dict[str, BundledTarget] = {
    t.name: t
    for t in (
        BundledTarget("rtlab", "rtlab's reference server (trio)", "/healthz"),
        BundledTarget("tutorial-node", "the tutorial's handlers on npm socket.io 4.8", "/"),
        BundledTarget(
            "tutorial-python", "the tutorial's handlers on python-socketio + uvicorn", "/"
        ),
    )
}


@dataclass
class RunningTarget:
    name: str
    url: str  # ws://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log_path: Path
    command: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_cores() -> bool:
    return (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")


def pin(pid: int, cores: list[int] | None) -> None:
    """Keep a process (and the threads and children it starts later) on `cores`."""
    if cores:
        with contextlib.suppress(psutil.Error, OSError):
            psutil.Process(pid).cpu_affinity(cores)


@contextlib.contextmanager
def start_bundled(
    name: str,
    workdir: Path,
    cores: list[int] | None = None,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[RunningTarget]:
    """Start a bundled server on a free loopback port; stop it when the block ends."""
    target = BUNDLED[name]
    port = free_port()
    log_path = workdir / f"{name}-{port}.log"
    command = [*target.command(port, workdir), *extra_args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    pin(proc.pid, cores)
    try:
        wait_ready(f"http://127.0.0.1:{port}{target.health_path}", proc, log_path, name)
        yield RunningTarget(name, f"ws://127.0.0.1:{port}", proc, log_path, command)
    finally:
        stop_process(proc)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"{name} exited early (code {proc.returncode}):\n{tail(log_path)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.1)
    stop_process(proc)
    raise TargetError(f"{name} did not answer {url} within {READY_TIMEOUT_S:g}s:\n{tail(log_path)}")


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGINT first, SIGTERM, then SIGKILL: always bounded."""
    for sig, wait_s in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGTERM, 5.0), (None, 5.0)):
        if proc.poll() is not None:
            return
        if sig is None:
            proc.kill()
        else:
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


class ServerMeter:
    """CPU and RSS of one local server process while a load runs (a sampling thread)."""

    def __init__(self, pid: int, interval_s: float = METER_INTERVAL_S) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (cpu % of a core, rss MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-meter", daemon=True)
        self._cpu_start = 0.0
        self._cpu_end = 0.0
        self._wall_start = 0.0
        self._wall_end = 0.0

    def __enter__(self) -> ServerMeter:
        self._cpu_start = self._cpu_seconds()
        self._wall_start = time.monotonic()
        self.process.cpu_percent(None)  # the first call only primes the counter
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._cpu_end = self._cpu_seconds()
        self._wall_end = time.monotonic()

    def _cpu_seconds(self) -> float:
        with contextlib.suppress(psutil.Error):
            times = self.process.cpu_times()
            return float(times.user + times.system)
        return self._cpu_end or self._cpu_start

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                cpu = self.process.cpu_percent(None)
                rss = self.process.memory_info().rss / 2**20
            except psutil.Error:
                return
            self.samples.append((cpu, rss))

    def summary(self) -> dict[str, Any]:
        """server.json's `usage`: CPU seconds and mean/peak CPU %, peak and last RSS."""
        wall = max(1e-9, self._wall_end - self._wall_start)
        cpu_s = max(0.0, self._cpu_end - self._cpu_start)
        cpus = [c for c, _ in self.samples]
        rss = [r for _, r in self.samples]
        return {
            "cpu_seconds": round(cpu_s, 3),
            "cpu_mean_percent": round(100 * cpu_s / wall, 1),
            "cpu_peak_percent": round(max(cpus), 1) if cpus else None,
            "rss_peak_mib": round(max(rss), 1) if rss else None,
            "rss_last_mib": round(rss[-1], 1) if rss else None,
            "samples": len(self.samples),
            "wall_seconds": round(wall, 3),
        }
