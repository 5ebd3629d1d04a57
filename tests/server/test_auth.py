"""Handshake authentication with HS256 tokens: bad tokens refused, identities never forged."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from server.auth import issue_token
from simulate.client import ConnectRefused
from tests.server.memory_pair import reference_server

SECRET = "test-secret-of-at-least-thirty-two-bytes"


async def test_tokens_are_required_and_bind_the_user(tmp_path: Path) -> None:
    async with reference_server(tmp_path, auth_secret=SECRET) as pair:
        with pytest.raises(ConnectRefused) as missing:
            async with pair.client():
                pass
        assert missing.value.data == {
            "message": "a token is required (auth: {token})",
            "data": {"code": "unauthorized"},
        }

        forged = issue_token("another-secret-also-thirty-two-bytes-long", "ann")
        with pytest.raises(ConnectRefused) as bad:
            async with pair.client(auth={"token": forged}):
                pass
        assert "invalid token" in bad.value.data["message"]

        with pytest.raises(ConnectRefused):
            async with pair.client(auth={"token": "not.a.jwt"}):
                pass

        token = issue_token(SECRET, "ann", name="Ann")
        async with (
            pair.client(auth={"token": token}) as ann,
            pair.client(auth={"token": issue_token(SECRET, "bob")}) as bob,
        ):
            joined = await ann.call("join-room", "r", "ann")
            assert joined["ok"] is True
            assert joined["users"][0] == {**joined["users"][0], "id": "ann", "name": "Ann"}
            # a connection can never act as another user
            spoof = await bob.call("join-room", "r", "ann")
            assert spoof["ok"] is False and spoof["error"]["code"] == "forbidden"
            spoof_msg = await ann.call("send-message", "r", {"userId": "bob", "text": "hi"})
            assert spoof_msg["ok"] is False and spoof_msg["error"]["code"] == "forbidden"
            # ...and the socket keeps working
            assert (await ann.call("send-message", "r", {"text": "hello"}))["ok"] is True
            assert (await ann.call("notify", {"all": True}))["error"]["code"] == "forbidden"
        admin_token = issue_token(SECRET, "ops", admin=True)
        async with pair.client(auth={"token": admin_token}) as admin:
            reply = await admin.call("notify", {"all": True, "message": "hi"})
            assert reply["ok"] is True


async def test_rate_limit_refuses_bursts_and_the_socket_keeps_working(tmp_path: Path) -> None:
    async with reference_server(tmp_path, rate_limit=10) as pair, pair.client() as client:
        replies = [await client.call("typing", "r", "ann") for _ in range(40)]
        codes = [r["error"]["code"] for r in replies if not r["ok"]]
        # the first 20 (the burst) are handled, as the room was never joined: forbidden;
        # past the burst the bucket refuses before the handler runs
        assert codes.count("forbidden") >= 20
        assert codes.count("rate_limited") >= 10
        # tokens come back at 10/s: the socket keeps working
        with trio.fail_after(5):
            while not (await client.call("join-room", "r", "ann"))["ok"]:
                await trio.sleep(0.05)
