"""HTTP/1.1 on one TCP connection through h11: requests in, responses out, or an upgrade.

Only the request *head* matters for routing; bodies are read on demand with
a size limit, so a client cannot make us buffer more than maxPayload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import trio

from server.protocol.errors import PayloadTooLarge

RECEIVE_SIZE = 65536
MAX_HEAD_BYTES = 16384


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    @property
    def wants_websocket(self) -> bool:
        return (
            "websocket" in self.header("upgrade").lower()
            and "upgrade" in self.header("connection").lower()
        )


class HttpConnection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def _next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.stream.receive_some(RECEIVE_SIZE)
            self.conn.receive_data(data)

    async def next_request(self) -> Request | None:
        """The next request head, or None when the client is done with this connection."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError(f"expected a request, got {type(event).__name__}")
        target = event.target.decode("latin-1")
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1").lower()
            val = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {val}" if key in headers else val
        return Request(event.method.decode("ascii"), target, parts.path, query, headers)

    async def read_body(self, limit: int) -> bytes:
        """The request body up to its end (nothing if a handler already read it)."""
        if self.conn.their_state is not h11.SEND_BODY:
            return b""
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise PayloadTooLarge(f"body exceeds {limit} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            else:
                raise h11.RemoteProtocolError("connection closed inside a request body")

    async def respond(
        self,
        status: int,
        body: bytes | str = b"",
        content_type: str = "text/plain; charset=UTF-8",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = [
            ("content-type", content_type),
            ("content-length", str(len(body))),
            *(headers or []),
        ]
        data = self.conn.send(h11.Response(status_code=status, headers=all_headers))
        data += self.conn.send(h11.Data(data=body)) if body else b""
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)

    async def respond_json(
        self, status: int, payload: Any, headers: list[tuple[str, str]] | None = None
    ) -> None:
        await self.respond(status, json.dumps(payload), "application/json", headers)

    async def accept_upgrade(self, headers: list[tuple[str, str]]) -> bytes:
        """Send 101 Switching Protocols; return bytes the client already sent past the head."""
        data = self.conn.send(h11.InformationalResponse(status_code=101, headers=headers))
        await self.stream.send_all(data)
        trailing, _closed = self.conn.trailing_data
        return bytes(trailing)

    async def wait_for_hangup(self) -> bool:
        """Read while a response is pending: True once the client closes its end.

        Bytes that arrive meanwhile (a pipelined request) go to h11 for later.
        """
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return True
            if not data:
                return True
            self.conn.receive_data(data)

    async def finish_request(self, limit: int) -> bool:
        """Read the rest of the current request; True if the connection can serve another."""
        try:
            while self.conn.their_state is h11.SEND_BODY:
                await self.read_body(limit)
        except PayloadTooLarge:
            return False
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE
