"""Versions of what a bundled server runs on, for server.json and the comparison report."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import platform
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target_versions(name: str) -> dict[str, str | None]:
    if name == "tutorial-node":
        return {"node": _node_version(), "socket.io": _npm_version("socket.io")}
    packages: tuple[str, ...] = ("python-socketio", "python-engineio", "uvicorn")
    if name == "rtlab":
        packages = ("rtlab", "trio")
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def _node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
        return result.stdout.strip() or None
    return None


def _npm_version(package: str) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((ROOT / "node_modules" / package / "package.json").read_text())
        return str(manifest.get("version"))
    return None
