"""Text operations for operational transformation, in the shape of ShareDB's text type.

An op is a list of components walked left to right over the document:

    5          retain (skip) 5 characters
    "abc"      insert "abc" here
    {"d": 2}   delete the next 2 characters

e.g. `[5, "abc", {"d": 2}]`. Whatever the op does not reach is kept, so ops
never end with a retain. Lengths count Unicode code points (Python `str`
indexing), not UTF-16 units as ShareDB does in JavaScript: every strategy in
this lab counts code points, and mixing units is how emoji get split.

The algebra (apply, compose, transform, transform_index) is pure and works
on normalized ops; `parse_op` is the only door from untrusted JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from server.collab.base import CollabError

Component = int | str | dict[str, int]
TextOp = list[Component]
Side = Literal["left", "right"]


# -- construction and validation ---------------------------------------------


def insert_op(pos: int, text: str) -> TextOp:
    return normalize([pos, text])


def delete_op(pos: int, length: int) -> TextOp:
    return normalize([pos, {"d": length}])


def parse_op(raw: Any) -> TextOp:
    """Validate untrusted JSON into a normalized op, or raise CollabError(bad_request).

    Adjacent components of one kind are merged rather than refused: they are
    harmless and hand-written clients produce them.
    """
    if not isinstance(raw, list):
        raise CollabError("bad_request", "ops must be a list of components")
    for component in raw:
        if isinstance(component, bool):
            raise CollabError("bad_request", "a component cannot be a boolean")
        if isinstance(component, int):
            if component <= 0:
                raise CollabError("bad_request", "a retain must be a positive integer")
        elif isinstance(component, str):
            if not component:
                raise CollabError("bad_request", "an insert must be a non-empty string")
        elif isinstance(component, dict):
            count = component.get("d")
            if (
                set(component) != {"d"}
                or isinstance(count, bool)
                or not isinstance(count, int)
                or count <= 0
            ):
                raise CollabError("bad_request", 'a delete must be {"d": positive integer}')
        else:
            raise CollabError("bad_request", f"unknown component {component!r}")
    return normalize(raw)


def normalize(op: TextOp) -> TextOp:
    """Merge neighbours of one kind and drop empty and trailing retains."""
    result: TextOp = []
    for component in op:
        _append(result, component)
    while result and isinstance(result[-1], int):
        result.pop()
    return result


def base_length(op: TextOp) -> int:
    """The shortest document the op can apply to."""
    return sum(_consumed(c) for c in op)


# -- the algebra ---------------------------------------------------------------


def apply(text: str, op: TextOp) -> str:
    if base_length(op) > len(text):
        raise CollabError(
            "bad_request", f"op spans {base_length(op)} characters, the document has {len(text)}"
        )
    parts: list[str] = []
    cursor = 0
    for component in op:
        if isinstance(component, int):
            parts.append(text[cursor : cursor + component])
            cursor += component
        elif isinstance(component, str):
            parts.append(component)
        else:
            cursor += component["d"]
    parts.append(text[cursor:])
    return "".join(parts)


def compose(first: TextOp, second: TextOp) -> TextOp:
    """One op with the effect of `first` then `second`."""
    result: TextOp = []
    taker = _Taker(first)
    for component in second:
        if isinstance(component, int):
            remaining = component
            while remaining > 0:
                chunk = taker.take(remaining, indivisible="d")
                _append(result, chunk)
                if not isinstance(chunk, dict):
                    remaining -= _length(chunk)
        elif isinstance(component, str):
            _append(result, component)
        else:
            remaining = component["d"]
            while remaining > 0:
                chunk = taker.take(remaining, indivisible="d")
                if isinstance(chunk, int):
                    _append(result, {"d": chunk})
                    remaining -= chunk
                elif isinstance(chunk, str):  # deleting what `first` inserted: both vanish
                    remaining -= len(chunk)
                else:
                    _append(result, chunk)
    while (rest := taker.take_rest()) is not None:
        _append(result, rest)
    return normalize(result)


def transform(op: TextOp, other: TextOp, side: Side) -> TextOp:
    """`op` rewritten to apply after `other` (both made on the same document).

    `side` breaks the one real tie, two inserts at the same place: "left"
    puts `op`'s insert first. Callers must pass opposite sides for the two
    directions, which is what makes transform(a, b) and transform(b, a) meet.
    """
    result: TextOp = []
    taker = _Taker(op)
    for component in other:
        if isinstance(component, int):
            remaining = component
            while remaining > 0:
                chunk = taker.take(remaining, indivisible="i")
                _append(result, chunk)
                if not isinstance(chunk, str):
                    remaining -= _length(chunk)
        elif isinstance(component, str):
            if side == "left" and isinstance(taker.peek(), str):
                ours = taker.take_rest()
                assert ours is not None  # peek() saw an insert
                _append(result, ours)
            _append(result, len(component))
        else:
            remaining = component["d"]
            while remaining > 0:
                chunk = taker.take(remaining, indivisible="i")
                if isinstance(chunk, int):
                    remaining -= chunk
                elif isinstance(chunk, str):
                    _append(result, chunk)
                else:  # both deleted the same text: nothing left to delete
                    remaining -= chunk["d"]
    while (rest := taker.take_rest()) is not None:
        _append(result, rest)
    return normalize(result)


def transform_index(index: int, op: TextOp, *, stick_right: bool = False) -> int:
    """Where a position moves when `op` is applied.

    An insert exactly at the index leaves it before the new text, unless it
    `stick_right`s: the caret of the op's author (who typed there), or a caret
    anchored on the character to its right, as a Yjs relative position is.
    """
    new_pos = 0  # position in the transformed document
    for component in op:
        if index < new_pos or (index == new_pos and not stick_right):
            break
        if isinstance(component, int):
            end = new_pos + component
            if index < end or (index == end and not stick_right):
                return index
            new_pos = end
        elif isinstance(component, str):
            new_pos += len(component)
            index += len(component)
        else:
            index -= min(component["d"], index - new_pos)
    return index


def untransform_index(index: int, op: TextOp) -> int:
    """Map a position in the document after `op` back to the document before it.

    Positions inside text that `op` inserted map to where it was inserted: the
    text does not exist there yet. Needed to describe a cursor in terms of a
    server revision while our own ops are still unacknowledged.
    """
    old = new = 0
    for component in op:
        if isinstance(component, int):
            if index <= new + component:
                return old + (index - new)
            old += component
            new += component
        elif isinstance(component, str):
            if index <= new + len(component):
                return old
            new += len(component)
        else:
            old += component["d"]
    return old + (index - new)


# -- internals ---------------------------------------------------------------


def _length(component: Component) -> int:
    if isinstance(component, int):
        return component
    if isinstance(component, str):
        return len(component)
    return component["d"]


def _consumed(component: Component) -> int:
    """Characters of the input document the component walks over."""
    return 0 if isinstance(component, str) else _length(component)


def _append(op: TextOp, component: Component) -> None:
    if _length(component) == 0:
        return
    if op:
        last = op[-1]
        if isinstance(last, int) and isinstance(component, int):
            op[-1] = last + component
            return
        if isinstance(last, str) and isinstance(component, str):
            op[-1] = last + component
            return
        if isinstance(last, dict) and isinstance(component, dict):
            op[-1] = {"d": last["d"] + component["d"]}
            return
    op.append(component if not isinstance(component, dict) else dict(component))


class _Taker:
    """Reads an op in pieces; past its end it yields retains (the implicit rest)."""

    def __init__(self, op: TextOp) -> None:
        self._op = op
        self._index = 0
        self._offset = 0

    def peek(self) -> Component | None:
        return self._op[self._index] if self._index < len(self._op) else None

    def take(self, limit: int, *, indivisible: Literal["i", "d"]) -> Component:
        """At most `limit` characters of the next component (inserts or deletes whole)."""
        if self._index == len(self._op):
            return limit
        component = self._op[self._index]
        available = _length(component) - self._offset
        whole = (
            available <= limit
            or (indivisible == "i" and isinstance(component, str))
            or (indivisible == "d" and isinstance(component, dict))
        )
        size = available if whole else limit
        start = self._offset
        if whole:
            self._index += 1
            self._offset = 0
        else:
            self._offset += size
        if isinstance(component, int):
            return size
        if isinstance(component, str):
            return component[start : start + size]
        return {"d": size}

    def take_rest(self) -> Component | None:
        """The rest of the current component, or None at the end of the op."""
        if self._index == len(self._op):
            return None
        return self.take(_length(self._op[self._index]) - self._offset, indivisible="i")
