"""Strategies by name, each with the capabilities the rest of the lab asks about.

Adding a strategy is one module in `server/collab/` that calls `register` at
import time: the registry finds it by importing every module of the package
(`_load_builtins`), and everything that used to keep its own list of names
(trace replay, benchmarks, experiments, the fleet's op stamping) asks the
flags below instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.collab.base import CollabError, DocumentServer, Replica


@dataclass(frozen=True, slots=True)
class Strategy:
    """One conflict strategy: its two factories and what it can do."""

    name: str
    create_document: Callable[[], DocumentServer]
    # (replica_id, snapshot from DocumentServer.snapshot()) -> Replica
    create_replica: Callable[[str, dict[str, Any]], Replica]
    #: Every replica ends with the server's text at quiescence (naive: no).
    convergent: bool = True
    #: Ops commute under causal delivery, so replicas can merge without the server's
    #: ordering (CRDTs): what concurrent trace replay and peer-to-peer sync need.
    causal: bool = False
    #: The server relays an op exactly as sent, so a client may add fields to it
    #: (the fleet's `sentAt` stamp) and read them back from the broadcast.
    stamped: bool = False
    #: Every op carries the whole document (lww): quadratic on long traces.
    whole_document: bool = False
    #: State lives in a native library (Rust): tracemalloc cannot see its memory.
    native_heap: bool = False
    #: Its keystroke path is among `server.collab.native.COMPILED`: compiled by mypyc
    #: once `make native` has built it, plain Python otherwise (benchmarks say which).
    compiled: bool = False
    #: (replica_id, Replica.encode() output) -> Replica; None: the encoding is the
    #: JSON snapshot, read back through `create_replica`.
    decode_replica: Callable[[str, bytes], Replica] | None = None

    def load_replica(self, replica_id: str, data: bytes) -> Replica:
        """A replica rebuilt from `Replica.encode()` (or `DocumentServer.encode()`)."""
        if self.decode_replica is not None:
            return self.decode_replica(replica_id, data)
        import json

        return self.create_replica(replica_id, json.loads(data))


_STRATEGIES: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    _STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    _load_builtins()
    try:
        return _STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(_STRATEGIES))
        raise CollabError("bad_request", f"unknown strategy {name!r} (known: {known})") from None


def strategies() -> list[Strategy]:
    """Every registered strategy, by name."""
    _load_builtins()
    return [_STRATEGIES[name] for name in sorted(_STRATEGIES)]


def strategy_names() -> list[str]:
    return [s.name for s in strategies()]


def causal_strategy_names() -> list[str]:
    return [s.name for s in strategies() if s.causal]


def stamped_strategy_names() -> list[str]:
    return [s.name for s in strategies() if s.stamped]


_loaded = False


def _load_builtins() -> None:
    """Import every module of `server.collab`; strategy modules register themselves.

    A module whose own import fails because a library is missing is skipped
    (its strategy is then simply unknown); any other error is a bug and raised.
    """
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    import server.collab as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_"):  # private, e.g. the compiled build's group library
            continue
        name = f"{package.__name__}.{module.name}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                raise
    _loaded = True
