"""The CRDT suite's report page in headless Chromium: the table fits a laptop-wide window.

The page used to keep every cell on one line; with the map rows' nine
columns of "n/a: no map type" the table ran off the right edge. Chromium
lays out a run at its widest (`tests.reports.suite_fixtures`) and the test
reads the geometry: nothing past the window's right edge, and no number
split across lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import build_report
from tests.e2e.chromium import launch, needs_chromium
from tests.reports.suite_fixtures import write_suite_run

pytestmark = needs_chromium

LAYOUT = """() => {
    const root = document.documentElement;
    const table = document.querySelector('table.suite');
    const pieces = [...table.querySelectorAll('.piece')];
    return {
        overflow: root.scrollWidth - root.clientWidth,
        tableRight: table.getBoundingClientRect().right,
        pieces: pieces.length,
        // a piece on two lines has boxes at two heights (a nested mark adds a box, not a line)
        brokenPieces: pieces.filter(p => {
            const tops = [...p.getClientRects()].map(r => r.top);
            return Math.max(...tops) - Math.min(...tops) > 4;
        }).map(p => p.textContent),
        naCells: [...table.querySelectorAll('td')].filter(
            td => td.textContent.startsWith('n/a:')).length,
    };
}"""


@pytest.mark.parametrize("width", [1280, 1152])
def test_the_widest_suite_table_fits_the_window(tmp_path: Path, width: int) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page_path, _ = build_report(write_suite_run(tmp_path / "run"))
    with sync_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(page_path.as_uri())
            layout = page.evaluate(LAYOUT)
        finally:
            browser.close()
    assert layout["overflow"] == 0, layout
    assert layout["tableRight"] <= width
    assert layout["pieces"] > 1000 and layout["brokenPieces"] == []
    assert layout["naCells"] == 3 * 7 * 7  # three map rows, seven measures, seven text strategies
