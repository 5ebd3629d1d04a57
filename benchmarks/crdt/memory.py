"""Memory of one loaded document, measured in a fresh process (the suite's memUsed).

    python -m benchmarks.crdt.memory SUBJECT ENCODED_FILE   # prints {"rss_bytes", "heap_bytes"}

Why a process of its own: RSS only grows inside a process that has run the
benchmark before (freed memory is reused, not returned), so a delta there
says nothing. Here, after imports and a warm-up load of a tiny document:
`rss_bytes` is how much the process RSS grew while loading the document
(native heaps such as Yrs's or Loro's included), `heap_bytes` what
tracemalloc sees of the same load done again (Python objects only; it
cannot see native memory). Both keep the loaded document alive while they
read.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measure(subject_name: str, data: bytes) -> dict[str, int]:
    from benchmarks.crdt.subjects import subject

    chosen = subject(subject_name)
    warm = chosen.group(1)
    warm.insert(0, 0, "warm up")
    chosen.load(warm.encode(0))
    gc.collect()
    before = rss_bytes()
    kept: list[Any] = [chosen.load(data)]
    gc.collect()
    grown = rss_bytes() - before
    tracemalloc.start()
    kept.append(chosen.load(data))
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"rss_bytes": max(0, grown), "heap_bytes": heap}


def main(argv: list[str]) -> int:
    name, path = argv
    print(json.dumps(measure(name, Path(path).read_bytes())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
