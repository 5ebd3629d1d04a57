"""Measurement rules shared by both load generators: the trio bot fleet and Locust.

`simulate/personas.py` + `simulate/fleet.py` (trio) and `locustfiles/`
(gevent) measure the same events the same way; what they share lives here
once. This module imports neither trio nor gevent (Locust must not load
trio; a test checks it), only the trio-free `simulate.scenarios` and the
event catalogue (`server.catalogue`), whose types both build requests from.

- `stamped_strategy`: where an op may carry `sentAt` (the strategy relays
  the op as sent), so that receivers can time `doc.remote`.
- `PeerClock`: one-way latency of broadcasts that carry no timestamp of ours
  (`user-typing`, `presence-update`), for receivers in the sender's process.
- `OpInstants`: OT may compose several edits into one op, which is timed
  from the oldest edit it covers.
- `Saturation`: the generator's own CPU rule (90 % of a core for 3 s).
- `main_event`, `membership_start`, `convergence_entry`, `chat_message`,
  `ack_error_code`, `filler`: small pieces whose results must agree between
  the two; `StampedCursorUpdate`, the one request beyond the catalogue.
- `versions`, `host`: what meta.json says about the generator (experiments too).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import socket
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from server.catalogue import CursorUpdate, ErrorCode, EventError, SendMessage
from server.collab import native
from simulate import metrics
from simulate.catalogue import catalogue_main_event
from simulate.scenarios import Scenario


def stamped_strategy(name: str) -> bool:
    """Whether ops of strategy `name` may carry `sentAt`: only where the strategy relays the op
    as sent (the strategy's own `stamped` flag in server.collab.registry says so)."""
    from server.collab.registry import stamped_strategy_names  # strategies load on first use

    return name in stamped_strategy_names()


PEER_NOTE_MAX_AGE_NS = 10_000_000_000
SATURATED_PERCENT = 90.0
SATURATED_SECONDS = 3
QUIET_NS = 300_000_000  # no delivery for this long after the last ack: the run has drained


class PeerClock:
    """When a user of this process acted in a way that others hear about without a stamp.

    `user-typing` and `presence-update` broadcasts carry no timestamp of ours
    (the server builds them): the sender notes when it acted, receivers in
    the same process look the act up here; receivers in other processes
    skip the measurement.

    Every act is kept (per sender, oldest first, at most `MAX_NOTES` and
    `MAX_AGE_NS` old), and every receiver has its own read position: the
    n-th broadcast a receiver hears is timed from the n-th act it could hear,
    i.e. the oldest note it has not used yet (notes older than the one it
    matched last are skipped). Keeping only the latest note would time a
    broadcast from a later act whenever delivery is slower than the acts'
    pace, and read far too low. A receiver calls `listen` when it joins:
    acts before that are not broadcast to it. A broadcast the server dropped
    (`user-typing` is volatile) leaves the receiver one act behind until the
    notes age out; a receiver that has used every note measures nothing.
    """

    MAX_AGE_NS = PEER_NOTE_MAX_AGE_NS
    MAX_NOTES = 1024  # per sender and detail

    def __init__(self) -> None:
        # (event, user, detail) -> (number of the first kept note, kept instants oldest first)
        self._notes: dict[tuple[str, str, str], tuple[int, deque[int]]] = {}
        # (event, user, detail, receiver) -> number of the next note that receiver may use
        self._positions: dict[tuple[str, str, str, str], int] = {}
        # receiver -> instant from which it hears broadcasts (its join)
        self._listening: dict[str, int] = {}

    def note(self, event: str, user_id: str, detail: str, at_ns: int) -> None:
        key = (event, user_id, detail)
        first, instants = self._notes.get(key) or (0, deque())
        instants.append(at_ns)
        while instants and (
            len(instants) > self.MAX_NOTES or at_ns - instants[0] > self.MAX_AGE_NS
        ):
            instants.popleft()
            first += 1
        self._notes[key] = (first, instants)

    def retract(self, event: str, user_id: str, detail: str, at_ns: int) -> None:
        """The act just noted did not leave after all (its emit failed): nobody will hear it."""
        entry = self._notes.get((event, user_id, detail))
        if entry is not None and entry[1] and entry[1][-1] == at_ns:
            entry[1].pop()

    def listen(self, receiver: str, at_ns: int) -> None:
        """`receiver` (re)joined at `at_ns`: it hears only acts from then on."""
        self._listening[receiver] = at_ns

    def since(
        self, event: str, user_id: str, detail: str, now_ns: int, receiver: str = ""
    ) -> int | None:
        """The instant of the act a broadcast heard by `receiver` at `now_ns` announces.

        None when there is no such act in this process (too old, or all used).
        """
        key = (event, user_id, detail)
        entry = self._notes.get(key)
        if entry is None:
            return None
        first, instants = entry
        position = (*key, receiver)
        index = max(self._positions.get(position, first), first)
        floor = max(
            self._listening.get(receiver, now_ns - self.MAX_AGE_NS), now_ns - self.MAX_AGE_NS
        )
        while index - first < len(instants):
            at = instants[index - first]
            if at > now_ns:
                return None  # not acted yet: this broadcast is not ours to time
            index += 1
            if at >= floor:
                self._positions[position] = index
                return at
        self._positions[position] = index
        return None


@dataclass
class OpInstants:
    """Scheduled instants of local edits not yet sent in an op (oldest first)."""

    unsent: deque[int] = field(default_factory=deque)

    def note(self, scheduled_ns: int) -> None:
        self.unsent.append(scheduled_ns)

    def for_ops(self, count: int, now_ns: Callable[[], int]) -> list[int]:
        """The instant each of `count` outgoing ops is timed from.

        One op per edit: each its own edit. Fewer ops than edits (OT composed
        them): the last op covers the rest and is timed from the oldest.
        An op without a noted edit (an OT op released by an ack) is timed
        from now.
        """
        instants = []
        for index in range(count):
            if index == count - 1 and self.unsent:
                instants.append(self.unsent[0])
                self.unsent.clear()
            else:
                instants.append(self.unsent.popleft() if self.unsent else now_ns())
        return instants


@dataclass
class Saturation:
    """Seconds above the threshold, in a row and in total, and the peak."""

    peak_percent: float = 0.0
    last_percent: float = 0.0
    streak: int = 0
    saturated_seconds: int = 0
    saturated: bool = False

    def update(self, cpu_percent: float) -> bool:
        """True when the process has just become saturated (warn once)."""
        self.peak_percent = max(self.peak_percent, cpu_percent)
        self.last_percent = cpu_percent
        if cpu_percent < SATURATED_PERCENT:
            self.streak = 0
            return False
        self.streak += 1
        self.saturated_seconds += 1
        if self.streak >= SATURATED_SECONDS and not self.saturated:
            self.saturated = True
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_percent": round(self.peak_percent, 1),
            "saturated": self.saturated,
            "saturated_seconds": self.saturated_seconds,
        }


