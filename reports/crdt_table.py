"""The CRDT suite's table as the suite's README shows it: a line per (row, measure).

One column per subject.

`python -m benchmarks.crdt` writes `suite.json` into a run directory (kind
"crdt-suite"); this module turns it into `table.md` (the benchmark prints
the same text) and into the report page (`python -m reports build DIR`),
which shows the same figures grouped under a heading per row (`html_table`).
Pure formatting: no matplotlib, so the benchmark can use it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Any

# (key in a cell, label in the suite's words, unit)
MEASURES = (
    ("time_s", "time", "ms"),
    ("offline_s", "offline typing time", "ms"),
    ("update_bytes", "avgUpdateSize", "bytes"),
    ("encode_s", "encodeTime", "ms"),
    ("doc_bytes", "docSize", "bytes"),
    ("parse_s", "parseTime", "ms"),
    ("rss_bytes", "memUsed: RSS", "bytes"),
    ("heap_bytes", "memUsed: Python heap", "bytes"),
)

OPTIONAL = {"update_bytes", "offline_s"}  # shown only for rows that measure them


@dataclass(frozen=True, slots=True)
class CellText:
    """What one cell shows, in the pieces a page may wrap between.

    table.md writes a cell on one line ("35 ms (32–97) ✗"); the report page
    names the unit once per line instead of in every cell, and lets a narrow
    column wrap between the pieces. A piece (a number, a word) never wraps.
    The spread moves whole to the next line first, and wraps after its dash
    only when it is wider than the column on its own: eight-digit RSS ranges
    ("(22,470,656–22,474,752)") would otherwise set a column's width alone.
    """

    pieces: tuple[str, ...]  # the median ("35"), or why there is none ("n/a:", "no map type")
    unit: str = ""  # of the median; empty when there is no number
    spread: str = ""  # "(32–97)": min–max, when the runs differ
    failed_check: bool = False  # shown as ✗

    def markdown(self) -> str:
        median = " ".join((*self.pieces, self.unit) if self.unit else self.pieces)
        return " ".join(filter(None, (median, self.spread, "✗" if self.failed_check else "")))


def format_value(value: Any, unit: str) -> CellText:
    """Plain numbers with thousands separators; ranges for repeated runs."""
    if value is None:
        return CellText(("-",))
    if not isinstance(value, dict):
        return CellText((_number(value, unit),), unit)
    median = CellText((_number(value["median"], unit),), unit)
    if value["min"] == value["max"]:
        return median
    spread = f"({_number(value['min'], unit)}–{_number(value['max'], unit)})"
    return CellText(median.pieces, unit, spread)


def _number(value: float, unit: str) -> str:
    if unit == "ms":
        ms = value * 1e3
        return f"{ms:,.0f}" if ms >= 10 else f"{ms:,.1f}"
    return f"{value:,.0f}"


def cell_text(cell: dict[str, Any], key: str, unit: str) -> CellText:
    if "not_applicable" in cell:  # the subject cannot run the row (a text has no map)
        return CellText(("n/a:", cell["not_applicable"]))
    if "skipped" in cell:
        return CellText(("skipped",))
    if "failed" in cell:
        return CellText(("failed",))
    text = format_value(cell.get(key), unit)
    if key == "time_s" and not cell.get("ok", True):
        text = CellText(text.pieces, text.unit, text.spread, failed_check=True)
    return text


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the table: a row of the suite, one measure, every subject's cell."""

    row_id: str  # "B1.1"
    row: str  # "[B1.1] Append N characters"
    measure: str  # the suite's label: "time", "avgUpdateSize", ...
    unit: str
    cells: tuple[CellText, ...]  # one per subject, in the document's order

    @property
    def name(self) -> str:
        """The suite README's first column: "[B1.1] Append N characters (time)"."""
        return f"{self.row} ({self.measure})"


