"""Micro-benchmark of the catalogue's hot path: `send-message` in, `receive-message` out.

Compares the typed catalogue (server/catalogue.py) with the handler edge it
replaces (server/features/chat.py's first lines, copied below without the
socket), on the message the load generators send. Prints µs per call;
`python -m benchmarks.catalogue_bench`.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

from server.catalogue import ChatMessage, SendMessage
from server.features.arguments import arg, identifier, mapping, text
from server.protocol.socketio import dumps
from simulate.measurement import chat_message

MAX_TEXT = 10_000
MAX_MESSAGE_BYTES = 48 * 1024
NOW_MS = 1_700_000_000_000

ARGS = ["lobby", chat_message("user-17", 42, "x" * 80, 1_700_000_000_000_000_000, "run-a")]
# benchmarks/node/ws_driver.mjs: no name, no timestamp, `sentAt` in fractional ms
DRIVER = [
    "room-0",
    {"id": "0-1-7", "userId": "u0-1", "text": "hello from the driver", "sentAt": 1.7e12 + 0.25},
]


def handler_edge(args: list[Any]) -> dict[str, Any]:
    """What `on_send_message` did before the catalogue, up to the stored message."""
    room_id = identifier(arg(args, 0, "roomId"), "roomId")
    body = mapping(arg(args, 1, "message"), "message")
    user_id = identifier(body.get("userId", None), "message.userId")
    message = {
        **{k: v for k, v in body.items() if k not in ("seq",)},
        "id": identifier(body["id"], "message.id") if body.get("id") else None,
        "userId": user_id,
        "userName": text(body.get("userName", user_id), "userName", 200),
        "text": text(body.get("text"), "message.text", MAX_TEXT),
        "timestamp": body.get("timestamp", NOW_MS),
    }
    assert room_id
    return message


def handler_encode(message: dict[str, Any]) -> str:
    """What `RoomHistory.append` did: stamp the seq, encode, measure."""
    message["seq"] = 7
    body = dumps(message)
    if len(body.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES:
        raise ValueError
    return body


def catalogue_message(event: SendMessage) -> ChatMessage:
    user_id = event.sender(None)
    return event.to_message(
        id=event.id or "lobby#7", seq=7, user_id=user_id, default_user_name=user_id, now_ms=NOW_MS
    )


def main() -> None:
    event = SendMessage.parse(ARGS)
    legacy = handler_edge(ARGS)
    message = catalogue_message(event)
    wire = [message.to_json()]
    cases: list[tuple[str, Callable[[], object]]] = [
        ("send-message parse: handler edge (before)", lambda: handler_edge(ARGS)),
        ("send-message parse: SendMessage.parse", lambda: SendMessage.parse(ARGS)),
        ("ws_bench message: handler edge (before)", lambda: handler_edge(DRIVER)),
        ("ws_bench message: SendMessage.parse", lambda: SendMessage.parse(DRIVER)),
        ("stored message: dict + seq + encode (before)", lambda: handler_encode(dict(legacy))),
        ("stored message: to_message + encode", lambda: catalogue_message(event).encode()),
        ("whole: edge + stored message (before)", lambda: handler_encode(handler_edge(ARGS))),
        (
            "whole: parse + to_message + encode",
            lambda: catalogue_message(SendMessage.parse(ARGS)).encode(),
        ),
        ("receive-message on a client: ChatMessage.parse", lambda: ChatMessage.parse(wire)),
        ("send-message build on a client: to_args", event.to_args),
    ]
    number, rounds = 20_000, 25
    best = dict.fromkeys((label for label, _ in cases), float("inf"))
    for _ in range(rounds):  # interleaved, best of all rounds: robust to a busy machine
        for label, call in cases:
            best[label] = min(best[label], timeit.timeit(call, number=number) / number)
    for label, seconds in best.items():
        print(f"{label:55s} {seconds * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
