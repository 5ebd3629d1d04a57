"""Raw pycrdt and Loro maps: the documents of the suite's B3.1-B3.3.

Those rows set one key of a shared map from 20√N clients at once
(`doc.setMap('v', value)` in the suite's `js-lib/b3.js`). rtlab's strategies
are texts and have no map, so only the raw libraries run these rows, each
through its own map type (`pycrdt.Map`, Loro's `LoroDoc.get_map`), driven the
way the suite's Yjs and Loro factories drive theirs: one transaction (Loro:
one commit) per `set`, every update the document emits kept for
`take_outgoing`, and a batch of received updates integrated in one
transaction (the suite's `transact` around its `applyUpdate` loop).

Values are plain values, not nested shared types: the suite's factories pass
the JavaScript object of B3.2 to `map.set` as is, which both libraries store
as one JSON-like value. pycrdt, like Yjs, keeps numbers as doubles (3 comes
back as 3.0); Loro keeps integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from benchmarks.baselines import LoroDocument

MAP_NAME = "map"  # the root the suite's factories use (`getMap('map')`)


class MapDocument(Protocol):
    """One client's document with a shared map, as the map rows drive it."""

    def set(self, key: str, value: Any) -> None: ...

    def take_outgoing(self) -> list[bytes]: ...

    def receive_all(self, updates: list[bytes]) -> None: ...

    def entries(self) -> dict[str, Any]: ...

    def encode(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MapLibrary:
    """How a subject makes and loads map documents (a subject without one has none)."""

    create: Callable[[int], MapDocument]  # member index -> a document with its own client id
    load: Callable[[bytes], MapDocument]  # an encoded document -> a live one holding it


class PycrdtMap:
    """A pycrdt document with one `Map`; updates as Yrs emits them (v1 encoding)."""

    def __init__(self, client_id: int | None = None) -> None:
        from pycrdt import Doc, Map

        self.doc: Any = Doc() if client_id is None else Doc(client_id=client_id)
        self.map: Any = self.doc.get(MAP_NAME, type=Map)
        self._updates: list[bytes] = []
        self._receiving = False  # the document observer also sees integrated remote updates
        self._subscription = self.doc.observe(self._keep)

    def _keep(self, event: Any) -> None:
        if not self._receiving:
            self._updates.append(event.update)

    def set(self, key: str, value: Any) -> None:
        with self.doc.transaction():
            self.map[key] = value

    def take_outgoing(self) -> list[bytes]:
        out, self._updates = self._updates, []
        return out

    def receive_all(self, updates: list[bytes]) -> None:
        self._receiving = True
        try:
            with self.doc.transaction():
                for update in updates:
                    self.doc.apply_update(update)
        finally:
            self._receiving = False

    def entries(self) -> dict[str, Any]:
        return dict(self.map.to_py())

    def encode(self) -> bytes:
        return bytes(self.doc.get_update())

    @classmethod
    def load(cls, data: bytes) -> PycrdtMap:
        loaded = cls()
        loaded.receive_all([data])
        return loaded


class LoroMap(LoroDocument):
    """A Loro document with one map; one commit per `set`, snapshots as encoding."""

    def __init__(self, peer_id: int | None = None) -> None:
        super().__init__(peer_id)
        self.map: Any = self.doc.get_map(MAP_NAME)

    def set(self, key: str, value: Any) -> None:
        self.map.insert(key, value)
        self.doc.commit()

    def entries(self) -> dict[str, Any]:
        return dict(self.map.get_deep_value())


# Client ids as the raw text baselines use them (member i is client i + 1).
MAP_LIBRARIES = {
    "pycrdt (raw)": MapLibrary(lambda i: PycrdtMap(client_id=i + 1), PycrdtMap.load),
    "loro (raw)": MapLibrary(lambda i: LoroMap(peer_id=i + 1), LoroMap.load),
}
