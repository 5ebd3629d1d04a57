"""The multiplayer game through a client/server pair: joins, inputs applied in order, ticks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.server.memory_pair import RECENT_MS, reference_server, refusal, wait_until

HZ = 100.0  # ticks per second: the tests wait for ticks, never for a duration


def player(x: float, y: float, last_seq: int) -> dict[str, Any]:
    return {"x": x, "y": y, "lastSeq": last_seq}


def move(seq: int, dx: Any = 0, dy: Any = 0) -> dict[str, Any]:
    return {"seq": seq, "input": {"dx": dx, "dy": dy}}


async def test_join_inputs_in_order_and_the_ticks_that_reflect_them(tmp_path: Path) -> None:
    async with reference_server(tmp_path, game_tick_hz=HZ) as pair:
        async with pair.client() as p1, pair.client() as p2:
            joined = await p1.call("join-game", "arena", "p1")
            assert joined == {
                "ok": True,
                "gameId": "arena",
                "tick": joined["tick"],
                "ts": RECENT_MS,
                "players": {"p1": player(50.0, 50.0, -1)},
                "tickRate": HZ,
            }
            await p2.call("join-game", "arena", "p2")
            for seq in range(5):
                ack = await p1.call("player-input", "arena", move(seq, dx=1))
                assert ack == {"ok": True, "seq": seq, "tick": ack["tick"]}
            for seq in range(3):  # clamped to [-1, 1]
                await p2.emit("player-input", "arena", move(seq, dy=-7))

            heard = pair.heard(p1)

            def caught_up(states: list[Any]) -> bool:
                return bool(states) and states[-1]["players"] == {
                    "p1": player(55.0, 50.0, 4),
                    "p2": player(50.0, 47.0, 2),
                }

            await heard.until(lambda: caught_up(heard.of("game-state")))
            states = heard.of("game-state")
            assert states[-1] == {
                "gameId": "arena",
                "tick": states[-1]["tick"],
                "ts": RECENT_MS,
                "players": {"p1": player(55.0, 50.0, 4), "p2": player(50.0, 47.0, 2)},
            }
            ticks = [state["tick"] for state in states]
            assert ticks == sorted(set(ticks))
            # every state in between is some prefix of each player's inputs, in order
            seqs = [(s["players"]["p1"]["lastSeq"], s["players"].get("p2", {}).get("lastSeq", -1))
                    for s in states]  # fmt: skip
            assert seqs == sorted(seqs)
            for state in states:
                p1_state = state["players"]["p1"]
                assert p1_state["x"] == 50.0 + p1_state["lastSeq"] + 1
            # the whole room hears the ticks
            await pair.heard(p2).until(lambda: caught_up(pair.heard(p2).of("game-state")))


async def test_inputs_that_are_refused(tmp_path: Path) -> None:
    async with reference_server(tmp_path, game_tick_hz=HZ) as pair:
        async with pair.client() as p1, pair.client() as other:
            await p1.call("join-game", "arena", "p1")
            assert (await p1.call("player-input", "arena", move(3)))["ok"]
            assert await p1.call("player-input", "arena", move(3)) == refusal(
                "conflict", "input seq 3 is not after 3"
            )
            bad = await p1.call("player-input", "arena", move(9, dx="left"))
            assert bad["error"]["code"] == "bad_request"
            assert await other.call("player-input", "arena", move(1)) == refusal(
                "forbidden", "join game 'arena' before sending input"
            )
            assert await other.call("join-game", "arena", "p1") == refusal(
                "conflict", "player 'p1' is already in game 'arena'"
            )
            assert await other.call("leave-game", "arena") == refusal(
                "not_found", "not in game 'arena'"
            )


async def test_the_loop_stops_when_the_last_player_goes(tmp_path: Path) -> None:
    async with reference_server(tmp_path, game_tick_hz=HZ) as pair:
        games = pair.server.games.games
        async with pair.client() as p1:
            await p1.call("join-game", "arena", "p1")
            async with pair.client() as p2:
                await p2.call("join-game", "arena", "p2")
                assert set(games["arena"].players) == {"p1", "p2"}
            await wait_until(lambda: set(games["arena"].players) == {"p1"})
            await pair.heard(p1).wait_for("game-state")
            assert await p1.call("leave-game", "arena") == {"ok": True, "gameId": "arena"}
            assert "arena" not in games
            await pair.settle()
            count = len(pair.heard(p1).of("game-state"))
            # p1 left the arena's room: what it hears next is the other game's
            joined = await p1.call("join-game", "other", "p1")
            assert joined["players"] == {"p1": player(50.0, 50.0, -1)}
            await pair.heard(p1).wait_for("game-state", count + 1)
            assert {s["gameId"] for s in pair.heard(p1).of("game-state")[count:]} == {"other"}
