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
from server.collab.run_encoding import decode_runs, encode_runs
from server.collab.run_sequence import MASK, SHIFT, RunSequence


class SequenceRules:
    """What one algorithm adds to the shared element list."""

    #: Fugue keeps each run's right origin and sends it as an insert's `right` (its
    #: only field beyond id, left and text); RGA does neither.
    track_right: ClassVar[bool] = True

    #: True when a local run's `seq` is its first counter (Fugue): no `local_seq` call.
    seq_is_counter: ClassVar[bool] = True

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
            if rules.track_right and _typing_on(core, change):
                return True
        elif kind == "delete":
            changed = _one_range_delete(core, change)
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
            rules.track_right
            and rid >= 0
            and left == (rid << SHIFT) | (counter - 1)
            and core.extend_run(rid, counter, text, right, seq)
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


def _typing_on(core: RunSequence, change: dict[str, Any]) -> bool:
    """The hot path of a relay: a well-formed Fugue insert that continues its author's run.

    Accepts only what the full validation below would accept (the next
    counter of a known replica, left origin its previous character, a known
    right origin) and only when `RunSequence.extend_run` can append in place;
    anything else returns False, untouched, and takes the general path,
    which validates and raises.
    """
    ident = change.get("id")
    left = change.get("left")
    text = change.get("text")
    if (
        type(ident) is not list
        or type(left) is not list
        or type(text) is not str
        or not text
        or len(ident) != 2
        or len(left) != 2
    ):
        return False
    name, counter = ident
    if (
        left[0] != name
        or type(name) is not str
        or type(counter) is not int
        or type(left[1]) is not int
        or left[1] != counter - 1
        or counter <= 0
    ):
        return False
    rid = core.rindex.get(name)
    if rid is None:  # (extend_run checks that `counter` is the next id)
        return False
    right = change.get("right")
    right_key: int | None = None
    if right is not None:
        if type(right) is not list or len(right) != 2:
            return False
        right_name, right_counter = right
        right_rid = core.rindex.get(right_name) if type(right_name) is str else None
        if (
            right_rid is None
            or type(right_counter) is not int
            or not 0 <= right_counter < len(core.owner[right_rid])
        ):
            return False
        right_key = (right_rid << SHIFT) | right_counter
    return core.extend_run(rid, counter, text, right_key, counter)  # (Fugue: no max_seq)


def _one_range_delete(core: RunSequence, change: dict[str, Any]) -> bool | None:
    """The other hot path: a delete of one well-formed range of known ids (a keystroke).

    Returns whether anything changed, or None (untouched) when the op is not
    that simple: the general path then validates it and raises if it must.
    """
    ranges = change.get("ranges")
    if type(ranges) is not list or len(ranges) != 1:
        return None
    item = ranges[0]
    if type(item) is not list or len(item) != 3:
        return None
    name, counter, length = item
    if type(name) is not str or type(counter) is not int or type(length) is not int:
        return None
    rid = core.rindex.get(name)
    if rid is None or counter < 0 or length <= 0:
        return None
    owner = core.owner[rid]
    if counter + length > len(owner):
        return None
    span = owner[counter]
    off = counter - span.start
    if span.text is None or off + length > span.length:  # partly deleted, or several runs
        return core.delete_ids(rid, counter, length)
    ci, si = core.locate(span)
    core.tombstone(ci, si, off, length)
    return True


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
        self._rid = self.core.replica_index(replica_id)
        self._next = len(self.core.owner[self._rid])
        self._outgoing: list[dict[str, Any]] = []
        # (end counter, right origin, next seq) of the last queued insert, for coalescing
        self._open_run: tuple[int, int | None, int] | None = None
        self._cursors: dict[str, Any] = {}
        # The rules' switches as instance attributes: read once per keystroke, and an
        # instance attribute is a cheaper read than a class attribute through `self`.
        self._add_fields = self.rules.add_insert_fields
        self._track_right = self.rules.track_right
        self._seq_is_counter = self.rules.seq_is_counter

    # -- local edits --
    def insert(self, pos: int, text: str) -> None:
        core = self.core
        if type(text) is not str and not isinstance(text, str):
            raise bad("text must be a string")
        if not 0 <= pos <= core.length:
            raise bad(f"insert position {pos} outside 0..{core.length}")
        if not text:
            return
        counter = self._next
        n = len(text)
        seq = counter if self._seq_is_counter else self.rules.local_seq(core, counter)
        left, right = core.local_insert(self._rid, counter, pos, text, seq, self._track_right)
        self._next = counter + n
        end = seq + n
        if not self._seq_is_counter and end > core.max_seq:  # RGA's Lamport clock
            core.max_seq = end - 1
        run = self._open_run
        if (
            run is not None
            and run[0] == counter
            and run[1] == right
            and run[2] == seq
            and left == (self._rid << SHIFT) | (counter - 1)
        ):
            self._outgoing[-1]["text"] += text
        else:
            op = {
                "type": "insert",
                "id": [self.replica_id, counter],
                "left": None if left is None else [core.names[left >> SHIFT], left & MASK],
                "text": text,
            }
            if self._track_right:  # Fugue's one field, written here: a call less per op
                op["right"] = None if right is None else [core.names[right >> SHIFT], right & MASK]
            else:
                self._add_fields(op, core, right, seq)
            self._outgoing.append(op)
        self._open_run = (counter + n, right, end)

    def delete(self, pos: int, length: int) -> None:
        core = self.core
        if length < 0 or pos < 0 or pos + length > core.length:
            raise bad(f"delete {pos}+{length} outside 0..{core.length}")
        if not length:
            return
        names = core.names
        deleted = core.local_delete(pos, length)
        if len(deleted) == 1:  # a keystroke's delete: one range
            rid, counter, count = deleted[0]
            ranges = [[names[rid], counter, count]]
        else:
            ranges = [[names[r], c, n] for r, c, n in deleted]
        out = self._outgoing
        if out and out[-1]["type"] == "delete":
            out[-1]["ranges"].extend(ranges)
        else:
            out.append({"type": "delete", "ranges": ranges})
        self._open_run = None

    def take_outgoing(self) -> list[dict[str, Any]]:
        out = self._outgoing
        self._outgoing = []
        self._open_run = None
        return out

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
        return not self._outgoing

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
        self._track_right = self.rules.track_right  # read per op: an instance read

    def apply(self, change: Any, sender: str) -> Applied:
        if type(change) is dict:  # apply_change's keystroke paths, inlined: one call less
            kind = change.get("type")
            if kind == "insert":
                if self._track_right and _typing_on(self.core, change):
                    self.revision += 1
                    return _applied(({"revision": self.revision}, change))
            elif kind == "delete" and _one_range_delete(self.core, change) is not None:
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
