"""The report's figures, as PNG bytes (matplotlib, Agg, no pyplot).

We build `matplotlib.figure.Figure` objects directly instead of going
through `pyplot`: no global figure registry to leak memory across plots,
no GUI backend picked from the environment (CI has no display), and PNG
rendering goes through Agg by construction.

Each function returns a `Plot` or None when the run has nothing to draw
(an optional file is absent), so the page simply leaves that plot out.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from reports.summary import RealtimeRun

DPI = 100
WIDE = (10, 4.2)
SATURATED_COLOR = "#c62828"


@dataclass(frozen=True, slots=True)
class Plot:
    """One figure: `name` is its file stem (`<name>.png`), `title` its caption on the page."""

    name: str
    title: str
    png: bytes
    # Vector copies for papers (experiment plots write them next to the PNG).
    svg: bytes = b""
    pdf: bytes = b""


def _render(figure: Figure, name: str, title: str) -> Plot:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return Plot(name, title, buffer.getvalue())


def _colors(n: int) -> list[Any]:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _grid(ax: Axes) -> None:
    ax.grid(True, which="major", alpha=0.3)


MAX_EVENTS_PLOTTED = 8


def _plotted_events(run: RealtimeRun, names: set[str]) -> tuple[list[str], int]:
    """The events worth a line: the main one, then the busiest, up to MAX_EVENTS_PLOTTED.

    Events that measure a period rather than a latency (`*.interval`, ~1000 ms
    by design) would flatten every other line; they stay in the tables.
    Returns the chosen names and how many were left out.
    """
    candidates = {n for n in names if not n.endswith(".interval")}
    counts = {
        n: (run.histograms[n].get_total_count() if n in run.histograms else 0) for n in candidates
    }
    ranked = sorted(candidates, key=lambda n: (n != run.main_event, -counts[n], n))
    chosen = sorted(ranked[:MAX_EVENTS_PLOTTED])
    return chosen, len(names) - len(chosen)


def _seconds(series: list[dict[str, Any]]) -> list[float]:
    return [float(row.get("second") or 0) for row in series]


# ------------------------------------------------------------------ real-time runs
def realtime_plots(run: RealtimeRun) -> list[Plot]:
    candidates = [
        latency_over_time(run),
        latency_percentiles(run),
        throughput(run),
        errors_per_second(run),
        connected_users(run),
        generator_cpu(run),
    ]
    return [plot for plot in candidates if plot is not None]


def latency_over_time(run: RealtimeRun) -> Plot | None:
    """p50 and p99 per second: per event when `series_events.csv` exists, else the main event."""
    lines: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: {"p50": [], "p99": []}
    )
    for row in run.event_series:
        event, second = row.get("event"), row.get("second")
        if event is None or second is None:
            continue
        for key in ("p50", "p99"):
            value = row.get(f"{key}_ms")
            if value is not None:
                lines[str(event)][key].append((float(second), float(value)))
    source = "per event (series_events.csv)"
    if not lines:
        main = run.main_event or "main event"
        for row in run.series:
            for key in ("p50", "p99"):
                value = row.get(f"main_{key}_ms")
                if value is not None:
                    lines[main][key].append((float(row.get("second") or 0), float(value)))
        source = f"main event {main} (series.csv)"
    if not lines:
        return None
    events, left_out = _plotted_events(run, set(lines))
    if not events:
        return None
    figure = Figure(figsize=(10, 6.5))
    axes = figure.subplots(2, 1, sharex=True)
    colors = dict(zip(events, _colors(len(events)), strict=True))
    for ax, key in zip(axes, ("p50", "p99"), strict=True):
        for event in events:
            points = sorted(lines[event][key])
            if points:
                xs, ys = zip(*points, strict=True)
                width = 2.2 if event == run.main_event else 1.3
                ax.plot(xs, ys, marker=".", color=colors[event], label=event, linewidth=width)
        ax.set_ylabel(f"{key} latency (ms, log)")
        ax.set_yscale("log")
        ax.set_title(f"{key} per second")
        _grid(ax)
    axes[-1].set_xlabel("time since start (s)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    more = f"; {left_out} more events in the tables" if left_out else ""
    figure.suptitle(f"Latency over time — {source}{more}")
    return _render(figure, "latency_over_time", "Latency percentiles over time")


PERCENTILE_TICKS = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999]


def percentile_spectrum(histogram: Any, points: int = 160) -> tuple[list[float], list[float]]:
    """(x, latency ms) with x = 1/(1-p): HdrHistogram's percentile-plot axis.

    The x range ends where one more "nine" would exceed the sample count,
    since beyond that the histogram has no information (it is the max).
    """
    count = histogram.get_total_count()
    top = max(10.0, min(float(count), 1e6))
    xs, ys = [], []
    for i in range(points + 1):
        x = top ** (i / points)
        percentile = 100.0 * (1.0 - 1.0 / x)
        xs.append(x)
        ys.append(histogram.get_value_at_percentile(percentile) / 1000.0)
    xs.append(top)
    ys.append(histogram.get_max_value() / 1000.0)
    return xs, ys


def latency_percentiles(run: RealtimeRun) -> Plot | None:
    """The latency distribution of every event, in HdrHistogram's percentile style."""
    histograms = {k: h for k, h in sorted(run.histograms.items()) if h.get_total_count() > 0}
    if not histograms:
        return None
    events, left_out = _plotted_events(run, set(histograms))
    histograms = {k: histograms[k] for k in events}
    if not histograms:
        return None
    figure = Figure(figsize=(10, 5.5))
    ax = figure.subplots()
    top = 10.0
    lowest, highest = math.inf, 0.0
    for (event, histogram), color in zip(histograms.items(), _colors(len(histograms)), strict=True):
        xs, ys = percentile_spectrum(histogram)
        top = max(top, xs[-1])
        lowest, highest = min(lowest, min(ys)), max(highest, max(ys))
        width = 2.2 if event == run.main_event else 1.3
        ax.plot(
            xs,
            ys,
            color=color,
            linewidth=width,
            label=f"{event} (n={histogram.get_total_count():,})",
        )
    ax.set_xscale("log")
    ticks = [(1 / (1 - p / 100), p) for p in PERCENTILE_TICKS if 1 / (1 - p / 100) <= top * 1.001]
    ax.xaxis.set_major_locator(FixedLocator([x for x, _ in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{p:g}%" for _, p in ticks])
    ax.set_xlim(1, top)
    if lowest >= 0 and highest / max(lowest, 1e-3) > 50:
        ax.set_yscale("log")
        # below 50 µs is scheduler noise (tick jitter near 0): do not spend decades on it
        ax.set_ylim(bottom=max(0.05, lowest), top=highest * 1.5)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    more = f"\n{left_out} more events in the tables" if left_out else ""
    ax.set_title(f"Latency by percentile (HdrHistogram, coordinated omission corrected){more}")
    _grid(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return _render(figure, "latency_percentiles", "Latency distribution (percentile spectrum)")


def throughput(run: RealtimeRun) -> Plot | None:
    if not run.series:
        return None
    figure = Figure(figsize=WIDE)
    ax = figure.subplots()
    xs = _seconds(run.series)
    ax.plot(xs, [r.get("sent") or 0 for r in run.series], marker=".", label="sent")
    ax.plot(xs, [r.get("received") or 0 for r in run.series], marker=".", label="received")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("messages per second")
    ax.set_title("Throughput: messages sent and received by the generator per second")
    ax.set_ylim(bottom=0)
    _grid(ax)
    ax.legend()
    return _render(figure, "throughput", "Throughput (sent / received per second)")


def errors_per_second(run: RealtimeRun) -> Plot | None:
    if not run.series:
        return None
    figure = Figure(figsize=WIDE)
    ax = figure.subplots()
    errors = [r.get("errors") or 0 for r in run.series]
    ax.bar(_seconds(run.series), errors, width=0.8, color=SATURATED_COLOR, label="errors")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("errors per second")
    total = sum(errors)
    ax.set_title(f"Errors per second (total {total:g})")
    ax.set_ylim(bottom=0, top=max(1, max(errors, default=0)) * 1.15)
    _grid(ax)
    ax.legend()
    return _render(figure, "errors", "Errors per second")


def connected_users(run: RealtimeRun) -> Plot | None:
    if not run.series or all(r.get("connected") is None for r in run.series):
        return None
    figure = Figure(figsize=WIDE)
    ax = figure.subplots()
    ax.step(
        _seconds(run.series),
        [r.get("connected") or 0 for r in run.series],
        where="post",
        label="connected",
    )
    users = run.meta.get("users")
    if isinstance(users, int):
        ax.axhline(users, color="grey", linestyle="--", label=f"planned users ({users})")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("connected users")
    ax.set_title("Connected users")
    ax.set_ylim(bottom=0)
    _grid(ax)
    ax.legend()
    return _render(figure, "connected", "Connected users")


def saturated_seconds(run: RealtimeRun) -> list[float]:
    """Seconds in which a generator process may have been saturated (≥ the per-process threshold).

    The series' `cpu_percent` is summed over processes, so one saturated
    process among several hides under `threshold × procs`; the series holds
    no per-process CPU. A second is marked when the sum reaches one process's
    threshold (necessary for any process to be saturated, so none is missed;
    exact with one process), unless meta's per-process data
    (`generator_cpu_per_process`: `saturated_seconds`, `peak_percent`) says
    that no process ever reached it.
    """
    threshold = run.saturation_percent
    per_process = run.meta.get("generator_cpu_per_process")
    if isinstance(per_process, list) and per_process:
        entries = [entry for entry in per_process if isinstance(entry, dict)]
        counts = [entry.get("saturated_seconds") for entry in entries]
        peaks = [entry.get("peak_percent") for entry in entries]
        if counts and all(isinstance(n, int) for n in counts):
            never = not any(counts)
        else:
            never = bool(peaks) and all(isinstance(p, int | float) and p < threshold for p in peaks)
        if never:
            return []
    return [
        x
        for x, row in zip(_seconds(run.series), run.series, strict=True)
        if row.get("saturated") or (row.get("cpu_percent") or 0.0) >= threshold
    ]


def generator_cpu(run: RealtimeRun) -> Plot | None:
    """The generator's own CPU, saturated seconds in red: generator honesty.

    The curve is summed over processes; a second is red when any process may
    have been saturated (`saturated_seconds`), not only when all were.
    """
    if not run.series or all(r.get("cpu_percent") is None for r in run.series):
        return None
    recorded = run.meta.get("procs")
    procs = max(1, recorded) if isinstance(recorded, int) else 1
    threshold = run.saturation_percent
    xs = _seconds(run.series)
    cpu = [r.get("cpu_percent") or 0.0 for r in run.series]
    hot = set(saturated_seconds(run))
    figure = Figure(figsize=WIDE)
    ax = figure.subplots()
    top = max(threshold * 1.25, max(cpu, default=0) * 1.1)
    ax.axhline(
        threshold,
        color=SATURATED_COLOR,
        linestyle="--",
        linewidth=1,
        label=f"one process saturated ({threshold:.0f}% of a core)",
    )
    if procs > 1 and threshold * procs <= top:
        ax.axhline(
            threshold * procs,
            color=SATURATED_COLOR,
            linestyle=":",
            linewidth=1,
            label=f"all {procs} processes saturated",
        )
    for x in sorted(hot):  # shade whole seconds: visible even when the sum looks modest
        ax.axvspan(x - 0.5, x + 0.5, color=SATURATED_COLOR, alpha=0.12, linewidth=0)
    ax.plot(xs, cpu, marker=".", color="#1565c0", label="generator CPU (summed)")
    marked = [(x, c) for x, c in zip(xs, cpu, strict=True) if x in hot]
    if marked:
        hx, hy = zip(*marked, strict=True)
        label = "saturated seconds" if procs == 1 else "a process may be saturated"
        ax.scatter(hx, hy, color=SATURATED_COLOR, zorder=3, label=label)
    ax.set_ylim(0, top)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel(f"CPU (% of one core, summed over {procs} proc{'s' if procs > 1 else ''})")
    if run.generator_saturated:
        ax.set_title("Generator CPU — SATURATED", color=SATURATED_COLOR, fontweight="bold")
        ax.text(
            0.5,
            0.5,
            "GENERATOR SATURATED\nlatencies describe the generator, not the server",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=14,
            fontweight="bold",
            color=SATURATED_COLOR,
            bbox={"facecolor": "white", "edgecolor": SATURATED_COLOR, "alpha": 0.85},
        )
    else:
        ax.set_title("Generator CPU (the load generator's own process time)")
    _grid(ax)
    ax.legend(loc="upper left", fontsize="small")
    return _render(figure, "generator_cpu", "Generator CPU")
