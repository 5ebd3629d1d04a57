"""HTTP long-polling for the trio client: the fallback transport, without upgrade.

Each request is a fresh HTTP/1.1 connection driven by h11 (the long GET and
the POSTs run concurrently, so they cannot share one connection). The
handshake GET's OPEN packet is handed on as the first message, so the
client's Engine.IO session reads the same packets whatever the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from server.protocol.engineio import (
    Handshake,
    PacketType,
    decode_payload,
    encode_packet,
    join_payload,
    request_target,
)
from server.protocol.errors import ProtocolError
from simulate.http_request import http_request
from simulate.link import NotConnected


class PollingError(Exception):
    """The server answered a polling request with an error."""


async def _request(
    host: str, port: int, method: str, target: str, body: bytes = b""
) -> tuple[int, bytes]:
    headers = [("content-type", "text/plain;charset=UTF-8")] if method == "POST" else []
    return await http_request(host, port, method, target, body, headers)


class PollingLink:
    """One Engine.IO session over long-polling (implements simulate.link.Link)."""

    def __init__(self, host: str, port: int, target: str, open_packet: str | bytes, sid: str):
        self.host = host
        self.port = port
        self.target = target
        self.sid = sid
        self.closed = False
        self._open_packet = open_packet
        # one POST at a time: packets keep their order (a binary event's attachments
        # must follow it), and the server refuses overlapping POSTs of a session
        self._send_lock = trio.Lock()

    @classmethod
    async def open(cls, host: str, port: int, path: str, timeout: float) -> PollingLink:
        with trio.fail_after(timeout):
            status, body = await _request(host, port, "GET", request_target(path, "polling"))
        if status != 200:
            raise PollingError(f"handshake refused: HTTP {status} {body[:200]!r}")
        try:
            first = decode_payload(body)[0]
            if first.type is not PacketType.OPEN:
                raise PollingError("the handshake did not start with an OPEN packet")
            sid = Handshake.parse(first.data).sid
        except ProtocolError as exc:
            raise PollingError(f"bad handshake payload: {exc}") from None
        target = request_target(path, "polling", sid)
        return cls(host, port, target, encode_packet(first), sid)

    async def send(self, message: str | bytes) -> None:
        if self.closed:
            raise NotConnected("polling session closed")
        body = join_payload([message]).encode()
        try:
            async with self._send_lock:
                status, _ = await _request(self.host, self.port, "POST", self.target, body)
        except OSError as exc:
            self.closed = True
            raise NotConnected(str(exc)) from None
        if status != 200:
            self.closed = True
            raise NotConnected(f"POST refused: HTTP {status}")

    async def messages(self) -> AsyncIterator[str | bytes]:
        yield self._open_packet
        while not self.closed:
            try:
                status, body = await _request(self.host, self.port, "GET", self.target)
                packets = decode_payload(body) if status == 200 else []
            except (OSError, ProtocolError):
                status, packets = 0, []
            if status != 200:
                self.closed = True
                return
            for packet in packets:
                yield encode_packet(packet)
                if packet.type is PacketType.CLOSE:
                    self.closed = True  # the session is over: no more polls
                    return

    def abort(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        """Stop polling; the goodbye itself (a CLOSE packet) is the session's to send."""
        self.closed = True
