"""B3.1-B3.3 (20√N clients set one map key), raw pycrdt and Loro: contents, convergence, memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.crdt.__main__ import main
from benchmarks.crdt.maps import MAP_LIBRARIES, MapLibrary
from benchmarks.crdt.rows import Settings, b3_map_rows
from benchmarks.crdt.subjects import all_subjects, subject

SMALL = Settings(n=25)  # 20 * isqrt(25) = 100 clients
CLIENTS = 100
LIBRARIES = sorted(MAP_LIBRARIES)


def test_only_the_raw_libraries_have_a_map() -> None:
    with_map = [s.name for s in all_subjects() if s.maps is not None]
    assert with_map == ["pycrdt (raw)", "loro (raw)"]


@pytest.mark.parametrize("name", LIBRARIES)
def test_map_rows_leave_the_highest_client_s_value(name: str) -> None:
    """Both libraries break the tie between concurrent sets by client id, the highest wins.

    Client i is client id i + 1 in both; the last client (99) set the value
    that every row's encoded document must hold: a number, an object, a string.
    """
    expected = {
        "B3.1": 99,  # pycrdt keeps numbers as doubles: 99.0 == 99
        "B3.2": {"name": "99", "address": "here"},
        "B3.3": "99" * CLIENTS,
    }
    rows = b3_map_rows(SMALL)
    assert [row.id for row in rows] == ["B3.1", "B3.2", "B3.3"]
    for row in rows:
        assert row.needs_map and f"({CLIENTS} clients)" in row.title
        cell = row.run(subject(name), SMALL)
        assert cell.ok, (name, row.id)
        loaded = MAP_LIBRARIES[name].load(cell.encoded)
        assert loaded.entries() == {"v": expected[row.id]}, (name, row.id)
        assert cell.doc_bytes == len(cell.encoded) > 0
        assert cell.update_bytes is not None and cell.update_bytes >= CLIENTS  # one update each


@pytest.mark.parametrize("name", LIBRARIES)
def test_every_replica_converges_whatever_order_it_receives(name: str) -> None:
    library = MAP_LIBRARIES[name]
    docs, updates = _clients_that_set(library, 12, lambda i: {"name": str(i)})
    for i, doc in enumerate(docs):
        others = [u for sender, u in updates if sender != i]
        # a different delivery order per replica: rotated, and reversed for odd ones
        others = others[i:] + others[:i]
        doc.receive_all(others[::-1] if i % 2 else others)
    assert all(doc.entries() == {"v": {"name": "11"}} for doc in docs)


@pytest.mark.parametrize("name", LIBRARIES)
def test_received_updates_are_not_sent_again(name: str) -> None:
    library = MAP_LIBRARIES[name]
    docs, updates = _clients_that_set(library, 3, lambda i: i)
    docs[0].receive_all([u for sender, u in updates if sender != 0])
    assert docs[0].take_outgoing() == []  # integrating is not an edit of ours
    docs[0].set("w", "mine")
    assert len(docs[0].take_outgoing()) == 1


def test_map_rows_measure_memory_for_the_libraries_only(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["--n", "100", "--only", "B3.3", "--subjects", "fugue,pycrdt (raw),loro (raw)"]
    assert main([*argv, "--out", str(out), "--trace", str(tmp_path / "none")]) == 0
    cells = json.loads((out / "suite.json").read_text())["cells"]["B3.3"]
    assert cells["fugue"] == {"not_applicable": "no map type"}
    for name in ("pycrdt (raw)", "loro (raw)"):
        # the probe loaded the map document: it ran, and kept more than nothing alive
        assert cells[name]["ok"] is True
        assert cells[name]["rss_bytes"]["median"] >= 0 and cells[name]["heap_bytes"]["median"] > 0


def _clients_that_set(
    library: MapLibrary, clients: int, value: Any
) -> tuple[list[Any], list[tuple[int, bytes]]]:
    """`clients` documents that each set key "v" once; their updates, tagged by sender."""
    docs = [library.create(i) for i in range(clients)]
    updates: list[tuple[int, bytes]] = []
    for i, doc in enumerate(docs):
        doc.set("v", value(i))
        updates.extend((i, u) for u in doc.take_outgoing())
    return docs, updates
