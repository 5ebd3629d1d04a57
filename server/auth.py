"""Handshake authentication: HS256 tokens in the Socket.IO CONNECT `auth` payload.

With a secret configured, a connection must present `{token}` whose claims
carry `sub` (the user id) and optionally `name` and `admin`; the socket is
then bound to that user, so it can never act as another userId (handlers
refuse a different id with `forbidden`). Without a secret (local load tests)
anyone connects and identity comes from the payload or the first event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from server.errors import EventError

Authenticator = Callable[[dict[str, Any] | None], dict[str, Any]]


def token_authenticator(secret: str) -> Authenticator:
    def authenticate(auth: dict[str, Any] | None) -> dict[str, Any]:
        token = (auth or {}).get("token")
        if not isinstance(token, str) or not token:
            raise EventError("unauthorized", "a token is required (auth: {token})")
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["sub"]})
        except jwt.PyJWTError as exc:
            raise EventError("unauthorized", f"invalid token: {exc}") from None
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise EventError("unauthorized", "the token's sub must be a user id")
        identity: dict[str, Any] = {"user_id": sub, "user_name": str(claims.get("name") or sub)}
        if claims.get("admin") is True:
            identity["is_admin"] = True
        return identity

    return authenticate


def issue_token(secret: str, user_id: str, name: str | None = None, admin: bool = False) -> str:
    """For tests, bots and the CLI: a token the server configured with `secret` accepts."""
    claims: dict[str, Any] = {"sub": user_id}
    if name:
        claims["name"] = name
    if admin:
        claims["admin"] = True
    return jwt.encode(claims, secret, algorithm="HS256")
