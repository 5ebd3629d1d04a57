"""The CRDT suite's table as the suite's README shows it: a line per (row, measure).

One column per subject.

`python -m benchmarks.crdt` writes `suite.json` into a run directory (kind
"crdt-suite"); this module turns it into `table.md` (the benchmark prints
the same text) and into the report page (`python -m reports build DIR`).
Pure formatting: no matplotlib, so the benchmark can use it too.
"""

from __future__ import annotations

import json
from html import escape
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


def format_value(value: Any, unit: str) -> str:
    """Plain numbers with thousands separators; ranges for repeated runs."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        median = format_value(value["median"], unit)
        if value["min"] == value["max"]:
            return median
        low = _number(value["min"], unit)
        high = _number(value["max"], unit)
        return f"{median} ({low}–{high})"
    return f"{_number(value, unit)} {unit}"


def _number(value: float, unit: str) -> str:
    if unit == "ms":
        ms = value * 1e3
        return f"{ms:,.0f}" if ms >= 10 else f"{ms:,.1f}"
    return f"{value:,.0f}"


def cell_text(cell: dict[str, Any], key: str, unit: str) -> str:
    if "not_applicable" in cell:  # the subject cannot run the row (a text has no map)
        return f"n/a: {cell['not_applicable']}"
    if "skipped" in cell:
        return "skipped"
    if "failed" in cell:
        return "failed"
    text = format_value(cell.get(key), unit)
    if key == "time_s" and not cell.get("ok", True):
        text += " ✗"
    return text


def table_rows(document: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    subjects = document["subjects"]
    for row in document["rows"]:
        cells = document["cells"][row["id"]]
        for key, label, unit in MEASURES:
            if key in OPTIONAL and all(cells[s].get(key) is None for s in subjects):
                continue
            name = f"[{row['id']}] {row['title']} ({label})"
            rows.append([name, *(cell_text(cells[s], key, unit) for s in subjects)])
    return rows


def markdown_table(document: dict[str, Any]) -> str:
    subjects = document["subjects"]
    header = f"| N = {document['n']} | " + " | ".join(subjects) + " |"
    align = "| :- | " + " | ".join("-:" for _ in subjects) + " |"
    lines = [header, align]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(document)]
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
    subjects = document["subjects"]
    head = "".join(f"<th>{escape(s)}</th>" for s in [f"N = {document['n']}", *subjects])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
        for row in table_rows(document)
    )
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
        f"<title>CRDT benchmarks {escape(meta.get('run_id', ''))}</title><style>{CSS}</style>"
        "</head><body>"
        f"<h1>CRDT benchmarks (crdt-benchmarks suite), N = {document['n']}</h1>"
        f'<table class="meta"><tbody>{rows}</tbody></table>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{document.get('runs', 1)} run(s) per cell: median (min–max). ✗: the cell's check "
        "failed (replicas differ or the text is wrong). Strategies that need the server's order "
        "(ot, naive, lww) send through a DocumentServer, whose work is in their time. "
        f"Native libraries (memory outside the Python heap): {escape(native)}."
        + (f" {escape(NOT_APPLICABLE_NOTE)}" if _has_not_applicable(document) else "")
        + "</p>"
        "</body></html>\n"
    )


CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
td { white-space: nowrap; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
table.meta td { text-align: left; }
"""
