"""The Locust users send the catalogue's types, as python-socketio `data`, under the server's names.

Runs in a subprocess: Locust patches the standard library (gevent), which
must not happen next to trio in the test process. No server: python-socketio's
`emit` and `call` are replaced by recorders.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def test_locust_clients_send_typed_requests_as_socketio_data() -> None:
    code = """
        import locustfiles.run_recording  # first: locust patches the stdlib (gevent)
        import socketio
        from locust.event import EventHook
        from locustfiles.rtlab_user import MeasuredSocketIOClient
        from server.catalogue import JoinRoom, MeasureRtt, SendMessage, Typing
        from simulate.target_profile import EventMap

        sent = []
        socketio.Client.emit = lambda self, event, data=None, namespace=None, callback=None: (
            sent.append((event, data, callback is not None))
        )
        socketio.Client.call = lambda self, event, data=None, **kwargs: (
            sent.append((event, data, kwargs["timeout"])) or {"ok": True}
        )
        client = MeasuredSocketIOClient(EventHook())
        client.event_map = EventMap.parse("send-message=chat:send")
        client.emit_event(SendMessage("r", "hi", id="m1"), callback=print)
        client.emit_event(Typing("r", "u"))
        client.emit_event(MeasureRtt())
        assert client.call_event(JoinRoom("r", "u"), timeout=3) == {"ok": True}
        assert sent == [
            ("chat:send", ("r", {"text": "hi", "id": "m1"}), True),
            ("typing", ("r", "u"), False),
            ("measure-rtt", (), False),
            ("join-room", ("r", "u"), 3),
        ], sent
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
