"""Numeric peer ids for native CRDT libraries, derived from replica id strings.

Yjs (client ids) and Loro (peer ids) break ties between concurrent inserts
at one place by a number per replica, and pick it at random by default. We
derive it from the replica id instead, so experiments are reproducible and
ties follow the order of replica ids, as fugue and rga order them and as the
editing traces' reference texts expect.
"""

from __future__ import annotations

import hashlib


def ordered_peer_id(replica_id: str) -> int:
    """A deterministic, unique number for a replica id, ordered like the ids.

    An id of up to 6 UTF-8 bytes ("a", "agent0", "bot12") maps one-to-one and
    in order (its bytes, zero-padded, then its length) below 2**51; longer ids
    (user ids) map above, by a 51-bit hash, so they never collide with short
    ones and among themselves far less often than crc32 would. Everything
    stays below 2**53, the ids JavaScript Yjs can hold.
    """
    raw = replica_id.encode()
    if len(raw) <= 6:
        return int.from_bytes(raw.ljust(6, b"\0"), "big") << 3 | len(raw)
    digest = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")
    return 1 << 51 | digest & ((1 << 51) - 1)
