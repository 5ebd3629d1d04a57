"""The reference server: the catalogue's features on rtlab's server library, composed here.

This module is the composition root and nothing else: it builds the
storage, the Socket.IO hub, the user directory and the services, installs
the features, and mounts the hub on the configured Engine.IO path of a
`server.serving.Server` (which routes requests: Engine.IO paths,
`/healthz`, the features' HTTP routes, the demo page). Anything the
reference server does, an application built on the same API could do
(docs/build-your-own-app.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from server.auth import token_authenticator
from server.config import ServerConfig
from server.engine import EngineServer
from server.features import install_features
from server.features.chat import ChatRooms
from server.features.dashboard import Dashboards
from server.features.documents import Documents
from server.features.game import Games
from server.features.notifications import Notifications
from server.features.presence import Presence
from server.features.signaling import Signaling
from server.hub import Hub, HubOptions
from server.services import Gauges, Services, SystemClock
from server.serving import Server
from server.storage.ports import Storage
from server.storage.sqlite import SqliteStorage
from server.users import UserDirectory


class ReferenceServer(Server):
    """Every feature of the catalogue (or those named in `features`) on one port."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        inline_store: bool = False,
        features: Iterable[str] | None = None,
    ) -> None:
        super().__init__(config)
        clock = SystemClock()
        self.storage: Storage = SqliteStorage(config.db_path, inline=inline_store)
        self.on_startup(self.storage.open)
        self.run_alongside(self.storage.run)
        self.on_shutdown(self.storage.close)

        self.hub = Hub(
            HubOptions(
                namespaces=config.namespaces,
                connect_timeout=config.connect_timeout,
                rate_limit=config.rate_limit,
                admin_token=config.admin_token,
            )
        )
        if config.auth_secret:
            self.hub.authenticate = token_authenticator(config.auth_secret)
        self.users = UserDirectory(clock.wall_ms)
        self.gauges = Gauges()
        self.services = Services(
            config, self.storage, self.start_task, clock, self.users, self.gauges, self
        )
        self.hub.on_identify(self.users.attach)
        self.features: dict[str, Any] = install_features(self.hub, self.services, features)
        # after every feature's hook: they still see the leaving socket among its user's
        self.hub.on_disconnect(self.users.detach)

        self.engine: EngineServer = self.mount(config.path, self.hub)
        self.gauges.register("sessions", lambda: len(self.engine.sessions))
        self.gauges.register("users_online", lambda: self.users.online_count)

    def health(self) -> dict[str, object]:
        return {**super().health(), "connections": self.hub.connection_count}

    # the installed features, typed (a feature left out raises KeyError)
    @property
    def presence(self) -> Presence:
        return cast(Presence, self.features["presence"])

    @property
    def chat(self) -> ChatRooms:
        return cast(ChatRooms, self.features["chat"])

    @property
    def documents(self) -> Documents:
        return cast(Documents, self.features["documents"])

    @property
    def notifications(self) -> Notifications:
        return cast(Notifications, self.features["notifications"])

    @property
    def dashboards(self) -> Dashboards:
        return cast(Dashboards, self.features["dashboard"])

    @property
    def games(self) -> Games:
        return cast(Games, self.features["game"])

    @property
    def signaling(self) -> Signaling:
        return cast(Signaling, self.features["signaling"])
