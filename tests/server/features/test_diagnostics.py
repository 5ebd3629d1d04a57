"""`measure-rtt` through a client/server pair: the server asks the client (`rtt-probe`, with
an ack request) and answers the client's event once the client's ack is back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.server.memory_pair import reference_server


async def test_measure_rtt_round_trips_through_the_clients_ack(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as client:
        client.on("rtt-probe", lambda probe: {"echo": probe["ts"]})
        before = time.time_ns()
        reply = await client.call("measure-rtt")
        (probe,) = pair.heard(client).of("rtt-probe")
        assert before <= probe["ts"] <= time.time_ns()
        assert reply == {"ok": True, "rttMs": reply["rttMs"], "reply": [{"echo": probe["ts"]}]}
        assert reply["rttMs"] >= 0


async def test_a_client_without_a_probe_handler_still_answers(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as client:
        reply = await client.call("measure-rtt")
        assert reply == {"ok": True, "rttMs": reply["rttMs"], "reply": []}
        assert pair.heard(client).names == ["rtt-probe"]


async def test_one_probe_at_a_time(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as client:
        first: list[Any] = []
        await client.emit("measure-rtt", ack=first.append)
        assert await client.call("measure-rtt") == {
            "ok": False,
            "error": {
                "code": "conflict",
                "message": "a measure-rtt probe is already in flight on this connection",
            },
        }
        await pair.settle()
        assert [reply["ok"] for reply in first] == [True]
        assert (await client.call("measure-rtt"))["ok"]  # the slot is free again
