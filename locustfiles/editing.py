"""Locust: concurrent edits of shared documents through one conflict strategy.

    locust -f locustfiles/editing.py --headless -u 24 -r 12 -t 60s \\
        --host http://127.0.0.1:8000 --strategy ot

The strategy comes from `--strategy` / `RTLAB_STRATEGY`, else from
`simulate/scenarios/editing.toml` (fugue). Each user holds the strategy's
own replica (`server.collab.registry.get_strategy(name).create_replica`,
pure Python, the same objects the server and the bots use), so OT
transforms and CRDT ids are real, not faked. Rows: `ack doc.join`,
`ack doc.ack` (from the scheduled edit to its ack; OT may compose several
edits into one op, timed from the oldest), `push doc.remote` (another
editor's op, for strategies that relay ops as sent: naive, fugue, rga).
After the drain every document is checked: replicas idle and equal to the
server's text (a fresh join) -> convergence.json. Against a relay-only
server (the tutorial profile) editors join without an ack, start from an
empty document with the tutorial's naive client logic, send ops without an
ack request, stamp `sentAt` into their cursors too (`push cursor.delivery`),
and the check compares the replicas with each other.

Handlers run in python-socketio's reading greenlet, in the server's order:
acks and broadcasts reach the replica in the order OT relies on.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from typing import Any

import socketio
from locust import task

from locustfiles.rtlab_user import (
    CALL_TIMEOUT_S,
    RtlabUser,
    ack_error_code,
    filler,
    socketio_data,
)
from locustfiles.run_recording import LocustRun, register_convergence_check
from server.catalogue import (
    CursorUpdate,
    DocumentChange,
    EventError,
    EventName,
    JoinDocument,
    JoinDocumentReply,
)
from server.collab.base import CollabError, Replica
from server.collab.registry import get_strategy
from simulate.measurement import (
    OpInstants,
    StampedCursorUpdate,
    convergence_entry,
    stamped_strategy,
)
from simulate.vocabulary import Metric


class EditorUser(RtlabUser):
    scenario_name = "editing"
    persona_kind = "editor"

    def on_start(self) -> None:
        self.document = self.rtlab.take_seat("doc")
        self.replica: Replica | None = None
        self.strategy = ""
        self.broken = False
        self.sent_ops = 0
        self.acked_ops = 0
        self._instants = OpInstants()  # scheduled instants of edits not yet in an op
        self._in_flight: deque[tuple[int, int]] = deque()  # (scheduled_ns, ack token)
        self.sio.on(EventName.DOCUMENT_CHANGE, self._on_change)
        self.sio.on(EventName.CURSOR_UPDATE, self._on_cursor)
        self.sio.on("connect", self._on_reconnect)
        self.joined = self.connect() and self.join_document()
        self.start_schedule()

    def join_document(self) -> bool:
        if not self.rtlab.acked:  # the tutorial's editor: join, start from "", relay positions
            if not self.emit_plain(Metric.DOC_JOIN, JoinDocument(self.document, self.user_id)):
                return False
            self.strategy = self.params.strategy
            self.replica = get_strategy(self.strategy).create_replica(self.user_id, {"content": ""})
            self.rtlab.documents.setdefault(self.document, []).append(self)
            return True
        began = time.time_ns()
        request = JoinDocument(self.document, self.user_id, self.params.strategy)
        reply = self.call_measured(Metric.DOC_JOIN, request, began)
        if reply is None:
            return False
        try:
            self.strategy = reply["strategy"]
            self.replica = get_strategy(self.strategy).create_replica(self.user_id, reply)
        except (KeyError, CollabError) as exc:
            self.rtlab.error("ack", "doc.session", type(exc).__name__)
            return False
        for user_id, wire in (reply.get("cursors") or {}).items():
            if user_id != self.user_id:
                self.replica.set_remote_cursor(user_id, wire)
        self.rtlab.documents.setdefault(self.document, []).append(self)
        return True

    @task
    def edit(self) -> None:
        if self.rtlab.stopping or self.broken:
            self.next_at_ns = time.time_ns() + 1_000_000_000
            return
        if not self.joined or self.replica is None:
            self.next_at_ns = time.time_ns() + 1_000_000_000
            self.joined = (self.sio.connected or self.connect()) and self.join_document()
            return
        scheduled = self.wait_for_turn()
        position = self._random_edit(self.replica)
        self._instants.note(scheduled)
        self.flush()
        if self.rng.random() < self.params.cursor_ratio:
            wire = self.replica.encode_cursor(position)
            cursor = CursorUpdate(self.document, wire, self.user_id)
            if self.rtlab.acked:
                self.emit_plain("cursor", cursor)
            else:  # the tutorial relays the object as sent: receivers time it
                self.emit_plain("cursor", StampedCursorUpdate(cursor, scheduled))

    def _random_edit(self, replica: Replica) -> int:
        """One seeded random edit (the bots' mix); returns where the cursor ends up."""
        params = self.params
        length = len(replica.text())
        if length and self.rng.random() < params.delete_ratio:
            position = self.rng.randrange(length)
            replica.delete(position, min(self.rng.randint(1, 3), length - position))
            return position
        position = self.rng.randint(0, length)
        text = filler(self.rng, self.rng.randint(1, params.max_insert))
        replica.insert(position, text)
        return position + len(text)

    def flush(self) -> None:
        """Send what the replica has ready, in order (called by the task and by acks)."""
        if self.replica is None or self.broken:
            return
        ops = self.replica.take_outgoing()
        stamp = stamped_strategy(self.strategy)
        instants = self._instants.for_ops(len(ops), time.time_ns)
        if not self.rtlab.acked:  # a relay-only server: nothing to wait for
            for op, scheduled in zip(ops, instants, strict=True):
                change = DocumentChange(self.document, {**op, "sentAt": scheduled} if stamp else op)
                if not self.emit_plain(Metric.DOC_REMOTE, change):
                    self.broken = True
                    return
                self.sent_ops += 1
            return
        for op, scheduled in zip(ops, instants, strict=True):
            token = self.rtlab.acks.open("ack", "doc.ack", scheduled)
            self._in_flight.append((scheduled, token))
            # a disconnect expires it as connection_lost (RtlabUser._on_disconnect)
            self._open_acks.add(token)
            change = DocumentChange(self.document, {**op, "sentAt": scheduled} if stamp else op)
            try:
                self.sio.emit_event(change, callback=self._on_ack)
            except socketio.exceptions.SocketIOError:
                self._in_flight.pop()
                self._open_acks.discard(token)
                self.rtlab.acks.close(token)
                self.rtlab.error("ack", "doc.ack", "not_connected", scheduled)
                self.broken = True
                return
            self.sent_ops += 1
            self.rtlab.recorder.sent()  # counted only once it left

    # ---------------------------------------------------------------- incoming
    def _on_ack(self, reply: Any = None, *_: Any) -> None:
        # ops in flight when the link dropped were expired by the disconnect: their
        # acks never come, so this ack answers the oldest op still open
        while self._in_flight and self._in_flight[0][1] not in self._open_acks:
            self._in_flight.popleft()
        if not self._in_flight:
            return
        scheduled, token = self._in_flight.popleft()
        self._open_acks.discard(token)
        if not self.rtlab.acks.close(token):
            return
        if isinstance(reply, dict) and reply.get("ok"):
            self.acked_ops += 1
            self.rtlab.latency("ack", "doc.ack", scheduled)
            if self.replica is not None:
                self.replica.acknowledge(
                    {k: v for k, v in reply.items() if k not in ("ok", "documentId")}
                )
                self.flush()  # OT may have a buffered op ready now
        else:
            self.rtlab.error("ack", "doc.ack", ack_error_code(reply), scheduled)
            self.broken = True

    def _on_change(self, change: Any = None, *_: Any) -> None:
        self.rtlab.recorder.received()
        if self.replica is None or not isinstance(change, dict):
            return
        if change.get("documentId", self.document) != self.document:
            return
        self.replica.receive(change)
        if isinstance(change.get("sentAt"), int):
            self.rtlab.latency("push", "doc.remote", change["sentAt"])

    def _on_cursor(self, update: Any = None, *_: Any) -> None:
        self.rtlab.recorder.received()
        if self.replica is None or not isinstance(update, dict):
            return
        if isinstance(update.get("sentAt"), int):
            self.rtlab.latency("push", Metric.CURSOR_DELIVERY, update["sentAt"])
        user_id = update.get("userId")
        if user_id and user_id != self.user_id and update.get("position") is not None:
            self.replica.set_remote_cursor(user_id, update["position"])

    def _on_reconnect(self, *_: Any) -> None:
        """The replica missed whatever happened while the link was down: stop editing."""
        if self.replica is not None and not self.broken:
            self.broken = True
            self.rtlab.error("ack", "doc.session", "reconnected")


def check_documents(run: LocustRun) -> list[dict[str, Any]]:
    """Replicas idle and equal to each other and to the server's text (read by a fresh joiner)."""
    documents = []
    for number, (document, editors) in enumerate(sorted(run.documents.items())):
        # a relay-only server (no acks) keeps no text: the replicas are compared
        checker = f"{run.run_tag}-checker{number}"
        server_text = read_server_text(run, document, checker) if run.acked else None
        documents.append(
            convergence_entry(
                document,
                editors[0].strategy,
                [e.replica.text() for e in editors if e.replica is not None],
                editors=len(editors),
                idle=all(
                    e.replica is not None and e.replica.is_idle() and not e._in_flight
                    for e in editors
                ),
                broken_sessions=sum(e.broken for e in editors),
                server_text=server_text,
                server_keeps_text=run.acked,
            )
        )
    return documents


def read_server_text(run: LocustRun, document: str, user_id: str) -> str | None:
    host = run.environment.host or ""
    url = "http" + host[2:] if host.startswith("ws") else host
    client = socketio.Client(reconnection=False)
    join = JoinDocument(document, user_id)
    try:
        client.connect(url, auth={"userId": user_id}, transports=["websocket"], wait_timeout=5)
        reply = client.call(join.name, socketio_data(join), timeout=CALL_TIMEOUT_S)
        return JoinDocumentReply.parse(reply).content
    except (socketio.exceptions.SocketIOError, EventError):  # EventError: refused, or no text
        return None
    finally:
        with contextlib.suppress(Exception):  # already closed
            client.disconnect()


register_convergence_check(check_documents)
