"""What the trio client needs from a transport connection, and the client's errors.

A `Link` carries one Engine.IO session's packets in their WebSocket form
(text frames, binary frames; a polling link converts its payloads): a
WebSocket (`simulate.websocket_link`), long-polling (`simulate.polling_link`)
or the in-memory link of a virtual-time run (`simulate.network`). The
client (`simulate.client`) knows links only through this protocol, and the
links know nothing of the client: no import goes back up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol


class ClientError(Exception):
    """Base of the client's errors."""


class NotConnected(ClientError):
    """An emit while the link is down (the client does not buffer: bots count it as an error)."""


class ConnectionLost(ClientError):
    """The link dropped while we waited for an ack."""


class ConnectRefused(ClientError):
    """The server answered the Socket.IO CONNECT with CONNECT_ERROR."""

    def __init__(self, data: Any) -> None:
        super().__init__(data.get("message") if isinstance(data, dict) else str(data))
        self.data = data


class Link(Protocol):
    """One transport connection carrying Engine.IO packets (WebSocket, polling, in-memory)."""

    closed: bool

    async def send(self, message: str | bytes) -> None: ...

    def messages(self) -> AsyncIterator[str | bytes]: ...

    async def aclose(self) -> None: ...

    def abort(self) -> None:
        """Drop the connection without a goodbye (an abrupt disconnect)."""


LinkFactory = Callable[[], Awaitable[Link]]
