"""`--target-profile auto` for the Locust users: the bots' probe, on python-socketio.

The same three steps as simulate/target_probe.py (join-room with an ack
request, one send-message to see it come back, leave-room) on a run-tagged
room of its own, and the same verdict (`simulate.target_profile.decide`).
The master (or the single process) decides once, at Locust's `init`, and
passes the choice to the workers with the options (`--rtlab-profile-choice`,
JSON), so every process of a run uses the same profile.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import socketio

from server.catalogue import ClientEvent, EventName, JoinRoom, LeaveRoom
from simulate.target_profile import (
    AUTO,
    PROBE_DEADLINE_S,
    PROFILES,
    EventMap,
    ProbeAnswer,
    ProfileChoice,
    ProfileError,
    decide,
    forced,
    probe_message,
)

CONNECT_WAIT_S = 10.0


def choose_profile(
    requested: str,
    url: str,
    event_map: EventMap,
    run_tag: str,
    deadline_s: float = PROBE_DEADLINE_S,
) -> ProfileChoice:
    if requested != AUTO:
        return forced(requested)
    return decide(probe(url, event_map, run_tag, deadline_s))


def probe(url: str, event_map: EventMap, run_tag: str, deadline_s: float) -> ProbeAnswer:
    user, room = f"{run_tag}-probe", f"{run_tag}-probe-room"
    client = socketio.Client(reconnection=False)
    echoed = threading.Event()

    def on_message(message: Any = None, *_: Any) -> None:
        if isinstance(message, dict) and message.get("userId") == user:
            echoed.set()

    client.on(event_map.wire(EventName.RECEIVE_MESSAGE), on_message)

    def emit(event: ClientEvent) -> None:
        client.emit(event_map.wire(event.name), tuple(event.to_args()))

    try:
        client.connect(
            url,
            auth={"userId": user, "name": user},
            transports=["websocket"],
            wait_timeout=CONNECT_WAIT_S,
        )
    except (socketio.exceptions.ConnectionError, ValueError, OSError) as exc:
        raise ProfileError(f"cannot connect to {url} to probe it: {exc}") from None
    try:
        began = time.perf_counter()
        acked, reply, ack_ms = False, None, None
        with contextlib.suppress(socketio.exceptions.TimeoutError):
            join = JoinRoom(room, user)
            reply = client.call(
                event_map.wire(join.name), tuple(join.to_args()), timeout=deadline_s
            )
            acked, ack_ms = True, (time.perf_counter() - began) * 1000
        sent = time.perf_counter()
        emit(probe_message(room, user))
        echo_ms = (time.perf_counter() - sent) * 1000 if echoed.wait(deadline_s) else None
        emit(LeaveRoom(room, user))
    except socketio.exceptions.SocketIOError as exc:
        raise ProfileError(f"the connection to {url} failed while probing it: {exc}") from None
    finally:
        with contextlib.suppress(Exception):  # already closed: nothing to do
            client.disconnect()
    return ProbeAnswer(acked, reply, ack_ms, echo_ms, deadline_s)


def choice_to_json(choice: ProfileChoice) -> str:
    return json.dumps(choice.as_meta())


def choice_from_json(text: str) -> ProfileChoice:
    """A choice the master sent (its meta form; the probe's details kept as they were)."""
    data = json.loads(text)
    probe = data.get("probe")
    answer = (
        None
        if probe is None
        else ProbeAnswer(
            probe["join_acked"], None, probe["join_ack_ms"], probe["echo_ms"], probe["deadline_s"]
        )
    )
    return ProfileChoice(PROFILES[data["name"]], data["requested"], data["reason"], answer)
