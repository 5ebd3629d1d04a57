"""`python -m reports build RUN_DIR`: the run's PNGs and its `report.html`, written into RUN_DIR.

The PNGs are written next to the page as well as embedded in it: the page
is what people open, the files are what people paste into an issue.
"""

from __future__ import annotations

from pathlib import Path

from reports.crdt_table import build_page, is_suite_run
from reports.experiment_plots import experiment_figures
from reports.html import experiment_page, realtime_page
from reports.plots import Plot, realtime_plots
from reports.summary import RealtimeRun, Run, load_run

REPORT_NAME = "report.html"


def build_report(path: str | Path) -> tuple[Path, list[Path]]:
    """Write the report of the run at `path`; return the page and the PNG paths."""
    if is_suite_run(Path(path)):  # the CRDT benchmark suite: a table, no plots
        return build_page(Path(path)), []
    run = load_run(path)
    plots, page = render(run)
    images = []
    for plot in plots:
        image = run.path / f"{plot.name}.png"
        image.write_bytes(plot.png)
        images.append(image)
        for suffix, data in ((".svg", plot.svg), (".pdf", plot.pdf)):
            if data:
                image.with_suffix(suffix).write_bytes(data)
    report = run.path / REPORT_NAME
    report.write_text(page, encoding="utf-8")
    return report, images


def render(run: Run) -> tuple[list[Plot], str]:
    if isinstance(run, RealtimeRun):
        plots = realtime_plots(run)
        return plots, realtime_page(run, plots)
    plots = experiment_figures(run)
    return plots, experiment_page(run, plots)
