"""An Engine.IO application: raw messages over one session, no Socket.IO on top.

For peers that speak Engine.IO only (the official engine.io test suite, a
custom protocol on socket.io's transports): every message a client sends
reaches `on_message`, and the application answers with `EngineSocket.send`.
Mounted like a Socket.IO hub: `server.mount("/engine.io/", EngineApp(...))`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from server.engine import EngineSession
from server.protocol.engineio import encode_message
from server.transport.base import Outgoing

log = logging.getLogger(__name__)

MessageHandler = Callable[["EngineSocket", str | bytes], Awaitable[None] | None]
SocketHook = Callable[["EngineSocket"], None]
CloseHook = Callable[["EngineSocket", str], None]


class EngineSocket:
    """One client session, as an Engine.IO application sees it (`SessionHandler`)."""

    __slots__ = ("app", "session")

    def __init__(self, app: EngineApp, session: EngineSession) -> None:
        self.app = app
        self.session = session

    @property
    def sid(self) -> str:
        return self.session.sid

    def send(self, data: str | bytes) -> bool:
        """One MESSAGE packet (text or binary) to this client; False if it cannot go out."""
        return self.session.send(Outgoing(encode_message(data)))

    def close(self, reason: str = "server close") -> None:
        self.session.close(reason)

    # ----------------------------------------------------- SessionHandler
    async def on_message(self, data: str | bytes) -> None:
        result = self.app.message_handler(self, data)
        if inspect.isawaitable(result):
            await result

    def on_close(self, reason: str) -> None:
        if self.app.close_hook is not None:
            self.app.close_hook(self, reason)

    @property
    def deadline(self) -> float | None:
        return None

    def expire(self, now: float) -> str | None:
        return None


class EngineApp:
    def __init__(
        self,
        on_message: MessageHandler,
        *,
        on_open: SocketHook | None = None,
        on_close: CloseHook | None = None,
    ) -> None:
        self.message_handler = on_message
        self.open_hook = on_open
        self.close_hook = on_close

    def session_handler(self, session: EngineSession) -> EngineSocket:
        sock = EngineSocket(self, session)
        if self.open_hook is not None:
            self.open_hook(sock)
        return sock
