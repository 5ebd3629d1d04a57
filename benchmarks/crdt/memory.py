"""Memory of one loaded document, measured in a fresh process (the suite's memUsed).

    python -m benchmarks.crdt.memory SUBJECT ENCODED_FILE [--map]  # {"rss_bytes", "heap_bytes"}

Why a process of its own: RSS only grows inside a process that has run the
benchmark before (freed memory is reused, not returned), so a delta there
says nothing. Here, after imports and a warm-up load of a tiny document:
`rss_bytes` is how much the process RSS grew while loading the document
(native heaps such as Yrs's or Loro's included), `heap_bytes` what
tracemalloc sees of the same load done again (Python objects only; it
cannot see native memory). Both keep the loaded document alive while they
read. `--map`: the document is one of the map rows' (B3.1-B3.3), loaded and
warmed up through the subject's map type.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measure(subject_name: str, data: bytes, of_map: bool = False) -> dict[str, int]:
    from benchmarks.crdt.subjects import subject

    chosen = subject(subject_name)
    load: Callable[[bytes], Any] = chosen.load
    if of_map:
        if chosen.maps is None:
            raise SystemExit(f"{subject_name} has no map type")
        load = chosen.maps.load
        warm_map = chosen.maps.create(0)
        warm_map.set("warm", "up")
        load(warm_map.encode())
    else:
        warm = chosen.group(1)
        warm.insert(0, 0, "warm up")
        load(warm.encode(0))
    gc.collect()
    before = rss_bytes()
    kept: list[Any] = [load(data)]
    gc.collect()
    grown = rss_bytes() - before
    tracemalloc.start()
    kept.append(load(data))
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"rss_bytes": max(0, grown), "heap_bytes": heap}


def main(argv: list[str]) -> int:
    of_map = "--map" in argv
    name, path = [arg for arg in argv if arg != "--map"]
    print(json.dumps(measure(name, Path(path).read_bytes(), of_map)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
