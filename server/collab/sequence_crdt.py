"""Replica and DocumentServer shared by the element-id sequence CRDTs (Fugue, RGA).

Both algorithms give every character an id `[replica, counter]` (counters are
dense per replica: a replica's n-th typed character has counter n), keep
deleted characters as tombstones, and differ only in the metadata an insert
carries and in where a concurrent insert lands. So the wire handling, the
server's validation, cursors and snapshots live here once, and each algorithm
supplies a small `SequenceRules` object.

Wire format (JSON-compatible dicts)::

    {"type": "insert", "id": [replica, counter], "left": [replica, counter] | null,
     "text": "abc", ...rule fields}
    {"type": "delete", "ranges": [[replica, counter, length], ...]}

An insert is a *run*: character k of `text` gets id `[replica, counter + k]`
and (for k > 0) the character before it as left origin, so typing a word is
one op, not one per character (outgoing ops are coalesced while queued).
`left` is the character the run was typed after (null: document start).
A delete names the ids it removes, never positions, so it commutes with
everything; deleting a tombstone again is a no-op.

The server only relays: it applies each op to its own copy (to validate it and
to answer snapshots) and broadcasts the op unchanged. Ops from one replica
must arrive in counter order (one ordered link per client guarantees it); a
repeated insert whose ids are all known is acknowledged as a duplicate and not
broadcast again.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from server.collab.base import Applied, CollabError, DocumentServer, Replica
from server.collab.keystrokes import one_range_delete, typing_on
from server.collab.local_edits import LocalEdits
from server.collab.run_encoding import decode_runs, encode_runs
from server.collab.run_sequence import SHIFT, RunSequence


class SequenceRules:
    """What one algorithm adds to the shared element list."""

    #: Fugue keeps each run's right origin and sends it as an insert's `right` (its
    #: only field beyond id, left and text); RGA does neither.
    track_right: ClassVar[bool] = True

    #: True when a local run's `seq` is its first counter (Fugue): no `local_seq` call.
    seq_is_counter: ClassVar[bool] = True

    #: True when runs carry Lamport stamps that order siblings (RGA): which of
    #: `RunSequence.extend_run`'s two in-place tests a remote keystroke takes.
    lamport: ClassVar[bool] = False

    def local_seq(self, core: RunSequence, counter: int) -> int:
        """The `seq` stamp of a new local run's first element."""
        return counter

    def add_insert_fields(
        self, op: dict[str, Any], core: RunSequence, right: int | None, seq: int
    ) -> None:
        """Put the algorithm's own fields of an outgoing insert into `op` (rules that
        track right origins have none but `right`, which the replica writes itself)."""

    def parse_fields(
        self, core: RunSequence, change: dict[str, Any], counter: int, left: int | None
    ) -> tuple[int | None, int]:  # pragma: no cover - abstract
        """(right origin, seq) of an incoming insert, validated."""
        raise NotImplementedError

    def find_destination(
        self, core: RunSequence, name: str, seq: int, left: int | None, right: int | None
    ) -> tuple[int, ...]:  # pragma: no cover - abstract
        """Order tuple before which the new run goes; CollabError if origins are inconsistent."""
        raise NotImplementedError


def bad(message: str) -> CollabError:
    return CollabError("bad_request", message)


def parse_id(value: Any, field: str) -> tuple[str, int]:
    # The wire's own shape first: a JSON list of a string and a plain int (not a bool).
    if type(value) is list and len(value) == 2:
        name, counter = value
        if type(name) is str and type(counter) is int and counter >= 0:
            return name, counter
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or isinstance(value[1], bool)
        or value[1] < 0
    ):
        raise bad(f"{field} must be [replica, counter]")
    return value[0], value[1]


def existing_key(core: RunSequence, value: Any, field: str) -> int | None:
    """Key of the element an op refers to; unknown ids are rejected, not parked."""
    if value is None:
        return None
    name, counter = parse_id(value, field)
    rid = core.rindex.get(name)
    if rid is not None and counter < len(core.owner[rid]):
        return (rid << SHIFT) | counter
    key = core.key_of(name, counter)
    if key is None:
        raise CollabError("conflict", f"{field} {[name, counter]} is not a known element")
    return key


def apply_change(core: RunSequence, rules: SequenceRules, change: Any) -> bool:
    """Validate and apply one op; False for a duplicate/no-op. Raises before any mutation."""
    if type(change) is dict:  # the keystroke-sized ops first, without the general checks
        kind = change.get("type")
        if kind == "insert":
            if typing_on(core, change, rules.lamport):
                return True
        elif kind == "delete":
            changed = one_range_delete(core, change)
            if changed is not None:
                return changed
    if not isinstance(change, dict):
        raise bad("op must be an object")
    kind = change.get("type")
    if kind == "insert":
        name, counter = parse_id(change.get("id"), "id")
        text = change.get("text")
        if not isinstance(text, str) or not text:
            raise bad("insert text must be a non-empty string")
        known = core.known_count(name)
        if counter + len(text) <= known:
            return False
        if counter != known:
            raise CollabError(
                "conflict", f"insert {[name, counter]} out of order: expected counter {known}"
            )
        left = existing_key(core, change.get("left"), "left")
        right, seq = rules.parse_fields(core, change, counter, left)
        rid = core.rindex.get(name, -1)
        if not (
            rid >= 0
            and left == (rid << SHIFT) | (counter - 1)
            and core.extend_run(rid, counter, text, right, seq, rules.lamport)
        ):
            dest = rules.find_destination(core, name, seq, left, right)
            rid = core.replica_index(name)
            core.place(dest, core.new_span(rid, counter, text, left, right, seq))
        core.max_seq = max(core.max_seq, seq + len(text) - 1)
        return True
    if kind == "delete":
        ranges = change.get("ranges")
        if not isinstance(ranges, list) or not ranges:
            raise bad("delete needs a non-empty list of ranges")
        parsed: list[tuple[int, int, int]] = []
        for item in ranges:
            if not isinstance(item, list | tuple) or len(item) != 3:
                raise bad("a delete range is [replica, counter, length]")
            name, counter, length = item
            if type(name) is not str or type(counter) is not int or counter < 0:
                name, counter = parse_id(list(item[:2]), "range")  # raises with the reason
            if type(length) is not int or length <= 0:
                raise bad("range length must be a positive integer")
            if counter + length > core.known_count(name):
                raise CollabError("conflict", f"delete of unknown ids {list(item)}")
            parsed.append((core.rindex[name], counter, length))
        changed = False
        for rid, counter, length in parsed:
            changed = core.delete_ids(rid, counter, length) or changed
        return changed
    raise bad(f"unknown op type {kind!r}")


