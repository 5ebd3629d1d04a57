"""The two wire ops a relay sees per keystroke, applied without the general path.

Someone typing on sends an insert that continues their own run; a backspace
or forward delete sends a delete of one range of known ids. Those two are
nearly every op a relay applies (on the automerge-paper trace, all but a few
thousand of 260,000), so they get their own validation, written for the
wire's exact shapes (a JSON list of a string and an int), and go straight to
the element list's in-place paths. Anything not shaped like that returns
"not handled", untouched, and `sequence_crdt.apply_change` validates it in
full and raises with the reason.

A module of its own so that it can be compiled with the element list
(`server.collab.native`): this is the Python that runs per relayed keystroke.
"""

from __future__ import annotations

from typing import Any

from server.collab.run_sequence import SHIFT, RunSequence


def typing_on(core: RunSequence, change: dict[str, Any], lamport: bool) -> bool:
    """The hot path of a relay: a well-formed insert that continues its author's run.

    Accepts only what the full validation (`sequence_crdt.apply_change`) would accept (the next
    counter of a known replica, left origin its previous character, and for
    Fugue a known right origin, for RGA (`lamport`) the run's next Lamport
    stamp, which exceeds its left origin's as validation demands) and only
    when `RunSequence.extend_run` can append in place; anything else returns
    False, untouched, and takes the general path, which validates and raises.
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
    if lamport:
        seq = change.get("seq")
        if type(seq) is not int or not core.extend_run(rid, counter, text, None, seq, True):
            return False
        last = seq + len(text) - 1
        if last > core.max_seq:
            core.max_seq = last
        return True
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
    return core.extend_run(rid, counter, text, right_key, counter, False)  # (Fugue: no max_seq)


def one_range_delete(core: RunSequence, change: dict[str, Any]) -> bool | None:
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
