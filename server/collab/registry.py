"""Strategies by name: adding a strategy is one module plus one `register` call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.collab.base import CollabError, DocumentServer, Replica


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    create_document: Callable[[], DocumentServer]
    # (replica_id, snapshot from DocumentServer.snapshot()) -> Replica
    create_replica: Callable[[str, dict[str, Any]], Replica]
    convergent: bool = True
    # Ops commute under causal delivery, so replicas can merge without the server's
    # ordering (CRDTs): what concurrent trace replay and peer-to-peer sync need.
    causal: bool = False


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


def causal_strategy_names() -> list[str]:
    _load_builtins()
    return sorted(name for name, s in _STRATEGIES.items() if s.causal)


def strategy_names() -> list[str]:
    _load_builtins()
    return sorted(_STRATEGIES)


def _load_builtins() -> None:
    """Import the built-in strategy modules; each registers itself on import."""
    import importlib

    for module in ("naive", "ot", "fugue", "rga", "yjs", "lww"):
        try:
            importlib.import_module(f"server.collab.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"server.collab.{module}":
                raise
