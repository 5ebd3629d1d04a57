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
    handler returns at once with a deferred ack."""
    reply = DeferredAck()

    async def probe() -> None:
        started = time.perf_counter()
        try:
            answer = await sock.call("rtt-probe", {"ts": time.time_ns()}, timeout=PROBE_TIMEOUT)
        except trio.TooSlowError:
            reply.reject(EventError("conflict", "the client did not answer rtt-probe in time"))
            return
        reply.resolve({"rttMs": (time.perf_counter() - started) * 1000, "reply": answer})

    assert server.nursery is not None
    server.nursery.start_soon(probe)
    return reply
