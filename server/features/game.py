"""Multiplayer game state: an authoritative tick loop per game.

Clients send sequence-numbered inputs; the server applies them at its own
pace (default 20 Hz) and emits `game-state` snapshots to the game's room.
Snapshots are *volatile*: a client that cannot keep up skips ticks instead
of queueing them, and a player who stops reading cannot slow the loop (emits
never wait). Each state carries `tick`, the server's send time `ts` (ms) and
every player's `lastSeq`, so clients can measure tick jitter, skipped ticks
and input-to-state latency.

The world is deliberately simple: players move on a 2-D plane by `{dx, dy}`
(each clamped to [-1, 1]) at `SPEED` units per input, bounded to the arena.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import trio

from server.catalogue import (
    GameReply,
    GameState,
    JoinGame,
    JoinGameReply,
    LeaveGame,
    PlayerInput,
    PlayerInputReply,
    PlayerState,
)
from server.errors import ErrorCode, EventError
from server.hub import Hub, Socket
from server.rooms import game_room
from server.services import Clock, Services, StartTask

ARENA = 100.0
SPEED = 1.0
MAX_QUEUED_INPUTS = 64
# games one connection may play at once (each game runs a tick loop)
MAX_GAMES_PER_SOCKET = 10


def install(hub: Hub, services: Services) -> Games:
    games = Games(hub, services)
    hub.on(JoinGame)(games.on_join_game)
    hub.on(LeaveGame)(games.on_leave_game)
    hub.on(PlayerInput)(games.on_player_input)
    hub.on_disconnect(games.on_disconnect)
    return games


@dataclass(slots=True)
class Player:
    id: str
    sock: Socket
    x: float = ARENA / 2
    y: float = ARENA / 2
    last_seq: int = -1
    inputs: deque[tuple[int, float, float]] = field(default_factory=deque)

    def as_state(self) -> PlayerState:
        return PlayerState(round(self.x, 3), round(self.y, 3), self.last_seq)


@dataclass(slots=True)
class Game:
    id: str
    players: dict[str, Player] = field(default_factory=dict)
    tick: int = 0
    cancel: trio.CancelScope = field(default_factory=trio.CancelScope)
    # actual tick intervals (s) for jitter stats; bounded
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def room(self) -> str:
        return game_room(self.id)

    def snapshot(self, clock: Clock) -> GameState:
        players = {pid: p.as_state() for pid, p in self.players.items()}
        return GameState(self.id, self.tick, clock.wall_ms(), players)


class Games:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.clock = services.clock
        self.start_task: StartTask = services.start_task
        self.tick_interval = 1.0 / services.config.game_tick_hz
        self.games: dict[str, Game] = {}

    # ---------------------------------------------------------------- events
    async def on_join_game(self, sock: Socket, join: JoinGame) -> JoinGameReply:
        game_id, player_id = join.game_id, join.player_id
        self.hub.act_as(sock, player_id)
        playing = sock.state.get("games", {})
        if game_id not in playing and len(playing) >= MAX_GAMES_PER_SOCKET:
            raise EventError(
                ErrorCode.RATE_LIMITED,
                f"a connection may play at most {MAX_GAMES_PER_SOCKET} games: leave one first",
            )
        game = self.games.get(game_id)
        existing = game.players.get(player_id) if game is not None else None
        if existing is not None and existing.sock is not sock and existing.sock.connected:
            raise EventError(
                ErrorCode.CONFLICT, f"player {player_id!r} is already in game {game_id!r}"
            )
        if game is None:
            game = self.games[game_id] = Game(game_id)
            self.start_task(self._run, game)
        game.players[player_id] = Player(player_id, sock)
        sock.join(game.room)
        sock.state.setdefault("games", {})[game_id] = player_id
        return JoinGameReply(game.snapshot(self.clock), 1.0 / self.tick_interval)

    async def on_leave_game(self, sock: Socket, leave: LeaveGame) -> GameReply:
        if leave.game_id not in sock.state.get("games", {}):
            raise EventError(ErrorCode.NOT_FOUND, f"not in game {leave.game_id!r}")
        self._leave(sock, leave.game_id)
        return GameReply(leave.game_id)

    async def on_player_input(self, sock: Socket, move: PlayerInput) -> PlayerInputReply:
        game_id = move.game_id
        player_id = sock.state.get("games", {}).get(game_id)
        game = self.games.get(game_id)
        if player_id is None or game is None or player_id not in game.players:
            raise EventError(ErrorCode.FORBIDDEN, f"join game {game_id!r} before sending input")
        player = game.players[player_id]
        newest = player.inputs[-1][0] if player.inputs else player.last_seq
        if move.seq <= newest:
            raise EventError(ErrorCode.CONFLICT, f"input seq {move.seq} is not after {newest}")
        if len(player.inputs) >= MAX_QUEUED_INPUTS:
            raise EventError(ErrorCode.RATE_LIMITED, "too many inputs queued for one tick")
        player.inputs.append((move.seq, move.dx, move.dy))
        return PlayerInputReply(move.seq, game.tick)

    def on_disconnect(self, sock: Socket, reason: str) -> None:
        for game_id in list(sock.state.get("games", {})):
            self._leave(sock, game_id)

    # ------------------------------------------------------------- tick loop
    async def _run(self, game: Game) -> None:
        with game.cancel:
            next_tick = trio.current_time()
            last = next_tick
            while True:
                next_tick += self.tick_interval
                await trio.sleep_until(next_tick)
                now = trio.current_time()
                game.intervals.append(now - last)
                last = now
                if now - next_tick > self.tick_interval:
                    next_tick = now  # we fell behind: skip ticks rather than burst
                self._step(game)

    def _step(self, game: Game) -> None:
        game.tick += 1
        for player in game.players.values():
            while player.inputs:
                seq, dx, dy = player.inputs.popleft()
                player.x = min(ARENA, max(0.0, player.x + dx * SPEED))
                player.y = min(ARENA, max(0.0, player.y + dy * SPEED))
                player.last_seq = seq
        state = None
        for ns in self.hub.namespaces.values():
            if ns.has_room(game.room):
                state = state or game.snapshot(self.clock)
                self.hub.emit_event(state, namespace=ns, to=game.room, volatile=True)

    def _leave(self, sock: Socket, game_id: str) -> None:
        player_id = sock.state.get("games", {}).pop(game_id, None)
        sock.leave(game_room(game_id))
        game = self.games.get(game_id)
        if game is None or player_id is None:
            return
        player = game.players.get(player_id)
        if player is not None and player.sock is sock:
            del game.players[player_id]
        if not game.players:
            game.cancel.cancel()
            del self.games[game_id]

    def tick_jitter_ms(self) -> dict[str, float | None]:
        """p50/p99 of |actual interval - nominal| over every game's recent ticks."""
        deviations = sorted(
            abs(i - self.tick_interval) * 1000 for g in self.games.values() for i in g.intervals
        )
        if not deviations:
            return {"p50": None, "p99": None}
        pick = lambda q: round(deviations[min(len(deviations) - 1, int(q * len(deviations)))], 3)  # noqa: E731
        return {"p50": pick(0.5), "p99": pick(0.99)}