def main_event(scenario: Scenario) -> str:
    """The headline latency of a scenario (meta.json `main_event`, the series' p50/p99)."""
    kinds = {p.kind for p in scenario.personas}
    if kinds & {"chatter", "typist"}:
        return "chat.echo"
    if "editor" in kinds:
        return "doc.ack"
    if "presence-churner" not in kinds and (catalogue := catalogue_main_event(kinds)):
        return catalogue
    return "presence.ack"


def membership_start(reply: dict[str, Any]) -> int | None:
    """Where a room membership starts, from a join-room ack: the last `seq` of its history.

    None when the server numbers no messages (delivery is then counted by send time).
    """
    seqs = [m.get("seq") for m in reply.get("history") or () if isinstance(m, dict)]
    numbered = [s for s in seqs if isinstance(s, int)]
    uses_seq = bool(numbered) or not seqs  # an empty history does not tell: assume seq
    return max(numbered, default=0) if uses_seq else None


def convergence_entry(
    document: str,
    strategy: str | None,
    texts: Sequence[str],
    *,
    editors: int,
    idle: bool,
    broken_sessions: int,
    server_text: str | None,
    server_keeps_text: bool = True,
) -> dict[str, Any]:
    """One document of convergence.json: replicas idle, equal to each other and to the server.

    A relay-only server (`server_keeps_text` False: the tutorial's) has no
    text to compare with: converged then means idle replicas that agree.
    `distinct_texts` and `divergence` (mean normalized edit distance to the
    most common text, 0 = all equal) say how far apart the editors ended.
    """
    texts_equal = len(set(texts)) <= 1
    distinct, divergence = _divergence(texts)
    entry: dict[str, Any] = {
        "document": document,
        "strategy": strategy,
        "editors": editors,
        "idle": idle,
        "broken_sessions": broken_sessions,
        "texts_equal": texts_equal,
        "server_length": None if server_text is None else len(server_text),
        "distinct_texts": distinct,
        "divergence": divergence,
    }
    if not server_keeps_text:
        return entry | {"server_keeps_text": False, "converged": idle and texts_equal}
    return entry | {
        "converged": idle
        and texts_equal
        and server_text is not None
        and all(t == server_text for t in texts)
    }


