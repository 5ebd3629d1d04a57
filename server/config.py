"""Server configuration: one frozen dataclass, built from CLI flags, environment or TOML.

Options mirror socket.io's where they exist (path, pingInterval,
pingTimeout, maxPayload, cors origins) so that users can carry their
settings over; durations are stored in seconds.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    path: str = "/socket.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    connect_timeout: float = 45.0
    # Origins allowed to use long-polling across origins; ("*",) allows any.
    cors_origins: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] = ("/", "/api/socket")
    # A connection's unsent bytes above this are a slow consumer: volatile
    # events are dropped from half of it on, and past it the socket is closed.
    outbox_max_bytes: int = 4 * 1024 * 1024
    db_path: str = "rtlab.sqlite3"
    history_size: int = 50
    # `users` in user-joined/user-left broadcasts lists at most this many users
    # (plus `userCount`): a full list per join costs O(room size²) bytes per room.
    room_users_limit: int = 50
    # HS256 secret for handshake tokens; None disables auth (the default for local tests).
    auth_secret: str | None = None
    admin_token: str | None = None
    # naive by default: the tutorial's editor sends naive changes and must work unchanged
    default_strategy: str = "naive"
    # events per second per socket (bursts of twice that); 0 disables the limit
    rate_limit: float = 0.0
    dashboard_interval: float = 1.0
    game_tick_hz: float = 20.0
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> ServerConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_toml(cls, path: str | Path) -> ServerConfig:
        """Read a `[server]` table (keys as the dataclass fields) from a TOML file."""
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("server", {})
        names = {f.name for f in fields(cls)}
        unknown = set(table) - names
        if unknown:
            raise ValueError(f"unknown [server] keys in {path}: {', '.join(sorted(unknown))}")
        for key in ("cors_origins", "namespaces"):
            if key in table:
                table[key] = tuple(table[key])
        return cls(**table)

    @classmethod
    def from_environment(cls, base: ServerConfig | None = None) -> ServerConfig:
        """RTLAB_ADMIN_TOKEN and RTLAB_AUTH_SECRET keep secrets out of argv."""
        base = base or cls()
        return base.with_overrides(
            admin_token=os.environ.get("RTLAB_ADMIN_TOKEN") or None,
            auth_secret=os.environ.get("RTLAB_AUTH_SECRET") or None,
        )
