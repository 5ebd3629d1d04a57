"""Metrics of a collaborative-editing run: divergence, edit distance, intention.

Authorship without ids: every editor types from its own alphabet
(`editor_alphabet`), so the final text alone tells who typed each
character. That makes the intention metrics strategy-agnostic (they read
text, never a strategy's internals):

- *survival*: the share of the characters a user kept (typed minus those it
  deleted itself) that are still in the final text; LWW loses whole edits,
  naive misplaces deletes.
- *interleavings*: editors insert whole words at word boundaries and finish
  them with a space, so in a correct merge every word has one author. Each
  change of author inside a word is one place where concurrent typing got
  interleaved (or, for naive, landed inside someone else's word).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

SEPARATOR = " "

# ASCII letters and digits first (one byte on the wire, no JSON escapes), then
# Greek and CJK for fleets too large for them: any number of editors gets a
# private alphabet of at least `_MIN_LETTERS` symbols.
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_MIN_LETTERS = 4


def editor_alphabet(index: int, editors: int) -> str:
    """The letters editor `index` (0-based) of `editors` types with, disjoint from the others'."""
    size = max(_MIN_LETTERS, len(_ASCII) // max(1, editors))
    start = index * size
    return "".join(_symbol(k) for k in range(start, start + size))


def _symbol(k: int) -> str:
    if k < len(_ASCII):
        return _ASCII[k]
    k -= len(_ASCII)
    if k < 25:
        return chr(0x03B1 + k)  # Greek small letters
    return chr(0x4E00 + k - 25)  # CJK ideographs: practically unlimited


def author_map(alphabets: Mapping[str, str]) -> dict[str, str]:
    """Character -> user, from each user's alphabet."""
    return {char: user for user, alphabet in alphabets.items() for char in alphabet}


# ------------------------------------------------------------------ distance


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute) in O(len(a) * len(b) / word) time.

    Myers' bit-parallel algorithm (Hyyrö's formulation) with Python integers
    as bit vectors: one pass over `a` of a dozen big-int operations, each
    over len(b) bits. Texts of a few thousand characters take milliseconds,
    where the textbook dynamic programme in Python takes seconds. The common
    prefix and suffix (usually most of two replicas' texts) are cut first.
    """
    if a == b:
        return 0
    start = _common_prefix(a, b)
    a, b = a[start:], b[start:]
    end = _common_suffix(a, b)
    if end:
        a, b = a[:-end], b[:-end]
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, char in enumerate(b):
        peq[char] = peq.get(char, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for char in a:
        eq = peq.get(char, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
    return score


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by binary search over C-level slice comparisons."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid :] == b[len(b) - mid :]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def changed_region(old: str, new: str) -> tuple[int, int, int]:
    """`(start, old_end, new_end)`: `old[start:old_end]` became `new[start:new_end]`."""
    start = _common_prefix(old, new)
    end = _common_suffix(old[start:], new[start:])
    return start, len(old) - end, len(new) - end


def normalized_distance(text: str, reference: str) -> float:
    """Levenshtein distance / the longer length: 0 = identical, 1 = nothing in common."""
    longest = max(len(text), len(reference))
    return levenshtein(text, reference) / longest if longest else 0.0


def divergence(texts: Iterable[str], reference: str) -> tuple[int, float]:
    """(number of distinct texts, mean normalized edit distance to `reference`).

    Distances are computed once per distinct text: replicas that agree cost
    nothing, which keeps sampling cheap in the common case.
    """
    texts = list(texts)
    if not texts:
        return 0, 0.0
    cache: dict[str, float] = {}
    total = 0.0
    for text in texts:
        if text not in cache:
            cache[text] = normalized_distance(text, reference)
        total += cache[text]
    return len(cache), total / len(texts)


# ----------------------------------------------------------------- intention


def survival(
    text: str,
    alphabets: Mapping[str, str],
    kept: Mapping[str, int],
) -> dict[str, float | None]:
    """Per user: characters of its alphabet in `text` / characters it meant to keep.

    `kept[user]` is what the user typed minus what it deleted itself. None
    for a user who kept nothing. Above 1.0 means someone else's delete hit
    the wrong characters (naive), below 1.0 that typing was lost.
    """
    counts = Counter(text)
    result: dict[str, float | None] = {}
    for user in sorted(alphabets):
        present = sum(counts[char] for char in alphabets[user])
        result[user] = present / kept[user] if kept.get(user) else None
    return result


def interleavings(text: str, authors: Mapping[str, str]) -> int:
    """Changes of author inside words: 0 when every word has kept a single author."""
    switches = 0
    for word in text.split(SEPARATOR):
        previous = None
        for char in word:
            author = authors.get(char)
            if author is None:
                continue
            if previous is not None and author != previous:
                switches += 1
            previous = author
    return switches
