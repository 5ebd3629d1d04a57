"""Diagnostics: a round trip measured through the server, using acks in both directions.

`measure-rtt` (C→S, ack requested) makes the server emit `rtt-probe`
`{ts}` to the same socket *with an ack request*; when the client's ack
arrives, the server answers the original event with `{rttMs}`. Clients use
it to check their link; tests use it to exercise server→client acks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import trio

from server.hub import EventError, Socket

if TYPE_CHECKING:
    from server.app import ReferenceServer

PROBE_TIMEOUT = 10.0


def install(server: ReferenceServer) -> None:
    server.hub.on("measure-rtt")(measure_rtt)


async def measure_rtt(sock: Socket, args: list[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        reply = await sock.call("rtt-probe", {"ts": time.time_ns()}, timeout=PROBE_TIMEOUT)
    except trio.TooSlowError:
        raise EventError("conflict", "the client did not answer rtt-probe in time") from None
    return {"rttMs": (time.perf_counter() - started) * 1000, "reply": reply}
