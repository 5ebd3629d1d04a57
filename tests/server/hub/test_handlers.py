"""Handler styles and what their results mean on the wire, through a client/server pair.

A bare server (no catalogue feature) gets handlers registered the three ways
(`server.hub.handlers`): typed catalogue events with ``{ok, ...}`` acks,
python-socketio's plain handlers choosing their ack arguments, and the raw
argument list with ``{ok, ...}`` acks. Refusals, crashes, unknown events and
the rate limit are answered in an ack, or in an `error` event when the client
asked for no ack; the connection always keeps working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from server.catalogue import JoinRoom, RoomReply
from server.errors import ErrorCode, EventError
from server.hub import DeferredAck, Socket
from tests.server.memory_pair import Pair, reference_server, refusal


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with reference_server(tmp_path, features=()) as pair:
        yield pair


# `Hub.on` takes a catalogue event type; its protocol (`ParsedEvent`) spells `name` as an
# instance attribute where the catalogue has a class variable, which mypy refuses
JOIN_ROOM = cast(Any, JoinRoom)


# ------------------------------------------------------------------- typed


async def test_typed_handler_gets_the_parsed_event_and_its_reply_is_enveloped(pair: Pair) -> None:
    seen: list[tuple[str, JoinRoom]] = []

    @pair.hub.on(JOIN_ROOM)
    async def join(sock: Socket, event: JoinRoom) -> RoomReply:
        seen.append((sock.sid, event))
        return RoomReply(event.room_id)

    async with pair.client() as client:
        assert await client.call("join-room", "lobby", "ann") == {"ok": True, "roomId": "lobby"}
        assert seen == [(client.sid, JoinRoom("lobby", "ann"))]


async def test_typed_event_that_does_not_parse_is_refused_before_the_handler(pair: Pair) -> None:
    called: list[Any] = []

    @pair.hub.on(JOIN_ROOM)
    async def join(sock: Socket, event: JoinRoom) -> None:
        called.append(event)

    with pytest.raises(EventError) as parse_error:
        JoinRoom.parse(["lobby"])
    async with pair.client() as client:
        reply = await client.call("join-room", "lobby")
        assert reply == {"ok": False, "error": parse_error.value.as_dict()}
        assert reply["error"]["code"] == "bad_request"
        assert called == []


@pytest.mark.parametrize(
    ("result", "ack"),
    [
        (None, {"ok": True}),
        ({"n": 1}, {"ok": True, "n": 1}),
        (RoomReply("r"), {"ok": True, "roomId": "r"}),
    ],
)
async def test_enveloped_results(pair: Pair, result: Any, ack: dict[str, Any]) -> None:
    @pair.hub.on_args("answer")
    async def answer(sock: Socket, args: list[Any]) -> Any:
        return result

    async with pair.client() as client:
        assert await client.call("answer") == ack


# ------------------------------------------------------------------- plain


async def test_plain_handler_gets_the_arguments_and_chooses_the_ack_arguments(pair: Pair) -> None:
    @pair.hub.on("pair-up")
    async def pair_up(sock: Socket, left: Any, right: Any) -> tuple[Any, ...]:
        return (right, left)

    @pair.hub.on("one")
    async def one(sock: Socket, value: Any) -> Any:
        return {"got": value}

    @pair.hub.on("none")
    async def none(sock: Socket) -> None:
        return None

    async with pair.client() as client:
        acks: list[Any] = []
        await client.emit("pair-up", {"a": 1}, [2], ack=acks.append)
        await client.emit("one", "x", ack=acks.append)
        await client.emit("none", ack=acks.append)
        await pair.settle()
        # on the wire: ACK packets (`43<id>`) with exactly the arguments the handler chose
        assert [p for p in pair.received(client) if str(p).startswith("43")] == [
            '430[[2],{"a":1}]',
            '431[{"got":"x"}]',
            "432[]",
        ]
        # what the client's callback gets: the argument, or the list of several
        assert acks == [[[2], {"a": 1}], {"got": "x"}, []]


async def test_plain_handler_refusal_is_an_error_ack(pair: Pair) -> None:
    @pair.hub.on("strict")
    async def strict(sock: Socket, value: Any) -> str:
        raise EventError(ErrorCode.CONFLICT, f"not now: {value}")

    async with pair.client() as client:
        assert await client.call("strict", 7) == refusal("conflict", "not now: 7")


# -------------------------------------------------------------------- args


async def test_args_handler_gets_the_raw_argument_list(pair: Pair) -> None:
    @pair.hub.on_args("raw")
    async def raw(sock: Socket, args: list[Any]) -> dict[str, Any]:
        return {"args": args}

    async with pair.client() as client:
        assert await client.call("raw", 1, "two", {"three": [3]}) == {
            "ok": True,
            "args": [1, "two", {"three": [3]}],
        }
        assert await client.call("raw") == {"ok": True, "args": []}


# ---------------------------------------------------------------- refusals


async def test_a_refusal_without_an_ack_request_is_an_error_event(pair: Pair) -> None:
    @pair.hub.on_args("picky")
    async def picky(sock: Socket, args: list[Any]) -> None:
        raise EventError(ErrorCode.FORBIDDEN, "not for you")

    async with pair.client() as client:
        await client.emit("picky", 1)
        await pair.settle()
        assert pair.heard(client).events == [
            ("error", [{"code": "forbidden", "message": "not for you", "event": "picky"}])
        ]


async def test_unknown_event_is_not_found_in_the_ack_or_an_error_event(pair: Pair) -> None:
    async with pair.client() as client:
        assert await client.call("nope", 1) == refusal("not_found", "unknown event 'nope'")
        long_name = "x" * 150
        await client.emit(long_name)
        await pair.settle()
        shortened = "x" * 100 + "…"
        assert pair.heard(client).events == [
            (
                "error",
                [
                    {
                        "code": "not_found",
                        "message": f"unknown event {shortened!r}",
                        "event": shortened,
                    }
                ],
            )
        ]
        # made-up names are counted together, never one by one
        assert pair.hub.stats.events_in["<unknown>"] == 2
        assert "nope" not in pair.hub.stats.events_in


async def test_a_handler_that_crashes_answers_internal_and_the_socket_keeps_working(
    pair: Pair,
) -> None:
    @pair.hub.on_args("buggy")
    async def buggy(sock: Socket, args: list[Any]) -> None:
        raise RuntimeError("a bug")

    @pair.hub.on("ping")
    async def ping(sock: Socket) -> str:
        return "pong"

    async with pair.client() as client:
        assert await client.call("buggy") == refusal("internal", "internal server error")
        assert await client.call("ping") == "pong"
        assert pair.hub.stats.errors == 1


async def test_a_reply_that_cannot_be_encoded_is_an_internal_error(pair: Pair) -> None:
    @pair.hub.on_args("infinite")
    async def infinite(sock: Socket, args: list[Any]) -> dict[str, Any]:
        return {"value": float("inf")}

    async with pair.client() as client:
        assert await client.call("infinite") == refusal("internal", "bad reply")


# ----------------------------------------------------------- deferred acks


async def test_a_deferred_ack_is_sent_when_resolved_and_the_connection_reads_on(
    pair: Pair,
) -> None:
    pending: list[DeferredAck] = []

    @pair.hub.on_args("later")
    async def later(sock: Socket, args: list[Any]) -> DeferredAck:
        deferred = DeferredAck()
        pending.append(deferred)
        return deferred

    @pair.hub.on("now")
    async def now(sock: Socket) -> str:
        return "now"

    async with pair.client() as client:
        acks: list[Any] = []
        await client.emit("later", ack=acks.append)
        await client.emit("later", ack=acks.append)
        assert await client.call("now") == "now"  # read and answered meanwhile
        assert acks == [] and len(pending) == 2
        pending[1].reject(EventError(ErrorCode.CONFLICT, "second"))
        pending[0].resolve({"first": True})
        pending[0].reject(EventError(ErrorCode.INTERNAL, "too late: the first outcome stands"))
        await pair.settle()
        assert acks == [refusal("conflict", "second"), {"ok": True, "first": True}]


# --------------------------------------------------------------- rate limit


async def test_rate_limit_refuses_past_the_burst_before_the_handler(tmp_path: Path) -> None:
    async with reference_server(tmp_path, features=(), rate_limit=10) as pair:
        handled: list[int] = []

        @pair.hub.on("count")
        async def count(sock: Socket, n: int) -> int:
            handled.append(n)
            return n

        async with pair.client() as client:
            replies = [await client.call("count", n) for n in range(30)]
            # a burst of twice the rate is handled; refusals follow, before the handler
            assert replies[:20] == list(range(20))
            refused = [n for n, reply in enumerate(replies) if reply != n]
            assert refused and refused[0] >= 20
            assert handled == [n for n in range(30) if n not in refused]
            for n in refused:
                assert replies[n] == refusal("rate_limited", "more than 10 events/s")
            # tokens come back at 10/s: the socket keeps working
            with trio.fail_after(5):
                while await client.call("count", 99) != 99:
                    await trio.sleep(0.05)


# ------------------------------------------------------ server→client acks


async def test_socket_call_waits_for_the_clients_ack(pair: Pair) -> None:
    async with pair.client() as client:
        client.on("add", lambda a, b: {"sum": a + b})
        client.on("shrug", lambda: None)
        sock = pair.socket(client)
        assert await sock.call("add", 2, 3) == [{"sum": 5}]
        # a handler that returns nothing still acks, with no argument
        assert await sock.call("shrug") == []
        assert pair.heard(client).events == [("add", [2, 3]), ("shrug", [])]


async def test_an_ack_pending_when_the_client_goes_resolves_with_no_arguments(
    pair: Pair,
) -> None:
    async with pair.client() as client:
        client.on("question", lambda: client.abort())  # gone before answering
        sock = pair.socket(client)
        answers: list[list[Any]] = []
        sock.emit_with_ack("question", callback=answers.append)
        assert await sock.call("question") == []
        assert answers == [[]]
        assert not sock.connected
