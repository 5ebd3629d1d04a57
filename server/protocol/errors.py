"""The one exception family for everything the protocol layer refuses.

Modelled on h11/wsproto: `RemoteProtocolError` means the *peer* sent
something malformed (the server closes that one connection and keeps serving
everyone else); `LocalProtocolError` means *we* asked the codec to do
something impossible, which is a bug in our code. Both derive from
`ProtocolError`, so a transport can guard a decode with one `except`.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every error raised by server.protocol."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not valid Engine.IO / Socket.IO / WebSocket."""


class PayloadTooLarge(RemoteProtocolError):
    """A message or polling payload exceeds the negotiated maxPayload."""


class LocalProtocolError(ProtocolError):
    """We tried to encode something the protocol cannot express."""
