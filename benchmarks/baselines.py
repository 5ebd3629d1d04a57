"""Raw libraries replaying editing traces: the baselines our strategies are compared with.

Same run, same process, same patches: absolute figures drift between machines
and runs, ratios within one run do not (much). Each baseline drives the
library the way an editor binding would, with nothing of rtlab in between:

* `str splice`: a plain Python string, the floor for any pure-Python structure;
* `pycrdt` (Yjs in Rust): one transaction per patch. pycrdt's `Text` indexes
  UTF-8 *bytes* while traces count code points, so positions are converted
  inside the timed loop (O(1) while the text is ASCII, then a chunked map,
  `server.collab.yjs.Utf8Units`): that conversion is what any Python caller of
  pycrdt pays. Passing code points unconverted replays a different document
  on non-ASCII text (it used to, here);
* `loro` (Loro, Rust, Fugue family): code-point positions, one commit per
  patch as a live editor would (Loro batches uncommitted edits otherwise),
  with its update exported ("update"), without ("commit"), or one commit at
  the end ("batched"): see `library_sequential`.

Concurrent traces are replayed with one document per agent, exchanging each
transaction's update in causal order (`simulate.traces.replay_causally`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulate.traces import agent_count, replay_causally


@dataclass(frozen=True, slots=True)
class BaselineRun:
    name: str
    seconds: float
    text: str
    state_bytes: int  # the library's own binary snapshot (str: UTF-8 bytes)


# ------------------------------------------------------------------ adapters
class PycrdtText:
    """A pycrdt document driven with code-point positions, one transaction per edit."""

    name = "pycrdt"

    def __init__(self, client_id: int | None = None) -> None:
        from pycrdt import Doc, Text

        from server.collab.yjs import Utf8Units

        self._units_type = Utf8Units
        self.doc: Any = Doc() if client_id is None else Doc(client_id=client_id)
        self.text: Any = self.doc.get("text", type=Text)
        self._units: Any = None  # None while the text is all ASCII
        self._updates: list[bytes] = []
        self._deltas: list[Any] = []
        self._receiving = False
        self._subscription = self.doc.observe(lambda event: self._updates.append(event.update))
        # The native text observer, as server/collab/yjs.py uses it: received
        # changes arrive as byte-counted deltas that keep the unit map current.
        self._text_subscription = self.text.integrated.observe(self._on_text_event)

    def _on_text_event(self, event: Any) -> None:
        if self._receiving:
            self._deltas.append(event.delta)

    def _offset(self, pos: int) -> int:
        return pos if self._units is None else self._units.byte_offset(pos)

    def insert(self, pos: int, text: str) -> None:
        if self._units is None and not text.isascii():
            self._units = self._units_type(str(self.text))
        with self.doc.transaction():
            self.text.insert(self._offset(pos), text)
        if self._units is not None:
            self._units.insert(pos, text)

    def delete(self, pos: int, length: int) -> None:
        with self.doc.transaction():
            start = self._offset(pos)
            del self.text[start : self._offset(pos + length)]
        if self._units is not None:
            self._units.delete(pos, length)

    def take_outgoing(self) -> list[bytes]:
        out, self._updates = self._updates, []
        return out

    def receive(self, update: bytes) -> None:
        self._receiving = True
        try:
            self.doc.apply_update(update)
        finally:
            self._receiving = False
        self._updates.clear()  # applying a remote update is not ours to send
        deltas, self._deltas = self._deltas, []
        if self._units is not None:
            for delta in deltas:
                self._units.apply_delta(delta)
        elif any(not str(c.get("insert", "")).isascii() for d in deltas for c in d):
            self._units = self._units_type(str(self.text))  # someone else's first non-ASCII

    def receive_all(self, updates: list[bytes]) -> None:
        for update in updates:
            self.receive(update)

    def value(self) -> str:
        return str(self.text)

    def encode(self) -> bytes:
        return bytes(self.doc.get_update())

    @classmethod
    def load(cls, data: bytes) -> PycrdtText:
        doc = cls()
        doc.doc.apply_update(data)
        return doc


class LoroDocument:
    """A Loro document with its local updates captured, snapshots as encoding.

    The shared part of the text baseline here and the map baseline of the
    CRDT suite (`benchmarks.crdt.maps`): a subclass adds its container.
    """

    def __init__(self, peer_id: int | None = None, *, export_updates: bool = True) -> None:
        from loro import ExportMode, LoroDoc

        self._snapshot_mode = ExportMode.Snapshot()
        self.doc: Any = LoroDoc()  # type: ignore[no-untyped-call, unused-ignore]
        if peer_id is not None:
            self.doc.peer_id = peer_id
        self._updates: list[bytes] = []
        # Without the subscription a commit still closes a change, but no update
        # crosses into Python: most of the cost of an update per keystroke.
        self._subscription = self.doc.subscribe_local_update(self._keep) if export_updates else None

    def _keep(self, update: bytes) -> bool:
        self._updates.append(update)
        return True  # stay subscribed

    def take_outgoing(self) -> list[bytes]:
        self.doc.commit()
        out, self._updates = self._updates, []
        return out

    def receive(self, update: bytes) -> None:
        self.doc.import_(update)

    def receive_all(self, updates: list[bytes]) -> None:
        self.doc.import_batch(updates)

    def encode(self) -> bytes:
        return bytes(self.doc.export(self._snapshot_mode))

    @classmethod
    def load(cls, data: bytes) -> Any:
        loaded = cls()
        loaded.doc.import_(data)
        return loaded


class LoroText(LoroDocument):
    """A Loro text, code-point positions, one commit per `take_outgoing`."""

    name = "loro"

    def __init__(self, peer_id: int | None = None, *, export_updates: bool = True) -> None:
        super().__init__(peer_id, export_updates=export_updates)
        self.text: Any = self.doc.get_text("text")

    def insert(self, pos: int, text: str) -> None:
        self.text.insert(pos, text)

    def delete(self, pos: int, length: int) -> None:
        self.text.delete(pos, length)

    def value(self) -> str:
        return str(self.text.to_string())


LIBRARIES: dict[str, Callable[[int], Any]] = {
    "pycrdt": lambda agent: PycrdtText(client_id=agent + 1),
    "loro": lambda agent: LoroText(peer_id=agent + 1),
}


# ------------------------------------------------------------------ replays
def str_sequential(patches: list[list[Any]], start: str = "") -> BaselineRun:
    text = start
    began = time.perf_counter()
    for pos, deleted, inserted in patches:
        text = text[:pos] + inserted + text[pos + deleted :]
    seconds = time.perf_counter() - began
    return BaselineRun("str splice", seconds, text, len(text.encode()))


SEQUENTIAL_MODES = ("update", "commit", "batched")


def library_sequential(
    name: str, patches: list[list[Any]], start: str = "", *, mode: str = "update"
) -> BaselineRun:
    """One document, every patch as one edit.

    `mode` says what a patch costs besides the edit:

    * "update": one transaction / commit per patch, and its update taken as
      bytes, as a live editor sends each keystroke (the comparison our
      replicas' figures are for: they produce an op per patch);
    * "commit" (Loro only): one commit per patch, but no update exported
      into Python. The figure the strategy-comparison issue quoted for Loro
      (0.40 s on automerge-paper) is this one;
    * "batched": one commit at the end: the library's fastest path, but no
      update per keystroke, so nothing a live editor could send.
    """
    if mode not in SEQUENTIAL_MODES or (mode == "commit" and name != "loro"):
        raise ValueError(f"{name} has no {mode!r} mode")
    doc = LoroText(1, export_updates=False) if mode == "commit" else LIBRARIES[name](0)
    if start:
        doc.insert(0, start)
        doc.take_outgoing()
    insert, delete, commit = doc.insert, doc.delete, doc.take_outgoing
    began = time.perf_counter()
    for pos, deleted, inserted in patches:
        if deleted:
            delete(pos, deleted)
        if inserted:
            insert(pos, inserted)
        if mode != "batched":
            commit()
    commit()
    seconds = time.perf_counter() - began
    label = name if mode == "update" else f"{name} {mode}"
    return BaselineRun(label, seconds, doc.value(), len(doc.encode()))


def library_concurrent(name: str, trace: dict[str, Any]) -> BaselineRun:
    """One document per agent, updates exchanged in causal order; text of agent 0."""
    docs = [LIBRARIES[name](agent) for agent in range(agent_count(trace))]
    began = time.perf_counter()
    replay_causally(trace["txns"], docs)
    seconds = time.perf_counter() - began
    texts = {doc.value() for doc in docs}
    text = texts.pop() if len(texts) == 1 else "<replicas differ>"
    return BaselineRun(name, seconds, text, len(docs[0].encode()))
