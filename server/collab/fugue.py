"""Fugue (FugueMax): a sequence CRDT whose concurrent inserts never interleave.

Weidner, Gentle and Kleppmann, "The Art of the Fugue: Minimizing Interleaving
in Collaborative Text Editing". Conceptually every character is a node in a
tree of left/right children; FugueMax orders siblings so that text typed
concurrently at one place stays in contiguous blocks, whether it was typed
forwards or backwards (RGA interleaves the backwards case, Yjs/YATA some
three-replica cases).

We store the tree flattened in document order, which is all the replicas
need: each run records its left origin (the character it was typed after)
and right origin (the character, tombstones included, that followed it), and
a remote run is placed with Gentle's YjsMod integration rule, which the
paper proves equivalent to FugueMax. Only the first character of a run needs
the rule (the rest have their predecessor as left origin), so the scan
between the two origins walks runs, not characters, and stops at once when
nothing concurrent sits there - the usual case.

Wire format (see `sequence_crdt` for the shared part)::

    {"type": "insert", "id": [replica, counter], "left": [replica, counter] | null,
     "right": [replica, counter] | null, "text": "abc"}
    {"type": "delete", "ranges": [[replica, counter, length], ...]}

`right` (null: the document end) is shared by every character of the run.
"""

from __future__ import annotations

from typing import Any

from server.collab.integration import fugue_destination
from server.collab.registry import Strategy, register
from server.collab.run_sequence import RunSequence
from server.collab.sequence_crdt import (
    SequenceDocument,
    SequenceReplica,
    SequenceRules,
    existing_key,
)


class FugueRules(SequenceRules):
    track_right = True

    def parse_fields(
        self, core: RunSequence, change: dict[str, Any], counter: int, left: int | None
    ) -> tuple[int | None, int]:
        return existing_key(core, change.get("right"), "right"), counter

    def find_destination(
        self, core: RunSequence, name: str, seq: int, left: int | None, right: int | None
    ) -> tuple[int, ...]:
        return fugue_destination(core, name, left, right)


RULES = FugueRules()


class FugueReplica(SequenceReplica):
    strategy = "fugue"
    rules = RULES


class FugueDocument(SequenceDocument):
    strategy = "fugue"
    rules = RULES


register(
    Strategy(
        "fugue",
        create_document=FugueDocument,
        create_replica=lambda replica_id, snapshot: FugueReplica(replica_id, snapshot),
        causal=True,
        stamped=True,
        compiled=True,
        decode_replica=FugueReplica.decode,
    )
)
