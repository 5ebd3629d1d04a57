"""A CRDT suite run directory at its widest, and the report page's table read back.

The run has the real rows and subjects of `python -m benchmarks.crdt`, but
every cell holds the widest figures a full run (N = 6000, 3 runs) printed:
seconds-long times with ranges, eight-digit RSS ranges, the text strategies'
"n/a: no map type" on the map rows, lww skipped, naive and lww failing B3.4.
A page that fits this fits a real run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from benchmarks.crdt.rows import Settings, suite

SUBJECTS = ["fugue", "loro", "lww", "naive", "ot", "rga", "yjs", "pycrdt (raw)", "loro (raw)"]
TEXT_ONLY = SUBJECTS[:7]  # rtlab's strategies: no map type
MAP_ROWS = ("B3.1", "B3.2", "B3.3")
WIDEST_CELL = {
    "ok": True,
    "time_s": {"median": 37.669, "min": 36.969, "max": 41.291},
    "offline_s": {"median": 2.934, "min": 2.839, "max": 3.600},
    "update_bytes": 7_912_520,
    "encode_s": {"median": 0.0094, "min": 0.0081, "max": 0.0096},
    "doc_bytes": 1_134_673,
    "parse_s": {"median": 0.141, "min": 0.118, "max": 0.178},
    "rss_bytes": {"median": 22_474_752, "min": 22_470_656, "max": 22_474_752},
    "heap_bytes": {"median": 12_905_366, "min": 12_905_366, "max": 12_905_366},
}


def write_suite_run(path: Path) -> Path:
    rows = suite(Settings(), with_trace=True)
    cells: dict[str, dict[str, Any]] = {}
    for row in rows:
        cells[row.id] = {}
        for subject in SUBJECTS:
            cell: dict[str, Any] = dict(WIDEST_CELL)
            if row.id in MAP_ROWS and subject in TEXT_ONLY:
                cell = {"not_applicable": "no map type"}
            elif row.skips_whole_document and subject == "lww":
                cell = {"skipped": "sends the whole document per op (quadratic on a long trace)"}
            elif row.id == "B3.4" and subject in ("lww", "naive"):
                cell["ok"] = False
                if subject == "lww":  # its three runs took the same time: no spread
                    cell["time_s"] = {"median": 0.0002, "min": 0.0002, "max": 0.0002}
            if row.id != "M1":
                cell.pop("offline_s", None)
            cells[row.id][subject] = cell
    document = {
        "format_version": 1,
        "kind": "crdt-suite",
        "n": 6000,
        "runs": 3,
        "rows": [{"id": r.id, "title": r.title} for r in rows],
        "subjects": SUBJECTS,
        "native": ["yjs", "loro", "pycrdt (raw)", "loro (raw)"],
        "cells": cells,
    }
    meta = {
        "format_version": 1,
        "kind": "crdt-suite",
        "producer": "tests",
        "run_id": path.name,
        "seed": 42,
        "command": ["python", "-m", "benchmarks.crdt", "--runs", "3"],
        "versions": {"python": "3.11.7", "pycrdt": "0.14.13", "loro": "1.17.1"},
        "host": {"hostname": "vm", "cpu_count": 2},
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "suite.json").write_text(json.dumps(document))
    (path / "meta.json").write_text(json.dumps(meta))
    return path


@dataclass
class PageLine:
    header: str  # the line's row header: "time (ms)"
    cells: list[str] = field(default_factory=list)  # each cell's text, spaces collapsed
    pieces: list[list[str]] = field(default_factory=list)  # each cell's unbreakable pieces


@dataclass
class PageGroup:
    title: str  # the rowgroup heading: "[B1.1] Append N characters"
    lines: list[PageLine] = field(default_factory=list)


def read_suite_table(html: str) -> tuple[list[str], list[PageGroup]]:
    """The column headers and the row groups of the page's suite table, as a reader sees them."""
    reader = _SuiteTableReader()
    reader.feed(html)
    return reader.columns, reader.groups


class _SuiteTableReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.groups: list[PageGroup] = []
        self._in_table = False
        self._cell: str | None = None  # "col", "rowgroup", "row" or "td" while inside one
        self._text: list[str] = []
        self._pieces: list[str] = []
        self._piece: list[str] | None = None
        self._spans = 0  # open spans; a piece ends when the span that began it does
        self._piece_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("class") == "suite":
            self._in_table = True
        elif self._in_table and tag == "th":
            self._open(found.get("scope") or "")
        elif self._in_table and tag == "td":
            self._open("td")
        elif self._cell and tag == "span":
            self._spans += 1
            if self._piece is None and "piece" in (found.get("class") or "").split():
                self._piece, self._piece_depth = [], self._spans

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag == "span" and self._cell:
            if self._piece is not None and self._spans == self._piece_depth:
                self._pieces.append("".join(self._piece))
                self._piece = None
            self._spans -= 1
        elif tag in ("th", "td") and self._cell:
            self._close()

    def handle_data(self, data: str) -> None:
        if self._cell:
            self._text.append(data)
        if self._piece is not None:
            self._piece.append(data)

    def _open(self, kind: str) -> None:
        self._cell, self._text, self._pieces = kind, [], []

    def _close(self) -> None:
        text = " ".join("".join(self._text).split())
        if self._cell == "col":
            self.columns.append(text)
        elif self._cell == "rowgroup":
            self.groups.append(PageGroup(text))
        elif self._cell == "row":
            self.groups[-1].lines.append(PageLine(text))
        elif self._cell == "td":
            self.groups[-1].lines[-1].cells.append(text)
            self.groups[-1].lines[-1].pieces.append(self._pieces)
        self._cell = None
