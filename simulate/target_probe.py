"""`--target-profile auto` for the bots: ask the target whether it speaks rtlab's acks.

One short-lived connection to a room of its own (run-tagged, so no measured
room sees it): `join-room` with an ack request, then one `send-message` to
see whether it comes back as `receive-message` (the tutorial relays to the
whole room, sender included), then `leave-room`. At most about two probe
deadlines (`PROBE_DEADLINE_S` each) in all. The verdict is
`simulate.target_profile.decide`, which the Locust users share.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from server.catalogue import EventName, JoinRoom, LeaveRoom
from server.protocol.errors import ProtocolError
from simulate.client import ClientError, ConnectionLost, SocketIOClient
from simulate.mapped_client import make_client
from simulate.target_profile import (
    AUTO,
    PROBE_DEADLINE_S,
    EventMap,
    ProbeAnswer,
    ProfileChoice,
    ProfileError,
    decide,
    forced,
    probe_message,
)

PROBE_CONNECT_TIMEOUT_S = 10.0
NO_RENAMING = EventMap()


async def choose_profile(
    requested: str,
    url: str,
    *,
    namespace: str = "/",
    event_map: EventMap = NO_RENAMING,
    run_tag: str = "probe",
    deadline_s: float = PROBE_DEADLINE_S,
) -> ProfileChoice:
    """The profile named, or (`auto`) the one the probe's answers call for."""
    if requested != AUTO:
        return forced(requested)
    return decide(await probe(url, namespace, event_map, run_tag, deadline_s))


async def probe(
    url: str, namespace: str, event_map: EventMap, run_tag: str, deadline_s: float
) -> ProbeAnswer:
    user = f"{run_tag}-probe"
    room = f"{run_tag}-probe-room"
    client = make_client(
        url,
        event_map,
        namespace=namespace,
        auth={"userId": user, "name": user},
        reconnect=False,
        connect_timeout=PROBE_CONNECT_TIMEOUT_S,
    )
    echoed = trio.Event()
    client.on(EventName.RECEIVE_MESSAGE, lambda message=None, *_: _echo(message, user, echoed))
    try:
        await client.open()
    except (OSError, ClientError, trio.TooSlowError, ProtocolError) as exc:
        why = str(exc) or type(exc).__name__
        raise ProfileError(
            f"cannot connect to {url} (namespace {namespace}) to probe it: {why}"
        ) from None
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        try:
            answer = await _ask(client, room, user, echoed, deadline_s)
        finally:
            with trio.move_on_after(deadline_s) as scope:
                scope.shield = True
                await client.close()
            nursery.cancel_scope.cancel()
    return answer


async def _ask(
    client: SocketIOClient, room: str, user: str, echoed: trio.Event, deadline_s: float
) -> ProbeAnswer:
    began = time.perf_counter()
    acked, reply, ack_ms = False, None, None
    try:
        reply = await client.call_event(JoinRoom(room, user), timeout=deadline_s)
        acked, ack_ms = True, (time.perf_counter() - began) * 1000
    except (trio.TooSlowError, ConnectionLost):
        pass
    sent = time.perf_counter()
    await client.emit_event(probe_message(room, user))
    echo_ms = None
    with trio.move_on_after(deadline_s):
        await echoed.wait()
        echo_ms = (time.perf_counter() - sent) * 1000
    await client.emit_event(LeaveRoom(room, user))
    return ProbeAnswer(acked, reply, ack_ms, echo_ms, deadline_s)


def _echo(message: Any, user: str, echoed: trio.Event) -> None:
    if isinstance(message, dict) and message.get("userId") == user:
        echoed.set()
