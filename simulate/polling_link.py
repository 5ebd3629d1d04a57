"""HTTP long-polling for the trio client: the fallback transport, without upgrade.

Each request is a fresh HTTP/1.1 connection driven by h11 (the long GET and
the POSTs run concurrently, so they cannot share one connection). The
handshake GET's OPEN packet is replayed as the first message so that the
client's connect logic is the same for every transport.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator

import trio

from server.protocol.engineio import Packet, PacketType, decode_payload, encode_packet
from server.protocol.errors import ProtocolError
from simulate.http_request import http_request


class PollingError(Exception):
    """The server answered a polling request with an error."""


async def _request(
    host: str, port: int, method: str, target: str, body: bytes = b""
) -> tuple[int, bytes]:
    headers = [("content-type", "text/plain;charset=UTF-8")] if method == "POST" else []
    return await http_request(host, port, method, target, body, headers)


class PollingLink:
    """One Engine.IO session over long-polling (implements simulate.client.Link)."""

    def __init__(self, host: str, port: int, base: str, open_text: str, sid: str) -> None:
        self.host = host
        self.port = port
        self.base = base
        self.sid = sid
        self.closed = False
        self._open_text = open_text
        # one POST at a time: packets keep their order (a binary event's attachments
        # must follow it), and the server refuses overlapping POSTs of a session
        self._send_lock = trio.Lock()

    @classmethod
    async def open(cls, host: str, port: int, path: str, timeout: float) -> PollingLink:
        base = (path if path.endswith("/") else path + "/") + "?EIO=4&transport=polling"
        with trio.fail_after(timeout):
            status, body = await _request(host, port, "GET", base)
        if status != 200:
            raise PollingError(f"handshake refused: HTTP {status} {body[:200]!r}")
        try:
            packets = decode_payload(body)
        except ProtocolError as exc:
            raise PollingError(f"bad handshake payload: {exc}") from None
        first = packets[0]
        if first.type is not PacketType.OPEN or not isinstance(first.data, str):
            raise PollingError("the handshake did not start with an OPEN packet")
        sid = json.loads(first.data)["sid"]
        return cls(host, port, f"{base}&sid={sid}", f"0{first.data}", sid)

    async def send(self, message: str | bytes) -> None:
        from simulate.client import NotConnected

        if self.closed:
            raise NotConnected("polling session closed")
        body = ("b" + base64.b64encode(message).decode()) if isinstance(message, bytes) else message
        try:
            async with self._send_lock:
                status, _ = await _request(self.host, self.port, "POST", self.base, body.encode())
        except OSError as exc:
            self.closed = True
            raise NotConnected(str(exc)) from None
        if status != 200:
            self.closed = True
            raise NotConnected(f"POST refused: HTTP {status}")

    async def messages(self) -> AsyncIterator[str | bytes]:
        yield self._open_text
        while not self.closed:
            try:
                status, body = await _request(self.host, self.port, "GET", self.base)
                packets: list[Packet] = decode_payload(body) if status == 200 else []
            except (OSError, ProtocolError):
                status, packets = 0, []
            if status != 200:
                self.closed = True
                return
            for packet in packets:
                if packet.type is PacketType.CLOSE:
                    self.closed = True
                    return
                yield encode_packet(packet)

    def abort(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            with trio.move_on_after(1) as scope:
                scope.shield = True
                with contextlib.suppress(OSError):
                    await _request(self.host, self.port, "POST", self.base, b"1")
