"""WebRTC signaling through a client/server pair: relayed only to `to`, refused otherwise."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from tests.server.memory_pair import reference_server, refusal

SDP = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}


async def test_signals_reach_only_their_addressee(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, AsyncExitStack() as stack:
        a, b, c, outsider = [
            await stack.enter_async_context(pair.client(auth={"userId": name}))
            for name in ("ann", "bob", "cy", "out")
        ]
        sid = {
            name: pair.socket(client).sid
            for name, client in zip("abco", (a, b, c, outsider), strict=True)
        }
        assert await a.call("rtc-join", "call") == {
            "ok": True,
            "roomId": "call",
            "peerId": sid["a"],
            "peers": [],
        }
        assert (await b.call("rtc-join", "call"))["peers"] == [sid["a"]]
        assert (await c.call("rtc-join", "call"))["peers"] == [sid["a"], sid["b"]]
        await outsider.call("rtc-join", "other-call")

        offer = {"to": sid["b"], "sdp": SDP, "id": "o1", "sentAt": 5, "run": "r", "pad": "x"}
        assert await a.call("rtc-offer", offer) == {"ok": True, "to": sid["b"]}
        answer = {"to": sid["a"], "sdp": {"type": "answer", "sdp": "v=0"}, "id": "o1"}
        assert await b.call("rtc-answer", answer) == {"ok": True, "to": sid["a"]}
        for i in range(3):
            await a.emit("rtc-ice-candidate", {"to": sid["b"], "candidate": {"candidate": f"c{i}"}})
        await pair.settle()
        # unknown keys are dropped; the stamps travel; `from` names the sender
        assert pair.heard(b).events == [
            ("rtc-peer-joined", [{"peerId": sid["c"], "userId": "cy"}]),
            ("rtc-offer", [{"to": sid["b"], "sdp": SDP, "id": "o1", "sentAt": 5, "run": "r",
                            "from": sid["a"]}]),
        ] + [
            ("rtc-ice-candidate", [{"to": sid["b"], "candidate": {"candidate": f"c{i}"},
                                    "from": sid["a"]}])
            for i in range(3)
        ]  # fmt: skip
        assert pair.heard(a).events == [
            ("rtc-peer-joined", [{"peerId": sid["b"], "userId": "bob"}]),
            ("rtc-peer-joined", [{"peerId": sid["c"], "userId": "cy"}]),
            ("rtc-answer", [{**answer, "from": sid["b"]}]),
        ]
        assert pair.heard(c).events == pair.heard(outsider).events == []


async def test_a_signal_to_a_peer_not_in_a_room_with_you_is_refused(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair:
        async with pair.client() as a, pair.client() as outsider:
            await a.call("rtc-join", "call")
            await outsider.call("rtc-join", "other-call")
            stranger = pair.socket(outsider).sid
            for to in (stranger, "no-such-peer"):
                assert await a.call("rtc-offer", {"to": to, "sdp": SDP}) == refusal(
                    "not_found", f"peer {to!r} is not in an RTC room with you"
                )
            missing = await a.call("rtc-offer", {"to": stranger})
            assert missing == refusal("bad_request", "rtc-offer needs 'sdp'")
            await pair.settle()
            assert pair.heard(outsider).events == []


async def test_peers_hear_who_leaves_or_disconnects(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as pair, pair.client() as a:
        await a.call("rtc-join", "call")
        async with pair.client() as b:
            await b.call("rtc-join", "call")
            b_sid = pair.socket(b).sid
        async with pair.client(auth={"userId": "cy"}) as c:
            await c.call("rtc-join", "call")
            c_sid = pair.socket(c).sid
            assert await c.call("rtc-leave", "call") == {"ok": True, "roomId": "call"}
            assert await c.call("rtc-leave", "call") == refusal(
                "not_found", "not in RTC room 'call'"
            )
        await pair.settle()
        assert pair.heard(a).events == [
            ("rtc-peer-joined", [{"peerId": b_sid}]),
            ("rtc-peer-left", [{"peerId": b_sid}]),
            ("rtc-peer-joined", [{"peerId": c_sid, "userId": "cy"}]),
            ("rtc-peer-left", [{"peerId": c_sid, "userId": "cy"}]),
        ]
        assert [m.sid for m in pair.hub.namespaces["/"].members("rtc:call")] == [pair.socket(a).sid]
