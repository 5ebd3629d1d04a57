"""RGA (Replicated Growable Array): insert after a reference character.

Each run names the character it was typed after (`left`) and carries a
Lamport stamp `seq` (character k of the run has `seq + k`). Concurrent inserts
after the same character are ordered newest stamp first, ties by replica id;
a character's later descendants always have larger stamps, so one scan that
skips larger stamps finds the place. It converges, but text typed backwards
concurrently at one spot interleaves character by character (each character
is a sibling of the others) - the anomaly Fugue avoids. It shares Fugue's
run-length chunked storage (`run_sequence`) and wire handling.

Wire format (see `sequence_crdt` for the shared part)::

    {"type": "insert", "id": [replica, counter], "left": [replica, counter] | null,
     "seq": lamport, "text": "abc"}
    {"type": "delete", "ranges": [[replica, counter, length], ...]}
"""

from __future__ import annotations

from typing import Any

from server.collab.base import CollabError
from server.collab.integration import rga_destination
from server.collab.registry import Strategy, register
from server.collab.run_sequence import RunSequence
from server.collab.sequence_crdt import SequenceDocument, SequenceReplica, SequenceRules


class RgaRules(SequenceRules):
    track_right = False

    seq_is_counter = False

    lamport = True

    def local_seq(self, core: RunSequence, counter: int) -> int:
        return core.max_seq + 1

    def add_insert_fields(
        self, op: dict[str, Any], core: RunSequence, right: int | None, seq: int
    ) -> None:
        op["seq"] = seq

    def parse_fields(
        self, core: RunSequence, change: dict[str, Any], counter: int, left: int | None
    ) -> tuple[int | None, int]:
        seq = change.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise CollabError("bad_request", "rga insert needs a non-negative integer seq")
        if left is not None and seq <= core.seq_of(left):
            raise CollabError("bad_request", "seq must exceed the seq of the left origin")
        return None, seq

    def find_destination(
        self, core: RunSequence, name: str, seq: int, left: int | None, right: int | None
    ) -> tuple[int, ...]:
        return rga_destination(core, name, seq, left)


RULES = RgaRules()


class RgaReplica(SequenceReplica):
    strategy = "rga"
    rules = RULES


class RgaDocument(SequenceDocument):
    strategy = "rga"
    rules = RULES


register(
    Strategy(
        "rga",
        create_document=RgaDocument,
        create_replica=lambda replica_id, snapshot: RgaReplica(replica_id, snapshot),
        causal=True,
        stamped=True,
        compiled=True,
        decode_replica=RgaReplica.decode,
    )
)
