"""The keystroke path compiled with mypyc, used only when built from the source beside it.

Why: Fugue's element list (`run_sequence`), the relay's keystroke ops
(`keystrokes`) and a replica's local edits (`local_edits`) are plain typed
Python, tuned bytecode by bytecode, and that is where a live document spends
its time (the binary encoding, `run_encoding`, is where a load spends it).
mypyc, which ships with mypy, compiles the same source, unchanged, to a C
extension: on the automerge-paper trace the replica goes from about 1.5x
Loro's time to below it (`benchmarks.trace_bench`, which prints both). The
source stays the only definition: there is no second implementation to keep
in step, and the tests run against whichever is loaded.

How: `python -m server.collab.native_build` (`make native`, which `make test` and
`make bench` run) builds the modules into `build/native/server/collab/` with
a manifest holding a digest of their sources. On import, `server.collab`
puts that directory first on its `__path__` only when the manifest's digest
matches the sources here now, so a build older than an edit is never loaded
(Python would otherwise prefer a stale extension to the edited `.py`).
`RTLAB_NATIVE=0` turns the compiled build off: everything then runs as
plain Python, slower and otherwise identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: the modules compiled, all in this package: plain functions and classes that no interpreted
#: class subclasses (a compiled class cannot be subclassed by interpreted code)
COMPILED = ("run_sequence", "keystrokes", "local_edits", "run_encoding", "integration")
SOURCE_DIR = Path(__file__).resolve().parent
BUILD_ROOT = SOURCE_DIR.parents[1] / "build" / "native"
PACKAGE = ("server", "collab")
MANIFEST = "manifest.json"
SWITCH = "RTLAB_NATIVE"  # "0": plain Python even when a current build exists


@dataclass(frozen=True)
class NativeStatus:
    """Whether the compiled modules are in use, and why (or why not)."""

    active: bool
    reason: str
    directory: Path

    def describe(self) -> str:
        return f"compiled ({self.reason})" if self.active else f"plain Python ({self.reason})"


def source_digest(source_dir: Path = SOURCE_DIR) -> str:
    """sha256 over the compiled modules' sources and the interpreter that builds them."""
    digest = hashlib.sha256(f"{sys.implementation.cache_tag}\0".encode())
    for name in COMPILED:
        digest.update(f"{name}\0".encode())
        digest.update((source_dir / f"{name}.py").read_bytes())
    return digest.hexdigest()


def package_dir(build_root: Path) -> Path:
    return build_root.joinpath(*PACKAGE)


def inspect(
    build_root: Path = BUILD_ROOT,
    source_dir: Path = SOURCE_DIR,
    environ: Mapping[str, str] = os.environ,
) -> NativeStatus:
    """Is there a build of exactly these sources, for this interpreter, and is it wanted?"""
    directory = package_dir(build_root)
    if environ.get(SWITCH, "1") == "0":
        return NativeStatus(False, f"{SWITCH}=0", directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return NativeStatus(False, "not built: make native", directory)
    if not isinstance(manifest, dict) or manifest.get("digest") != source_digest(source_dir):
        return NativeStatus(False, "stale: sources changed since the build; make native", directory)
    suffix = EXTENSION_SUFFIXES[0]
    missing = [name for name in COMPILED if not (directory / f"{name}{suffix}").is_file()]
    if missing:
        return NativeStatus(False, f"incomplete build: no {', '.join(missing)}", directory)
    return NativeStatus(True, f"mypyc {manifest.get('mypyc', '?')}", directory)


def search_path(package_path: list[str], status: NativeStatus) -> list[str]:
    """The package's `__path__`, with the build directory first when the build is in use."""
    if not status.active:
        return list(package_path)
    return [str(status.directory), *package_path]


STATUS = inspect()