# `Applied((ack, broadcast))` without NamedTuple's Python-level __new__: one is made
# per keystroke on the relay's hot path, and that __new__ was a tenth of its time.
_applied = partial(tuple.__new__, Applied)


class SequenceReplica(Replica):
    """A client copy; local edits become queued, coalesced ops."""

    rules: ClassVar[SequenceRules]

    def __init__(
        self,
        replica_id: str,
        snapshot: dict[str, Any] | None = None,
        core: RunSequence | None = None,
    ) -> None:
        super().__init__(replica_id)
        state = (snapshot or {}).get("state")
        if core is None:
            core = RunSequence.decode_state(state) if state else RunSequence()
        self.core = core
        rules = self.rules
        self._edits = LocalEdits(
            core,
            replica_id,
            local_seq=None if rules.seq_is_counter else rules.local_seq,
            add_fields=None if rules.track_right else rules.add_insert_fields,
        )
        self._cursors: dict[str, Any] = {}

    # -- local edits (`LocalEdits`: the keystroke path, compiled with the element list) --
    def insert(self, pos: int, text: str) -> None:
        self._edits.insert(pos, text)

    def delete(self, pos: int, length: int) -> None:
        self._edits.delete(pos, length)

    def take_outgoing(self) -> list[dict[str, Any]]:
        return self._edits.take()

    # -- from the server --
    def receive(self, change: dict[str, Any]) -> None:
        apply_change(self.core, self.rules, change)

    def text(self) -> str:
        return self.core.text()

    # -- cursors --
    def encode_cursor(self, pos: int) -> Any:
        """The id of the character left of the cursor; null means the document start."""
        core = self.core
        if not 0 <= pos <= core.length:
            raise bad(f"cursor {pos} outside 0..{core.length}")
        if pos == 0:
            return None
        ci, si, off = core.find_visible(pos - 1)
        span = core.chunks[ci].spans[si]
        return [core.names[span.rid], span.start + off]

    def set_remote_cursor(self, user_id: str, wire: Any) -> None:
        if wire is not None:
            parse_id(wire, "cursor")
        self._cursors[user_id] = wire

    def remote_cursors(self) -> dict[str, int]:
        """Positions now; a cursor on a deleted character sits after its nearest visible left."""
        core = self.core
        result: dict[str, int] = {}
        for user, wire in self._cursors.items():
            if wire is None:
                result[user] = 0
                continue
            key = core.key_of(wire[0], wire[1])
            if key is None:  # its character has not reached us yet
                continue
            before, visible = core.visible_before(key)
            result[user] = before + 1 if visible else before
        return result

    def is_idle(self) -> bool:
        return not self._edits.outgoing

    def encode(self) -> bytes:
        """The binary run encoding (`run_encoding`); pending local ops are not in it."""
        return encode_runs(self.core)

    @classmethod
    def decode(cls, replica_id: str, data: bytes) -> SequenceReplica:
        return cls(replica_id, core=decode_runs(data))


class SequenceDocument(DocumentServer):
    """The server's copy: validates, stores and relays ops unchanged."""

    rules: ClassVar[SequenceRules]

    def __init__(self) -> None:
        self.core = RunSequence()
        self.revision = 0
        self._lamport = self.rules.lamport  # read per op: an instance read

    def apply(self, change: Any, sender: str) -> Applied:
        if type(change) is dict:  # apply_change's keystroke paths, inlined: one call less
            kind = change.get("type")
            if kind == "insert":
                if typing_on(self.core, change, self._lamport):
                    self.revision += 1
                    return _applied(({"revision": self.revision}, change))
            elif kind == "delete" and one_range_delete(self.core, change) is not None:
                self.revision += 1
                return _applied(({"revision": self.revision}, change))
        changed = apply_change(self.core, self.rules, change)
        if not changed and change.get("type") == "insert":
            return Applied({"revision": self.revision, "duplicate": True}, None)
        self.revision += 1
        return Applied({"revision": self.revision}, change)

    def snapshot(self) -> dict[str, Any]:
        return {
            "content": self.core.text(),
            "revision": self.revision,
            "state": self.core.encode_state(),
        }

    def text(self) -> str:
        return self.core.text()

    def encode(self) -> bytes:
        return encode_runs(self.core)