def table_lines(document: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    subjects = document["subjects"]
    for row in document["rows"]:
        cells = document["cells"][row["id"]]
        for key, label, unit in MEASURES:
            if key in OPTIONAL and all(cells[s].get(key) is None for s in subjects):
                continue
            texts = tuple(cell_text(cells[s], key, unit) for s in subjects)
            heading = f"[{row['id']}] {row['title']}"
            lines.append(Line(row["id"], heading, label, unit, texts))
    return lines


def markdown_table(document: dict[str, Any]) -> str:
    subjects = document["subjects"]
    header = f"| N = {document['n']} | " + " | ".join(subjects) + " |"
    align = "| :- | " + " | ".join("-:" for _ in subjects) + " |"
    lines = [header, align]
    for line in table_lines(document):
        cells = [line.name, *(cell.markdown() for cell in line.cells)]
        lines.append("| " + " | ".join(cells) + " |")
    runs = document.get("runs", 1)
    notes = [
        "",
        f"{runs} run(s) per cell: median (min–max). "
        "✗: the cell's check failed (texts or maps differ).",
        "memUsed is measured in a fresh process per cell: RSS growth (native heaps included) and "
        "the Python heap (tracemalloc) while loading the encoded document.",
    ]
    if _has_not_applicable(document):
        notes.append(NOT_APPLICABLE_NOTE)
    return "\n".join(lines + notes) + "\n"


NOT_APPLICABLE_NOTE = (
    "n/a: the subject cannot run the row; B3.1-B3.3 set a key of a map, and rtlab's strategies "
    "are texts with no map type (only the raw libraries run them)."
)


def _has_not_applicable(document: dict[str, Any]) -> bool:
    return any(
        "not_applicable" in cell for row in document["cells"].values() for cell in row.values()
    )


def is_suite_run(path: Path) -> bool:
    meta = path / "meta.json"
    if not meta.is_file():
        return False
    return bool(json.loads(meta.read_text()).get("kind") == "crdt-suite")


def build_page(path: Path) -> Path:
    """Write `report.html` and `table.md` for a suite run directory; return the page."""
    document = json.loads((path / "suite.json").read_text())
    meta = json.loads((path / "meta.json").read_text())
    (path / "table.md").write_text(markdown_table(document))
    page = path / "report.html"
    page.write_text(html_page(document, meta), encoding="utf-8")
    return page


def html_page(document: dict[str, Any], meta: dict[str, Any]) -> str:
    native = ", ".join(document.get("native") or []) or "none"
    facts = {
        "command": " ".join(str(part) for part in meta.get("command", [])),
        "seed": meta.get("seed"),
        "versions": ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items()),
        "host": json.dumps(meta.get("host")),
    }
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in facts.items()
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>CRDT benchmarks {escape(meta.get('run_id', ''))}</title><style>{CSS}</style>"
        "</head><body>"
        f"<h1>CRDT benchmarks (crdt-benchmarks suite), N = {document['n']}</h1>"
        f'<table class="meta"><tbody>{rows}</tbody></table>'
        + html_table(document)
        + f"<p>{document.get('runs', 1)} run(s) per cell: median (min–max). ✗: the cell's check "
        "failed (replicas differ or the text is wrong). Strategies that need the server's order "
        "(ot, naive, lww) send through a DocumentServer, whose work is in their time. "
        f"Native libraries (memory outside the Python heap): {escape(native)}."
        + (f" {escape(NOT_APPLICABLE_NOTE)}" if _has_not_applicable(document) else "")
        + "</p>"
        "</body></html>\n"
    )


def html_table(document: dict[str, Any]) -> str:
    """table.md's lines, grouped: a heading per row of the suite, then a line per measure.

    table.md repeats the row's title on every measure ("[B1.1] Append N
    characters (time)"), as the suite's README does; on a page that first
    column took the width the subjects' nine columns need. Grouped, the first
    column holds the measure and its unit, and a cell wraps between its pieces
    (`CellText`), so the table fits a laptop-wide window instead of running
    off its right edge.
    """
    subjects = document["subjects"]
    head = "".join(f'<th scope="col">{escape(s)}</th>' for s in [f"N = {document['n']}", *subjects])
    groups = []
    for (row_id, row), lines in groupby(
        table_lines(document), lambda line: (line.row_id, line.row)
    ):
        heading = (  # the id makes a row linkable: report.html#B3.1
            f'<tr><th scope="rowgroup" colspan="{len(subjects) + 1}" id="{escape(row_id)}">'
            f"{escape(row)}</th></tr>"
        )
        body = "".join(
            f'<tr><th scope="row"><span class="piece">{escape(line.measure)}</span> '
            f'<span class="piece unit">({escape(line.unit)})</span></th>'
            + "".join(f"<td>{_cell_html(cell)}</td>" for cell in line.cells)
            + "</tr>"
            for line in lines
        )
        groups.append(f"<tbody>{heading}{body}</tbody>")
    return f'<table class="suite"><thead><tr>{head}</tr></thead>{"".join(groups)}</table>'


def _cell_html(cell: CellText) -> str:
    pieces = [escape(piece) for piece in cell.pieces]
    spread = escape(cell.spread)
    if cell.failed_check:  # inside the last piece: the mark never wraps away from its figure
        mark = '&nbsp;<span class="failed-check" role="img" aria-label="check failed">✗</span>'
        if spread:
            spread += mark
        else:
            pieces[-1] += mark
    parts = [f'<span class="piece">{piece}</span>' for piece in pieces]
    if spread:
        parts.append(f'<span class="spread">{spread}</span>')
    return " ".join(parts)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem;
       color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { padding: 0.2rem 0.5rem; border-bottom: 1px solid #eee; text-align: right;
         vertical-align: top; }
table.meta td { text-align: left; }
table.suite thead th { background: #f5f5f5; position: sticky; top: 0; }
table.suite thead th:first-child { text-align: left; }
table.suite th[scope=rowgroup] { text-align: left; background: #fafafa; padding-top: 0.7rem;
                                 border-bottom: 1px solid #ddd; scroll-margin-top: 3rem; }
table.suite th[scope=row] { text-align: left; font-weight: normal; }
.piece { white-space: nowrap; }
.spread, .unit { color: #555; font-size: 0.9em; }
.spread { display: inline-block; }
.failed-check { color: #c62828; font-weight: 600; }
"""
