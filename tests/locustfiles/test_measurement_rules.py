"""Measurement rules of the Locust users that once read wrong: acks in flight, sent counts.

Unit-level (no server, no Locust process): each test reproduces a defect a
review found. Locust code runs in a subprocess (gevent must not be loaded next
to trio).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def _run_locust_snippet(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_locust_doc_acks_in_flight_expire_on_disconnect() -> None:
    _run_locust_snippet(
        """
        import locustfiles.run_recording  # first: locust patches the stdlib (gevent)
        import types
        from collections import deque
        import socketio
        from locustfiles.editing import EditorUser
        from locustfiles.run_recording import AckBook
        from simulate.measurement import OpInstants
        from simulate.recording import Recorder

        errors = []
        recorder = Recorder(0, "doc.ack")
        run = types.SimpleNamespace(
            acks=AckBook(),
            acked=True,  # the rtlab profile: the target acks
            recorder=recorder,
            error=lambda kind, label, code, since=None: errors.append((label, code)),
            latency=lambda *a, **k: None,
        )

        class Replica:
            def take_outgoing(self):
                return [{"op": 1}]

        class Sio:
            fail = False
            def emit_event(self, *a, **k):
                if self.fail:
                    raise socketio.exceptions.BadNamespaceError("gone")

        user = object.__new__(EditorUser)
        user.rtlab, user.sio, user.replica = run, Sio(), Replica()
        user.broken, user.strategy, user.document = False, "ot", "d"
        user.sent_ops, user._open_acks = 0, set()
        user._instants, user._in_flight = OpInstants(), deque()
        user._instants.note(0)
        user.flush()
        assert len(user._open_acks) == 1 and user.sent_ops == 1
        user._on_disconnect()
        assert errors == [("doc.ack", "connection_lost")], errors
        assert len(run.acks) == 0 and not user._open_acks
        user.sio.fail = True
        user.broken = False
        user._instants.note(1)
        user.flush()
        assert user.sent_ops == 1 and errors[-1] == ("doc.ack", "not_connected")
        assert recorder.tick(1, 0)["sent"] == 1
        """
    )


def test_locust_chat_message_not_sent_is_not_counted() -> None:
    _run_locust_snippet(
        """
        import locustfiles.run_recording  # first: locust patches the stdlib (gevent)
        import random, types
        from locustfiles.chat_room import ChatRoomUser
        from simulate.recording import DeliveryLog, Recorder

        recorder = Recorder(0, "chat.ack")
        log = DeliveryLog()
        run = types.SimpleNamespace(recorder=recorder, run_tag="t", acked=True)
        user = object.__new__(ChatRoomUser)
        user.rtlab, user.rng, user.user_id, user.room = run, random.Random(1), "u", "r"
        user.ledger, user.sent_messages = log.room("r"), 0
        user.emit_acked = lambda *a, **k: False
        user.send_chat_message(0, 5)
        assert recorder.tick(1, 0)["sent"] == 0 and user.ledger.sent == 0
        """
    )
