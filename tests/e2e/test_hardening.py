"""What hostile or broken clients must not be able to do to the server (found in review).

Every test uses a real server process on 127.0.0.1 and clients that speak
the wire protocol directly (requests-free HTTP via urllib, websocket-client).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import websocket

WAIT = 5.0


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _post(url: str, body: str) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _ws(server, query: str = "") -> websocket.WebSocket:
    ws = websocket.create_connection(
        f"{server.ws_url}/socket.io/?EIO=4&transport=websocket{query}", timeout=WAIT
    )
    return ws


def _recv_text(ws: websocket.WebSocket) -> str:
    data = ws.recv()
    assert isinstance(data, str), data
    return data


def _handshake(ws: websocket.WebSocket) -> None:
    assert _recv_text(ws).startswith("0{")
    ws.send("40")
    assert _recv_text(ws).startswith("40{")


def _until_closed(ws: websocket.WebSocket, timeout: float = WAIT) -> bool:
    ws.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not ws.recv():
                return True
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True
    except websocket.WebSocketTimeoutException:
        return False
    return False


def test_non_finite_numbers_close_only_the_sender_and_never_the_server(server_process):
    """`1e999` parses as inf, which no encoder sends on; it once crashed the whole process."""
    bad = _ws(server_process)
    _handshake(bad)
    bad.send('421["measure-rtt"]')
    probe = bad.recv()
    assert probe.startswith('420["rtt-probe"')  # the server asks us to ack (id 0)
    bad.send("430[1e999]")
    assert _until_closed(bad)
    good = _ws(server_process)
    _handshake(good)
    good.send('421["join-room","r","ann"]')
    assert json.loads(good.recv()[3:])[0]["ok"] is True
    assert server_process.proc.poll() is None
    assert server_process.health()["status"] == "ok"


def test_a_second_concurrent_poll_gets_400_and_ends_the_session(server_process):
    base = f"{server_process.url}/socket.io/?EIO=4&transport=polling"
    status, body = _get(base)
    sid = json.loads(body[1:])["sid"]
    assert _post(f"{base}&sid={sid}", "40")[0] == 200
    assert _get(f"{base}&sid={sid}")[1].startswith("40")  # the CONNECT answer
    first: dict[str, object] = {}
    waiter = threading.Thread(target=lambda: first.update(r=_get(f"{base}&sid={sid}", 10)))
    waiter.start()
    time.sleep(0.3)
    status, body = _get(f"{base}&sid={sid}")
    assert status == 400 and json.loads(body)["code"] == 3
    waiter.join(timeout=WAIT)
    assert not waiter.is_alive()  # the pending poll was released (with a close packet)
    assert _get(f"{base}&sid={sid}")[0] == 400  # the session is gone
    assert server_process.health()["sessions"] == 0


def test_an_upgrade_socket_that_never_probes_is_closed(server_factory):
    server = server_factory("--ping-interval", "1", "--ping-timeout", "0.5")
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    sid = json.loads(_get(base)[1][1:])["sid"]
    orphan = _ws(server, f"&sid={sid}")
    assert _until_closed(orphan, timeout=3.0)


def test_a_session_that_never_connects_a_namespace_is_dropped(server_factory):
    server = server_factory(
        "--ping-interval", "0.3", "--ping-timeout", "5", "--connect-timeout", "0.5"
    )
    ws = _ws(server)
    assert ws.recv().startswith("0{")  # the Engine.IO handshake, then silence
    assert _until_closed(ws, timeout=4.0)


def test_made_up_event_names_do_not_grow_the_servers_counters(server_factory):
    """Each unknown name once had its own counter (and dashboard entry): a memory leak."""
    server = server_factory("--dashboard-interval", "0.1")
    watcher = _ws(server)
    _handshake(watcher)
    watcher.send('421["subscribe-dashboard","server"]')
    flooder = _ws(server)
    _handshake(flooder)
    for i in range(200):
        flooder.send(f'42["made-up-{i}-{"x" * 2000}"]')
    names: set[str] = set()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and "<unknown>" not in names:
        message = watcher.recv()
        if message.startswith('42["dashboard-update"'):
            names |= set(json.loads(message[2:])[1]["metrics"]["events_in_per_s"])
    assert "<unknown>" in names
    assert not any(name.startswith("made-up") for name in names), names


def test_wildcard_cors_answers_star_without_credentials(server_process):
    req = urllib.request.Request(
        f"{server_process.url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "http://localhost:3000"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["access-control-allow-origin"] == "*"
        assert resp.headers.get("access-control-allow-credentials") is None


def test_sigterm_and_sigint_shut_the_server_down_cleanly(server_factory):
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        server = server_factory()
        ws = _ws(server)
        _handshake(ws)
        server.proc.send_signal(signum)
        assert server.proc.wait(timeout=10) == 0
        assert "shutting down" in server.log() and "Traceback" not in server.log()
        assert _until_closed(ws)