def _divergence(texts: Sequence[str]) -> tuple[int, float]:
    if not texts:
        return 0, 0.0
    reference = Counter(texts).most_common(1)[0][0]
    distinct, mean = metrics.divergence(texts, reference)
    return distinct, round(mean, 4)


def chat_message(
    room: str, user_id: str, number: int, text: str, scheduled_ns: int, run_tag: str
) -> SendMessage:
    """A load `send-message`: stamped with its scheduled instant and the run's tag.

    Everything a receiver measures rides inside the message, which servers
    relay unchanged: `id` and `n` (the sender's count: duplicates and order
    without a server seq), `sentAt` (the scheduled instant, ns), `run`. Every
    field is given, so a server that fills in nothing (the tutorial's) relays a
    whole message.
    """
    return SendMessage(
        room,
        text,
        id=f"{user_id}-{number}",
        user_id=user_id,
        user_name=user_id,
        timestamp=scheduled_ns // 1_000_000,
        sent_at=scheduled_ns,
        run=run_tag,
        n=number,
    )


@dataclass(frozen=True, slots=True)
class StampedCursorUpdate:
    """`cursor-update` with `sentAt` (ns) inside the cursor object, for a relay-only server.

    The tutorial's server relays the object as sent, so receivers can time
    `cursor.delivery`. The catalogue declares no stamp on cursors (rtlab
    rebuilds the broadcast and drops unknown keys), so this one request the
    harness declares itself, on top of the catalogue's `CursorUpdate`.
    """

    name: ClassVar[str] = CursorUpdate.name

    cursor: CursorUpdate
    sent_at: int

    @classmethod
    def parse(cls, args: list[Any]) -> Self:
        cursor = CursorUpdate.parse(args)
        sent_at = args[1].get("sentAt")
        if type(sent_at) is not int or sent_at < 0:
            raise EventError(ErrorCode.BAD_REQUEST, "cursor.sentAt must be ns since the epoch")
        return cls(cursor, sent_at)

    def to_args(self) -> list[Any]:
        document_id, body = self.cursor.to_args()
        return [document_id, {**body, "sentAt": self.sent_at}]


def ack_error_code(reply: Any) -> str:
    """The error kind of a refused ack (`{ok: false, error: {code}}`), else `bad_ack`."""
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        return str(reply["error"].get("code", "error"))
    return "bad_ack"


def versions(*packages: str, missing: str | None = "unknown") -> dict[str, str | None]:
    """Python's version and each installed package's (`missing` for one that is not).

    With rtlab's comes how its sequence CRDTs' keystroke path runs: compiled
    by mypyc or plain Python (`server.collab.native`), a 2x difference in
    their timings.
    """
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = missing
    if "rtlab" in packages:  # the same source runs compiled or as plain Python
        found["rtlab keystroke path"] = native.STATUS.describe()
    return found


def host() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def filler(rng: random.Random, size: int) -> str:
    """Seeded chat text of `size` characters (at least one)."""
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=max(1, size)))
