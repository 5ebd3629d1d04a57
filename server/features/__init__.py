"""Features register their handlers on the hub; this is the list of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.app import ReferenceServer


def install_features(server: ReferenceServer) -> None:
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

    server.presence = presence.install(server)
    server.chat = chat.install(server, server.presence)
    server.documents = documents.install(server)
    server.notifications = notifications.install(server)
    server.dashboards = dashboard.install(server)
    server.games = game.install(server)
    server.signaling = signaling.install(server)
    diagnostics.install(server)
    web.install(server)
