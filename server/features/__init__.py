"""The catalogue's features, in the order they are installed.

A feature is one module with `install(hub, services) -> object`: it
registers its handlers and hooks on the hub and takes what it needs from the
services (storage ports, tasks, clock, users, gauges, routes). Features do
not import each other; what they share goes through the hub (rooms,
sockets) or the services (the user directory). Adding a feature is one
module and one line below.

The order matters for disconnect hooks, which run in installation order
while the socket is still in its rooms: presence first, so that it still
sees every chat room of a user going offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from server.features import (
    chat,
    dashboard,
    diagnostics,
    documents,
    game,
    notifications,
    presence,
    signaling,
    web,
)
from server.hub import Hub
from server.services import Services

Install = Callable[[Hub, Services], Any]

FEATURES: dict[str, ModuleType] = {
    "presence": presence,
    "chat": chat,
    "documents": documents,
    "notifications": notifications,
    "dashboard": dashboard,
    "game": game,
    "signaling": signaling,
    "diagnostics": diagnostics,
    "web": web,
}


def install_features(
    hub: Hub, services: Services, names: Iterable[str] | None = None
) -> dict[str, Any]:
    """Install the named features (all by default), in the list's order; name -> feature."""
    wanted = list(FEATURES) if names is None else list(names)
    unknown = [name for name in wanted if name not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features: {', '.join(unknown)} (known: {', '.join(FEATURES)})")
    return {name: FEATURES[name].install(hub, services) for name in FEATURES if name in wanted}
