"""One misbehaving client must only ever cost its own connection.

Raw WebSocket clients (websocket-client's `create_connection`) send what no
Socket.IO client would: oversized messages, garbage, binary frames nobody
asked for, a reader that never reads. Meanwhile well-behaved clients keep
chatting, and every one of their messages must arrive.
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

WAIT = 5.0
P99_BOUND_S = 1.0  # slow-reader test: p99 publish-to-delivery latency at a healthy reader


# ------------------------------------------------------------------- helpers


class RawClient:
    """Engine.IO v4 + Socket.IO v5 by hand over one WebSocket (no automatic pong)."""

    def __init__(
        self,
        ws_url: str,
        namespace: str = "/",
        sockopt: tuple[tuple[int, int, int], ...] = (),
        connect: bool = True,
    ) -> None:
        self.ns = namespace
        self.prefix = "" if namespace == "/" else namespace + ","
        self.ws = websocket.create_connection(
            ws_url + "/socket.io/?EIO=4&transport=websocket", timeout=WAIT, sockopt=sockopt
        )
        opening = self.ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{"), opening
        self.open = json.loads(opening[1:])
        self.next_ack = 0
        self.pending: list[str] = []
        if connect:
            self.ws.send("40" + self.prefix)
            reply = self.recv_packet()
            assert reply.startswith("40" + self.prefix), reply

    def recv_packet(self, timeout: float = WAIT, answer_pings: bool = True) -> str:
        """The next Engine.IO text packet other than ping (answered) and noop."""
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.001))
            data = self.ws.recv()
            if data == "2" and answer_pings:
                self.ws.send("3")
                continue
            if data == "":
                raise websocket.WebSocketConnectionClosedException("close frame")
            assert isinstance(data, str), data
            return data

    def call(self, event: str, *args: Any, timeout: float = WAIT) -> Any:
        ack = self.next_ack
        self.next_ack += 1
        self.ws.send(f"42{self.prefix}{ack}" + json.dumps([event, *args]))
        deadline = time.monotonic() + timeout
        head = f"43{self.prefix}{ack}["
        while True:
            packet = self.recv_packet(max(deadline - time.monotonic(), 0.001))
            if packet.startswith(head):
                return json.loads(packet[len(head) - 1 :])[0]
            self.pending.append(packet)

    def emit(self, event: str, *args: Any) -> None:
        self.ws.send(f"42{self.prefix}" + json.dumps([event, *args]))

    def close(self) -> None:
        try:
            self.ws.close(timeout=0.5)
        except Exception:
            self.ws.shutdown()


def wait_closed(client: RawClient, timeout: float = WAIT) -> int | None:
    """Read until the server closes; return the close code (None if the TCP link just ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.ws.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            opcode, frame = client.ws.recv_data_frame(control_frame=True)
        except websocket.WebSocketTimeoutException:
            break
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
    raise AssertionError(f"the server did not close the connection within {timeout}s")


class Chatter:
    """A well-behaved raw client in a room, counting received messages in a thread."""

    def __init__(self, ws_url: str, user: str, room: str) -> None:
        self.user = user
        self.client = RawClient(ws_url)
        reply = self.client.call("join-room", room, user)
        assert reply["ok"] is True, reply
        self.messages: list[dict[str, Any]] = []
        self.arrived: dict[str, float] = {}  # message id -> perf_counter() at arrival
        self.acks: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.client.ws.settimeout(0.2)
        for packet in self.client.pending:
            self._handle(packet)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _handle(self, packet: str) -> None:
        if packet.startswith('42["receive-message",'):
            message = json.loads(packet[2:])[1]
            self.arrived[message["id"]] = time.perf_counter()
            self.messages.append(message)
        elif packet.startswith("43"):
            self.acks.append(json.loads(packet[2:].lstrip("0123456789"))[0])
        else:
            self.other.append(packet)

    def _run(self) -> None:
        ws = self.client.ws
        try:
            while not self.stop.is_set():
                try:
                    data = ws.recv()
                except websocket.WebSocketTimeoutException:
                    continue
                if data == "2":
                    ws.send("3")
                elif data == "":
                    raise ConnectionError("server closed a well-behaved client")
                else:
                    assert isinstance(data, str), data
                    self._handle(data)
        except BaseException as exc:
            if not self.stop.is_set():
                self.error = exc

    def send(self, room: str, text: str, **extra: Any) -> None:
        # explicit unique ids: the server deduplicates retries by (userId, id)
        message = {"id": f"{self.user}:{text}", "userId": self.user, "text": text, **extra}
        self.client.emit("send-message", room, message)

    def wait_count(self, n: int, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline and self.error is None:
            time.sleep(0.01)
        assert self.error is None, f"{self.user}: {self.error!r}"
        assert len(self.messages) >= n, f"{self.user} got {len(self.messages)} of {n} messages"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.client.close()


@pytest.fixture
def chatters() -> Iterator[Any]:
    made: list[Chatter] = []

    def make(ws_url: str, user: str, room: str) -> Chatter:
        chatter = Chatter(ws_url, user, room)
        made.append(chatter)
        return chatter

    yield make
    for chatter in made:
        chatter.close()


def connections_settle(server: Any, expected: int, timeout: float = 2.0) -> int:
    """The server's connection count once it equals `expected` (or whatever it is at timeout).

    A close frame is written before the session's cleanup runs, so a count taken
    right after seeing the close may still include the closed connection.
    """
    deadline = time.monotonic() + timeout
    count = server.health()["connections"]
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        count = server.health()["connections"]
    return count


def http_get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status = exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def assert_exchange(a: Chatter, b: Chatter, room: str, n: int, tag: str) -> None:
    """a and b each send n messages; both must see all 2n, in each sender's order."""
    base_a, base_b = len(a.messages), len(b.messages)
    for i in range(n):
        a.send(room, f"{tag}-a-{i}")
        b.send(room, f"{tag}-b-{i}")
    a.wait_count(base_a + 2 * n)
    b.wait_count(base_b + 2 * n)
    for chatter in (a, b):
        got = [m["text"] for m in chatter.messages if m["text"].startswith(tag + "-")]
        assert [t for t in got if t.startswith(f"{tag}-a-")] == [f"{tag}-a-{i}" for i in range(n)]
        assert [t for t in got if t.startswith(f"{tag}-b-")] == [f"{tag}-b-{i}" for i in range(n)]


# --------------------------------------------------------------- maxPayload


def test_oversized_message_closes_only_that_connection(server_factory, chatters) -> None:
    server = server_factory("--max-payload", "1000")
    a = chatters(server.ws_url, "alice", "big")
    b = chatters(server.ws_url, "bob", "big")
    big = RawClient(server.ws_url)
    assert big.open["maxPayload"] == 1000
    assert big.call("join-room", "big", "mallory")["ok"] is True
    small = json.dumps(["send-message", "big", {"text": "x" * 900}])
    assert len("42" + small) <= 1000
    big.ws.send("42" + small)  # just under the limit: fine
    big.ws.send("42" + json.dumps(["send-message", "big", {"text": "x" * 1200}]))
    code = wait_closed(big)
    assert code in (1009, None), code  # 1009 = message too big
    a.wait_count(1)
    b.wait_count(1)
    assert len(a.messages[0]["text"]) == 900
    assert_exchange(a, b, "big", 20, "after-big")
    assert not any(len(m["text"]) > 1000 for m in a.messages + b.messages)
    deadline = time.monotonic() + WAIT
    while not any("user-left" in p for p in a.other) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = [p for p in a.other if "user-left" in p]
    assert left and json.loads(left[0][2:])[1]["userId"] == "mallory"


def test_oversized_polling_post_closes_only_that_session(server_factory, chatters) -> None:
    server = server_factory("--max-payload", "1000")
    a = chatters(server.ws_url, "alice", "big")
    status, opening = http_get(server.url + "/socket.io/?EIO=4&transport=polling")
    assert status == 200 and opening.startswith("0{")
    sid = json.loads(opening[1:])["sid"]
    url = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    req = urllib.request.Request(url, data=b"4" + b"y" * 2000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=WAIT)
    assert info.value.code == 413
    # the session is gone
    status, body = http_get(url)
    assert status == 400 and body["code"] == 1
    a.send("big", "still fine")
    a.wait_count(1)


# ------------------------------------------------------------ malformed input

GARBAGE: list[tuple[str, str | bytes]] = [
    ("sio-type", "4garbage"),
    ("json", "42[not json"),
    ("unexpected-binary", b"\x00\x01\x02"),
    ("eio-type", "x"),
    ("empty", ""),
    ("event-not-list", '42{"a":1}'),
    ("missing-attachment", '451-["send-message",{"_placeholder":true,"num":7}]'),
    ("client-sends-connect-error", '44{"message":"nope"}'),
    ("deep-json", "42" + "[" * 50_000),
]


def send_garbage(bad: RawClient, name: str, payload: str | bytes) -> None:
    if isinstance(payload, bytes):
        bad.ws.send_binary(payload)
    else:
        bad.ws.send(payload)
    if name == "missing-attachment":
        bad.ws.send_binary(b"\x00")  # the one attachment sent is not the one referenced


@pytest.mark.parametrize("name,payload", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_malformed_packet_closes_only_that_connection(
    server_process, chatters, name: str, payload: str | bytes
) -> None:
    a = chatters(server_process.ws_url, "alice", "g")
    b = chatters(server_process.ws_url, "bob", "g")
    bad = RawClient(server_process.ws_url)
    assert bad.call("join-room", "g", "mallory")["ok"] is True
    send_garbage(bad, name, payload)
    wait_closed(bad)
    assert_exchange(a, b, "g", 25, name)
    assert server_process.health()["status"] == "ok"
    assert connections_settle(server_process, 2) == 2


def test_websocket_protocol_violation_closes_only_that_connection(server_process, chatters) -> None:
    """An unmasked client frame is a WebSocket (not Engine.IO) protocol error."""
    a = chatters(server_process.ws_url, "alice", "ws")
    b = chatters(server_process.ws_url, "bob", "ws")
    bad = RawClient(server_process.ws_url)
    sock = bad.ws.sock
    assert sock is not None
    sock.sendall(b"\x81\x05hello")  # FIN+text, no mask bit
    wait_closed(bad)
    assert_exchange(a, b, "ws", 25, "unmasked")


def test_garbage_burst_loses_no_message(server_process, chatters) -> None:
    """Many bad connections come and go while two clients chat: all messages arrive."""
    a = chatters(server_process.ws_url, "alice", "burst")
    b = chatters(server_process.ws_url, "bob", "burst")
    n = 0
    for round_ in range(3):
        bads = [RawClient(server_process.ws_url) for _ in GARBAGE]
        for bad, (name, payload) in zip(bads, GARBAGE, strict=True):
            a.send("burst", f"burst-a-{n}")
            b.send("burst", f"burst-b-{n}")
            n += 1
            send_garbage(bad, name, payload)
        for bad in bads:
            wait_closed(bad)
        assert connections_settle(server_process, 2) == 2, f"round {round_}"
    a.wait_count(2 * n)
    b.wait_count(2 * n)
    for chatter in (a, b):
        texts = [m["text"] for m in chatter.messages]
        assert [t for t in texts if t.startswith("burst-a-")] == [f"burst-a-{i}" for i in range(n)]
        assert [t for t in texts if t.startswith("burst-b-")] == [f"burst-b-{i}" for i in range(n)]


def test_lone_surrogate_does_not_crash_the_server(server_process, chatters) -> None:
    """`\\ud800` is valid JSON; relaying it must not take the server down.

    The server now replaces lone surrogates with U+FFFD when it decodes a packet.

    Found while writing these tests: the server stores the message, then fails to
    UTF-8-encode the broadcast (UnicodeEncodeError in wsframe.encode_frame); the
    next join-room of that room raises outside the handler's try block and the
    exception escapes the connection task, killing the whole server process.
    """
    a = chatters(server_process.ws_url, "alice", "surrogate")
    bad = RawClient(server_process.ws_url)
    assert bad.call("join-room", "surrogate", "mallory")["ok"] is True
    bad.ws.send('42["send-message","surrogate",{"id":"s1","text":"\\ud800 broken"}]')
    time.sleep(0.3)
    # a fresh client joins the room: its join ack carries the room's history
    late = RawClient(server_process.ws_url)
    joined = late.call("join-room", "surrogate", "carol", timeout=3)
    assert joined["ok"] is True, joined
    assert [m["text"] for m in joined["history"]] == ["\ufffd broken"]
    late.close()
    assert server_process.proc.poll() is None, (
        "server process died:\n" + server_process.log()[-3000:]
    )
    assert server_process.health()["status"] == "ok"
    a.send("surrogate", "after")
    a.wait_count(2)
    # the lone surrogate arrives as U+FFFD (it cannot be UTF-8 encoded as it is)
    assert [m["text"] for m in a.messages] == ["\ufffd broken", "after"]


# ------------------------------------------------------------------- bad HTTP


def test_bad_http_requests(server_process) -> None:
    base = server_process.url
    status, body = http_get(base + "/socket.io/?EIO=4&transport=polling&sid=unknown")
    assert status == 400 and body["code"] == 1 and body["message"]
    status, body = http_get(base + "/socket.io/?EIO=3&transport=polling")
    assert status == 400 and body["code"] == 5
    status, body = http_get(base + "/socket.io/?transport=polling")
    assert status == 400 and body["code"] == 5
    status, body = http_get(base + "/socket.io/?EIO=4&transport=carrier-pigeon")
    assert status == 400 and body["code"] == 0
    status, body = http_get(base + "/socket.io/?EIO=4")
    assert status == 400 and body["code"] == 0
    # a WebSocket upgrade for an unknown sid
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            server_process.ws_url + "/socket.io/?EIO=4&transport=websocket&sid=unknown",
            timeout=WAIT,
        )
    assert info.value.status_code == 400
    # a handshake must be a GET
    req = urllib.request.Request(
        base + "/socket.io/?EIO=4&transport=polling", data=b"40", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as http_info:
        urllib.request.urlopen(req, timeout=WAIT)
    assert http_info.value.code == 400
    assert json.loads(http_info.value.read())["code"] == 2

    status, body = http_get(base + "/healthz")
    assert status == 200 and body["status"] == "ok"
    assert isinstance(body["connections"], int)
    status, _ = http_get(base + "/nonexistent")
    assert status == 404
    assert server_process.health()["status"] == "ok"


@pytest.mark.parametrize("first", ["/healthz", "/socket.io/?EIO=4&transport=polling"])
def test_http_keep_alive(server_process, first: str) -> None:
    """HTTP/1.1 connections are persistent unless a side says `Connection: close`.

    Polling clients (python-socketio's requests session, browsers) send their
    next GET on the pooled connection; if the server silently closes it after a
    GET, that next request is reset and the client drops the session.
    """
    conn = http.client.HTTPConnection("127.0.0.1", server_process.port, timeout=WAIT)
    try:
        conn.request("GET", first)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        announced_close = (resp.getheader("connection") or "").lower() == "close"
        time.sleep(0.2)  # let a (wrong) silent close reach us before we reuse the socket
        if announced_close:
            return  # allowed: the client knows to open a new connection
        for _ in range(3):
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                body = json.loads(resp.read())
            except (http.client.RemoteDisconnected, ConnectionError) as exc:
                pytest.fail(
                    f"the server closed a keep-alive connection after GET {first} without "
                    f"sending `Connection: close`: {exc!r}"
                )
            assert resp.status == 200 and body["status"] == "ok"
    finally:
        conn.close()


def test_garbage_http_does_not_hurt_the_server(server_process) -> None:
    for junk in (b"\x16\x03\x01\x00\xa5\x01\x00\x00", b"GET / HTTP/9.9\r\n\r\n", b"\r\n" * 10):
        with socket.create_connection(("127.0.0.1", server_process.port), timeout=WAIT) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    assert server_process.health()["status"] == "ok"


# ---------------------------------------------------------------- slow reader


def test_slow_reader_does_not_delay_others(server_process, chatters) -> None:
    """A reader that never reads costs only itself.

    Bound: while a publisher sends 2000 messages of ~1 KB (each waits for its
    ack, so the server is never queueing the publisher's own backlog), the p99
    publish-to-delivery latency at a healthy reader stays under 1 s (typically
    a few ms), and the healthy reader receives every message in order. Then
    larger messages overflow the slow reader's outbox (4 MiB by default; there
    is no CLI flag to lower it) plus the kernel buffers, and the server must
    disconnect it (seen as `user-left` by the others) within the test's bound.
    """
    room = "slow"
    healthy = chatters(server_process.ws_url, "healthy", room)
    slow = RawClient(server_process.ws_url, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    assert slow.call("join-room", room, "slow")["ok"] is True
    publisher = RawClient(server_process.ws_url)
    assert publisher.call("join-room", room, "publisher")["ok"] is True
    # from here on the slow client never reads its socket again

    pad = "p" * 1000
    sent_at: dict[str, float] = {}
    started = time.monotonic()
    for i in range(2000):
        mid = f"s{i}"
        sent_at[mid] = time.perf_counter()
        reply = publisher.call("send-message", room, {"id": mid, "text": pad})
        assert reply["ok"] is True, reply
        publisher.pending.clear()
    healthy.wait_count(2000, timeout=10)
    elapsed = time.monotonic() - started
    assert [m["id"] for m in healthy.messages[:2000]] == [f"s{i}" for i in range(2000)]
    latencies = sorted(healthy.arrived[mid] - t0 for mid, t0 in sent_at.items())
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    median = statistics.median(latencies)
    assert p99 < P99_BOUND_S, (
        f"p99 publish-to-delivery latency {p99 * 1000:.0f} ms "
        f"(median {median * 1000:.1f} ms, {elapsed:.1f} s for 2000 messages)"
    )

    # Phase 3: overflow the slow reader; the server must drop it.
    big = "B" * 9000
    dropped = False
    deadline = time.monotonic() + 8
    count = 0
    while time.monotonic() < deadline and count < 2000:
        reply = publisher.call("send-message", room, {"id": f"b{count}", "text": big})
        assert reply["ok"] is True
        count += 1
        if any('"user-left"' in p and '"slow"' in p for p in publisher.pending):
            dropped = True
            break
        publisher.pending.clear()
    print(f"p99 {p99 * 1000:.1f} ms, median {median * 1000:.2f} ms, dropped after {count} big")
    assert dropped, f"the slow reader was not disconnected after {count} messages of 9 KB"
    healthy.wait_count(2000 + count, timeout=10)
    assert connections_settle(server_process, 2) == 2
    publisher.close()
    slow.close()
