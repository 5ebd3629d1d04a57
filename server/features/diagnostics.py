"""Diagnostics: a round trip measured through the server, using acks in both directions.

`measure-rtt` (C→S, ack requested) makes the server emit `rtt-probe`
`{ts}` to the same socket *with an ack request*; when the client's ack
arrives, the server answers the original event with `{rttMs}`. Clients use
it to check their link; tests use it to exercise server→client acks.
"""

from __future__ import annotations

import time

import trio

from server.catalogue import MeasureRtt, MeasureRttReply, RttProbe
from server.errors import ErrorCode, EventError
from server.hub import DeferredAck, Hub, Socket
from server.services import Services, StartTask

PROBE_TIMEOUT = 10.0


def install(hub: Hub, services: Services) -> Diagnostics:
    diagnostics = Diagnostics(services.start_task)
    hub.on(MeasureRtt)(diagnostics.measure_rtt)
    return diagnostics


class Diagnostics:
    def __init__(self, start_task: StartTask) -> None:
        self.start_task = start_task

    async def measure_rtt(self, sock: Socket, _request: MeasureRtt) -> DeferredAck:
        """The probe's answer is read by this connection's own reading task, which
        runs this handler: so the wait happens in a task of its own, and the
        handler returns at once with a deferred ack. One probe per socket at a
        time: each holds a task and a pending ack until the client answers."""
        if sock.state.get("rtt_probe"):
            raise EventError(
                ErrorCode.CONFLICT, "a measure-rtt probe is already in flight on this connection"
            )
        reply = DeferredAck()

        async def probe() -> None:
            started = time.perf_counter()
            probe_event = RttProbe(time.time_ns())
            try:
                answer = await sock.call(
                    probe_event.name, *probe_event.to_args(), timeout=PROBE_TIMEOUT
                )
                rtt_ms = (time.perf_counter() - started) * 1000
                reply.resolve(MeasureRttReply(rtt_ms, tuple(answer)))
            except trio.TooSlowError:
                reply.reject(
                    EventError(ErrorCode.CONFLICT, "the client did not answer rtt-probe in time")
                )
            finally:
                sock.state.pop("rtt_probe", None)
                # whatever went wrong, the client's measure-rtt gets an answer (no-op if settled)
                reply.reject(EventError(ErrorCode.INTERNAL, "the rtt probe failed"))

        sock.state["rtt_probe"] = True
        try:
            self.start_task(probe)
        except BaseException:
            sock.state.pop("rtt_probe", None)
            raise
        return reply
