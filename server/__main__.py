"""`python -m server`: run the reference server until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from server.app import ReferenceServer
from server.config import ServerConfig


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    defaults = ServerConfig()
    p = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    p.add_argument("--config", help="TOML file with a [server] table")
    p.add_argument("--host", help=f"address to bind (default {defaults.host})")
    p.add_argument(
        "--port", type=int, help=f"TCP port, 0 for any free one (default {defaults.port})"
    )
    p.add_argument("--path", help=f"Engine.IO path (default {defaults.path})")
    p.add_argument("--ping-interval", type=float, help="seconds (default 25)")
    p.add_argument("--ping-timeout", type=float, help="seconds (default 20)")
    p.add_argument("--max-payload", type=int, help="bytes (default 1000000)")
    p.add_argument(
        "--connect-timeout",
        type=float,
        help="seconds for a Socket.IO CONNECT after the handshake (45)",
    )
    p.add_argument(
        "--cors-origin", action="append", dest="cors_origins", help="repeatable; * for any"
    )
    p.add_argument("--namespace", action="append", dest="namespaces", help="repeatable")
    p.add_argument("--db", dest="db_path", help=f"SQLite file (default {defaults.db_path})")
    p.add_argument(
        "--auth-secret", help="HS256 secret: require signed tokens (or RTLAB_AUTH_SECRET)"
    )
    p.add_argument("--admin-token", help="token for POST /notify (or RTLAB_ADMIN_TOKEN)")
    p.add_argument("--default-strategy", help="conflict strategy for new documents")
    p.add_argument(
        "--rate-limit", type=float, help="events/s per socket, bursts of 2x (0 = off, default)"
    )
    p.add_argument("--dashboard-interval", type=float, help="seconds between dashboard-update (1)")
    p.add_argument("--game-tick-hz", type=float, help="game ticks per second (20)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    ns = p.parse_args(argv)
    base = ServerConfig.from_toml(ns.config) if ns.config else defaults
    base = ServerConfig.from_environment(base)
    values = vars(ns)
    values.pop("config")
    for key in ("cors_origins", "namespaces"):
        if values[key] is not None:
            values[key] = tuple(values[key])
    return base.with_overrides(**values)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    trio.run(serve_until_signalled, ReferenceServer(config))
    logging.getLogger("rtlab.server").info("stopped")
    return 0


async def serve_until_signalled(server: ReferenceServer) -> None:
    """Serve until SIGINT (Ctrl-C) or SIGTERM, then shut down cleanly: sessions are
    closed with a reason, a commit in progress finishes (what was not committed yet
    was never acknowledged), and the process exits 0."""
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await nursery.start(server.serve)
            async for signum in signals:
                logging.getLogger("rtlab.server").info(
                    "%s: shutting down", signal.Signals(signum).name
                )
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    sys.exit(main())
