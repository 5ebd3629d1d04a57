"""Where a remote run goes: the integration rules of Fugue and RGA, as plain functions.

Each sequence algorithm differs from the others only here (`SequenceRules.
find_destination`): given a new run's origins, find the order tuple before
which it goes among the runs already in the document. `fugue.py` and
`rga.py` explain their rules and call these. The scans live apart from
their strategy modules so that they can be compiled with the element list
(`server.collab.native`): a strategy module defines classes that subclass
interpreted ones, which a compiled module cannot, and every remote insert
that does not simply continue its author's run (concurrent editing, a
merge after working offline) runs one of these loops.
"""

from __future__ import annotations

from server.collab.base import CollabError
from server.collab.run_sequence import AFTER_ALL, BEFORE_ALL, RunSequence, rga_goes_first


def fugue_destination(
    core: RunSequence, name: str, left: int | None, right: int | None
) -> tuple[int, ...]:
    """FugueMax through Gentle's YjsMod rule (why that is FugueMax: `server.collab.fugue`).

    Scans the runs between the two origins, comparing each one's origins with
    ours; only a run's first element needs it (the rest have their
    predecessor as left origin), so the scan walks runs, not characters.
    """
    left_o = core.order(left, BEFORE_ALL)
    right_o = core.order(right, AFTER_ALL)
    if left_o >= right_o:
        raise CollabError("bad_request", "left origin must come before right origin")
    cur = core.after(left_o)
    if cur == right_o:  # nothing concurrent between the origins
        return cur
    chunks = core.chunks
    names = core.names
    scanning = False
    dest = cur
    while True:
        if not scanning:
            dest = cur
        if cur == right_o or cur is AFTER_ALL:
            return dest
        ci, si, off = cur
        other = chunks[ci].spans[si]
        o_left = (ci, si, off - 1) if off else core.order(other.left, BEFORE_ALL)
        if o_left < left_o:
            return dest
        if o_left == left_o:
            o_right = core.order(other.right, AFTER_ALL)
            if o_right < right_o:
                scanning = True
            elif o_right == right_o:
                if name < names[other.rid]:
                    return dest
                scanning = False
            else:
                scanning = False
        # The rest of this run has its predecessor as left origin: always skipped,
        # unless our right origin sits inside it.
        if right_o[0] == ci and right_o[1] == si and right_o[2] > off:
            cur = right_o
        else:
            cur = core.next_position(ci, si)


def rga_destination(core: RunSequence, name: str, seq: int, left: int | None) -> tuple[int, ...]:
    """RGA: after the parent, before the first sibling the new run goes ahead of (`rga.py`).

    Siblings (same parent) are ordered by `rga_goes_first`; a run's later
    elements descend from its first, so whole runs are skipped.
    """
    parent_o = core.order(left, BEFORE_ALL)
    cur = core.after(parent_o)
    chunks = core.chunks
    names = core.names
    while cur is not AFTER_ALL:
        ci, si, off = cur
        other = chunks[ci].spans[si]
        o_parent = (ci, si, off - 1) if off else core.order(other.left, BEFORE_ALL)
        if o_parent < parent_o:
            return cur
        if o_parent == parent_o and rga_goes_first(seq, name, other.seq + off, names[other.rid]):
            return cur
        # the rest of the run descends from its first element: skip it
        cur = core.next_position(ci, si)
    return cur
