"""Diagnostics: a round trip measured through the server, using acks in both directions.

`measure-rtt` (C→S, ack requested) makes the server emit `rtt-probe`
`{ts}` to the same socket *with an ack request*; when the client's ack
arrives, the server answers the original event with `{rttMs}`. Clients use
it to check their link; tests use it to exercise server→client acks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio

from server.hub import DeferredAck, EventError, Socket

if TYPE_CHECKING:
    from server.app import ReferenceServer

PROBE_TIMEOUT = 10.0


def install(server: ReferenceServer) -> None:
    server.hub.on("measure-rtt")(lambda sock, args: measure_rtt(server, sock))


async def measure_rtt(server: ReferenceServer, sock: Socket) -> DeferredAck:
    """The probe's answer is read by this connection's own reading task, which
    runs this handler: so the wait happens in a task of its own, and the
    handler returns at once with a deferred ack. One probe per socket at a
    time: each holds a task and a pending ack until the client answers."""
    if sock.state.get("rtt_probe"):
        raise EventError("conflict", "a measure-rtt probe is already in flight on this connection")
    reply = DeferredAck()

    async def probe() -> None:
        started = time.perf_counter()
        try:
            answer = await sock.call("rtt-probe", {"ts": time.time_ns()}, timeout=PROBE_TIMEOUT)
            reply.resolve({"rttMs": (time.perf_counter() - started) * 1000, "reply": answer})
        except trio.TooSlowError:
            reply.reject(EventError("conflict", "the client did not answer rtt-probe in time"))
        finally:
            sock.state.pop("rtt_probe", None)
            # whatever went wrong, the client's measure-rtt gets an answer (no-op if settled)
            reply.reject(EventError("internal", "the rtt probe failed"))

    sock.state["rtt_probe"] = True
    try:
        server.start_task(probe)
    except BaseException:
        sock.state.pop("rtt_probe", None)
        raise
    return reply
