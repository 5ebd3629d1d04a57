"""The CRDT suite's report page: table.md's figures, laid out to fit a laptop-wide window."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import build_report
from reports.crdt_table import CSS
from tests.reports.suite_fixtures import (
    MAP_ROWS,
    SUBJECTS,
    TEXT_ONLY,
    PageGroup,
    read_suite_table,
    write_suite_run,
)

MEASURES = [
    "time (ms)",
    "avgUpdateSize (bytes)",
    "encodeTime (ms)",
    "docSize (bytes)",
    "parseTime (ms)",
    "memUsed: RSS (bytes)",
    "memUsed: Python heap (bytes)",
]


@pytest.fixture(scope="module")
def widest_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = write_suite_run(tmp_path_factory.mktemp("suite") / "run")
    page, images = build_report(run)
    assert images == []
    return run, page.read_text(encoding="utf-8")


def test_each_row_is_a_heading_and_each_line_names_its_measure_and_unit(
    widest_run: tuple[Path, str],
) -> None:
    _, html = widest_run
    columns, groups = read_suite_table(html)
    assert columns == ["N = 6000", *SUBJECTS]
    ids = [group.title.split("]")[0] + "]" for group in groups]
    assert ids[11:15] == ["[B3.1]", "[B3.2]", "[B3.3]", "[B3.4]"]  # after B1.1-B1.7, B2.1-B2.4
    assert groups[0].title == "[B1.1] Append N characters"
    assert [line.header for line in groups[0].lines] == MEASURES
    merge = groups[-1]
    assert merge.title.startswith("[M1] Long-diverged merge")
    assert "offline typing time (ms)" in [line.header for line in merge.lines]
    assert 'id="B3.4"' in html  # a row's heading is a link target: report.html#B3.4
    # the long title is not repeated down the first column: that is what made it wide
    assert all("[" not in line.header for group in groups for line in group.lines)


def test_the_page_shows_table_md_s_figures_with_the_unit_in_the_line_header(
    widest_run: tuple[Path, str],
) -> None:
    run, html = widest_run
    markdown = {}
    for text in (run / "table.md").read_text().splitlines():
        if text.startswith("| ["):
            name, *cells = (cell.strip() for cell in text.strip("|").split("|"))
            markdown[name] = cells
    _, groups = read_suite_table(html)
    compared = 0
    for group in groups:
        for line in group.lines:
            measure, unit = line.header.removesuffix(")").rsplit(" (", 1)
            expected = markdown[f"{group.title} ({measure})"]
            assert line.cells == [cell.replace(f" {unit}", "") for cell in expected]
            compared += 1
    assert compared == len(markdown)
    b34_time = _group(groups, "[B3.4]").lines[0]
    assert b34_time.cells[SUBJECTS.index("naive")] == "37,669 (36,969–41,291) ✗"


def test_a_cell_wraps_between_its_pieces_never_inside_a_number(
    widest_run: tuple[Path, str],
) -> None:
    """What the layout relies on: numbers and words are nowrap pieces; the cell is not nowrap.

    So a column can be as narrow as its widest number, and the text
    strategies' "n/a: no map type" breaks after "n/a:" rather than widening
    seven columns.
    """
    _, html = widest_run
    _, groups = read_suite_table(html)
    rss = _group(groups, "[B4]").lines[MEASURES.index("memUsed: RSS (bytes)")]
    assert rss.pieces[0] == ["22,474,752"]  # the spread may break after its dash, the median not
    assert rss.cells[0] == "22,474,752 (22,470,656–22,474,752)"
    for row in MAP_ROWS:
        for line in _group(groups, f"[{row}]").lines:
            for subject in TEXT_ONLY:
                assert line.pieces[SUBJECTS.index(subject)] == ["n/a:", "no map type"]
    assert ".piece { white-space: nowrap; }" in CSS
    assert CSS.count("nowrap") == 1  # no rule keeps a whole cell on one line
    # a failed check's mark is glued to the figure it marks, in the spread or in the median
    b34_time = _group(groups, "[B3.4]").lines[0]
    assert b34_time.pieces[SUBJECTS.index("lww")] == ["0.2\u00a0✗"]
    assert b34_time.cells[SUBJECTS.index("naive")].endswith("41,291) ✗")


def _group(groups: list[PageGroup], row_id: str) -> PageGroup:
    return next(group for group in groups if group.title.startswith(row_id))
