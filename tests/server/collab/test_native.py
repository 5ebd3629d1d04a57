"""The compiled keystroke path: loaded only when current, and the same behaviour either way.

`make test` builds it first (`make native`), so this run's other tests
exercise the compiled modules; the last test here runs the sequence CRDT
tests again as plain Python. `RTLAB_NATIVE=0 make test` runs everything as
plain Python (then the build is not expected).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import server.collab.keystrokes
import server.collab.local_edits
import server.collab.run_sequence
from server.collab import native
from server.collab.base import CollabError
from server.collab.run_encoding import decode_runs
from server.collab.run_sequence import RunSequence

ROOT = Path(__file__).resolve().parents[3]
WANTED = os.environ.get(native.SWITCH, "1") != "0"


@pytest.mark.skipif(not WANTED, reason=f"{native.SWITCH}=0: plain Python by request")
def test_this_run_uses_the_compiled_keystroke_path() -> None:
    status = native.STATUS
    assert status.active, f"{status.describe()}: run `make native` (or set {native.SWITCH}=0)"
    for module in (server.collab.run_sequence, server.collab.keystrokes, server.collab.local_edits):
        # (mypyc may name a module's file after the group library's folder: compare the prefix)
        assert module.__file__ is not None and module.__file__.endswith(EXTENSION_SUFFIXES[0])
        assert Path(module.__file__).is_relative_to(status.directory)
    # compiled functions are builtins, not Python functions with bytecode
    assert not isinstance(server.collab.keystrokes.typing_on, types.FunctionType)
    assert not hasattr(server.collab.run_sequence.RunSequence.local_insert, "__code__")


def _fake_build(root: Path, source: Path) -> Path:
    """A build directory of the right shape for `source` (empty files stand in for modules)."""
    directory = native.package_dir(root)
    directory.mkdir(parents=True)
    for name in native.COMPILED:
        (directory / f"{name}{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    manifest = {"digest": native.source_digest(source), "mypyc": "test"}
    (directory / native.MANIFEST).write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in native.COMPILED:
        shutil.copy(native.SOURCE_DIR / f"{name}.py", source)
    return source


def test_a_build_of_the_current_sources_goes_first_on_the_package_path(
    tmp_path: Path, sources: Path
) -> None:
    directory = _fake_build(tmp_path / "build", sources)
    status = native.inspect(tmp_path / "build", sources, environ={})
    assert status.active and status.reason == "mypyc test"
    assert native.search_path(["/pkg"], status) == [str(directory), "/pkg"]


def test_an_edit_after_the_build_makes_it_stale_and_unused(tmp_path: Path, sources: Path) -> None:
    _fake_build(tmp_path / "build", sources)
    with (sources / "run_sequence.py").open("a") as source:
        source.write("\n# edited after the build\n")
    status = native.inspect(tmp_path / "build", sources, environ={})
    assert not status.active and status.reason.startswith("stale")
    assert native.search_path(["/pkg"], status) == ["/pkg"]


def test_missing_or_incomplete_builds_and_the_switch_are_refused(
    tmp_path: Path, sources: Path
) -> None:
    assert native.inspect(tmp_path / "none", sources, environ={}).reason.startswith("not built")
    directory = _fake_build(tmp_path / "build", sources)
    assert not native.inspect(tmp_path / "build", sources, environ={native.SWITCH: "0"}).active
    (directory / f"local_edits{EXTENSION_SUFFIXES[0]}").unlink()
    status = native.inspect(tmp_path / "build", sources, environ={})
    assert not status.active and status.reason == "incomplete build: no local_edits"
    (directory / native.MANIFEST).write_text("{not json")
    assert native.inspect(tmp_path / "build", sources, environ={}).reason.startswith("not built")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"replicas": ["a"], "runs": [[0, 2, "x", None, None, 2]]}, "holes or overlaps"),
        (
            {"replicas": ["a"], "runs": [[0, 0, "xy", None, None, 0], [0, 1, "x", None, None, 1]]},
            "holes or overlaps",
        ),
        ({"replicas": ["a"], "runs": [[1, 0, "x", None, None, 0]]}, "bad run"),
        ({"replicas": ["a"], "runs": [[-1, 0, "x", None, None, 0]]}, "bad run"),
        ({"replicas": ["a"], "runs": [[0, 0, "x", [0, 5], None, 0]]}, "origin is not in"),
        ({"replicas": ["a"], "runs": [[0, 0, "x", None, [3, 0], 0]]}, "origin is not in"),
        ({"replicas": ["a"], "runs": [[0, 0, 1.5, None, None, 0]]}, "expected an integer"),
        ({"replicas": ["a"], "runs": [[0, "0", "x", None, None, 0]]}, "expected an integer"),
        ({"replicas": ["a"], "runs": [[0, 0, True, None, None, 0]]}, "expected an integer"),
    ],
)
def test_inconsistent_states_are_refused_with_a_reason(state: object, reason: str) -> None:
    """Compiled, a hole once surfaced as a bare TypeError (None in a typed id table)."""
    with pytest.raises(CollabError, match=reason) as caught:
        RunSequence.decode_state(state)
    assert caught.value.code == "bad_request"


def test_a_binary_encoding_with_a_hole_is_refused() -> None:
    core = RunSequence()
    rid = core.replica_index("a")
    core.local_insert(rid, 0, 0, "hello", 0, True)
    state = core.encode_state()
    state["runs"][0][1] = 1  # ids 1..5: id 0 is missing
    with pytest.raises(CollabError, match="holes"):
        RunSequence.decode_state(state)
    with pytest.raises(CollabError):
        decode_runs(b"not runs")


def test_a_failed_build_leaves_nothing_that_would_load(
    tmp_path: Path, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No C compiler: mypyc generates the C, the compile fails, nothing half-built loads."""
    from server.collab import native_build

    root = tmp_path / "build" / "native"
    manifest = _fake_build(root, sources) / native.MANIFEST
    manifest.write_text(json.dumps({"digest": "0" * 64}))  # built from older sources
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    with pytest.raises((Exception, SystemExit)) as failure:
        native_build.build(root, native.SOURCE_DIR)
    assert "no-such-compiler" in str(failure.value) or "exit status" in str(failure.value)
    assert list((tmp_path / "build").iterdir()) == [root], "a scratch directory was left"
    assert native.inspect(root, native.SOURCE_DIR, environ={}).reason.startswith("stale")


def test_the_build_is_skipped_when_plain_python_is_asked_for(tmp_path: Path) -> None:
    """`RTLAB_NATIVE=0 make test` must work on a machine without a C compiler."""
    env = {**os.environ, native.SWITCH: "0", "CC": str(tmp_path / "no-such-compiler")}
    run = subprocess.run(
        [sys.executable, "-m", "server.collab.native_build"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "not built (RTLAB_NATIVE=0)" in run.stdout


def test_the_sequence_crdt_tests_pass_as_plain_python_too() -> None:
    """Same source, other build: whichever is loaded, the behaviour must be the same."""
    env = {**os.environ, native.SWITCH: "0"}
    tests = [
        "tests/server/collab/test_fugue.py",
        "tests/server/collab/test_encoding.py",
        "tests/server/collab/test_strategies.py",
        "tests/simulate/test_interleaving_cases.py",
    ]
    probe = subprocess.run(
        [sys.executable, "-m", "server.collab.native_build", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "plain Python (RTLAB_NATIVE=0)" in probe.stdout
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
