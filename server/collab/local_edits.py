"""A sequence replica's own edits: applied to its element list, queued as coalesced ops.

Every keystroke of a live editor runs this: the position is checked, the
element list inserts or tombstones (`RunSequence.local_insert`,
`local_delete`), and the wire op is written, or appended to the queued one
it continues (typing a word before the next send is one insert op, a run of
backspaces one delete op). `sequence_crdt.SequenceReplica` owns one of these
and hands its local edits here.

A class of its own, apart from the replica, so that it can be compiled with
the element list (`server.collab.native`): the replica subclasses an
interpreted base class and is subclassed per algorithm, which a compiled
class cannot be, while this holds nothing but the keystroke path.

What an algorithm adds to a local insert comes in as two optional hooks:
`local_seq` (the stamp of a new run, None when it is the run's first
counter, as in Fugue) and `add_fields` (fields beyond Fugue's `right`, None
when the algorithm tracks right origins and so writes `right` itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.collab.base import CollabError
from server.collab.run_sequence import MASK, SHIFT, RunSequence

#: (core, first counter of the new run) -> the run's seq stamp
LocalSeq = Callable[[RunSequence, int], int]
#: (op, core, right origin, seq) -> None, adds the algorithm's own fields to an insert op
AddFields = Callable[[dict[str, Any], RunSequence, "int | None", int], None]


class LocalEdits:
    """The outgoing side of one replica: its ids, its queued ops, the run still open."""

    def __init__(
        self,
        core: RunSequence,
        replica_id: str,
        *,
        local_seq: LocalSeq | None,
        add_fields: AddFields | None,
    ) -> None:
        self.core = core
        self.replica_id = replica_id
        self.rid = core.replica_index(replica_id)
        self.next = len(core.owner[self.rid])  # this replica's next counter
        self.outgoing: list[dict[str, Any]] = []
        self.local_seq = local_seq
        self.add_fields = add_fields
        # (end counter, right origin, next seq) of the last queued insert, while a
        # local insert that continues it can still be appended to its text.
        self.open_run: tuple[int, int | None, int] | None = None

    def insert(self, pos: int, text: object) -> None:
        """Insert at visible `pos`; `text` is checked here (a compiled `str` parameter would
        refuse anything else with a bare TypeError, not the API's CollabError)."""
        core = self.core
        if not isinstance(text, str):
            raise CollabError("bad_request", "text must be a string")
        if not 0 <= pos <= core.length:
            raise CollabError("bad_request", f"insert position {pos} outside 0..{core.length}")
        if not text:
            return
        counter = self.next
        n = len(text)
        local_seq = self.local_seq
        seq = counter if local_seq is None else local_seq(core, counter)
        track_right = self.add_fields is None
        left, right = core.local_insert(self.rid, counter, pos, text, seq, track_right)
        self.next = counter + n
        end = seq + n
        if local_seq is not None and end > core.max_seq:  # a Lamport clock (RGA)
            core.max_seq = end - 1
        run = self.open_run
        if (
            run is not None
            and run[0] == counter
            and run[1] == right
            and run[2] == seq
            and left == (self.rid << SHIFT) | (counter - 1)
        ):
            self.outgoing[-1]["text"] += text
        else:
            names = core.names
            op: dict[str, Any] = {
                "type": "insert",
                "id": [self.replica_id, counter],
                "left": None if left is None else [names[left >> SHIFT], left & MASK],
                "text": text,
            }
            if self.add_fields is None:  # Fugue's one field, written here
                op["right"] = None if right is None else [names[right >> SHIFT], right & MASK]
            else:
                self.add_fields(op, core, right, seq)
            self.outgoing.append(op)
        self.open_run = (counter + n, right, end)

    def delete(self, pos: int, length: int) -> None:
        core = self.core
        if length < 0 or pos < 0 or pos + length > core.length:
            raise CollabError("bad_request", f"delete {pos}+{length} outside 0..{core.length}")
        if not length:
            return
        names = core.names
        deleted = core.local_delete(pos, length)
        ranges: list[Any] = [[names[rid], counter, count] for rid, counter, count in deleted]
        out = self.outgoing
        if out and out[-1]["type"] == "delete":
            out[-1]["ranges"].extend(ranges)
        else:
            out.append({"type": "delete", "ranges": ranges})
        self.open_run = None

    def take(self) -> list[dict[str, Any]]:
        """The queued ops, in order; the next edit starts a new op."""
        out = self.outgoing
        self.outgoing = []
        self.open_run = None
        return out
