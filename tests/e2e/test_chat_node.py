"""The tutorial's chat flow with the npm socket.io-client (the client the tutorial uses).

`tests/e2e/node/chat_flow.mjs` does the talking (see its header); this test runs it
against a real server and checks the JSON it prints. Skipped only when node or
the npm package is not installed (CI installs both).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from tests.conftest import ROOT

NODE = shutil.which("node")
SCRIPT = ROOT / "tests" / "e2e" / "node" / "chat_flow.mjs"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE is None, reason="node is not installed (needed for socket.io-client)"),
    pytest.mark.skipif(
        not (ROOT / "node_modules" / "socket.io-client").is_dir(),
        reason="npm package socket.io-client is not installed in node_modules (run make)",
    ),
]


def run_flow(url: str, *namespaces: str) -> dict:
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(SCRIPT), url, *namespaces],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (
        f"chat_flow.mjs failed (exit {proc.returncode})\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    )
    assert lines, f"no JSON from chat_flow.mjs\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return json.loads(lines[-1])


def _ids(users: list[dict]) -> list[str]:
    return sorted(u["id"] for u in users)


def test_tutorial_chat_flow_with_npm_client(server_process) -> None:
    out = run_flow(server_process.url, "/api/socket", "/")
    assert out["ok"] is True
    assert set(out["results"]) == {"/api/socket", "/"}
    for namespace, result in out["results"].items():
        assert result["namespace"] == namespace
        assert result["transport"] == "websocket"
        assert result["userJoined"]["userId"] == "bob"
        assert _ids(result["userJoined"]["users"]) == ["alice", "bob"]
        message = result["message"]
        assert message["userId"] == "alice"
        assert message["text"] == "hello from node ✓"
        assert isinstance(message["seq"], int)
        assert result["typing"] == "bob"
        for key in ("userLeftOnLeave", "userLeftOnDisconnect"):
            payload = result[key]
            assert payload["userId"] == "bob"
            assert _ids(payload["users"]) == ["alice"]
            [alice] = payload["users"]
            assert set(alice) >= {"id", "name", "status", "lastSeen"}
            assert alice["name"] == "Alice"
            assert alice["status"] == "online"
    # the server saw every client go away
    deadline = time.monotonic() + 5
    while server_process.health()["connections"] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_process.health()["connections"] == 0


def test_npm_client_rejected_on_unknown_namespace(server_process) -> None:
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(SCRIPT), server_process.url, "/not-served"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] is False
    assert "connect_error" in out["error"]
    assert "Invalid namespace" in out["error"]
