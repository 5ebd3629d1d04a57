"""Figures of a strategy experiment, made to be published.

What a reader of a paper needs that a dashboard does not:
- every strategy recognisable without colour (a line style and a marker
  each, the same in every figure), so a fugue line under a yjs line or a
  grey-scale print still reads;
- intervals: bars carry 95% bootstrap intervals over seeds (results.json
  has them as `*_ci95`);
- intention metrics only where they mean something: over converged runs;
  a strategy that never converged is labelled "diverged", not drawn as 100%;
- CPU inside the strategy (timings.json `strategy_us_per_op`), not the
  simulator around it;
- vector copies (SVG, PDF) next to every PNG, and plain numbers on axes and
  labels (1,234.5, never 1.23e+03).
"""

from __future__ import annotations

import io
from collections import defaultdict
from statistics import fmean
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from reports.plots import DPI, SATURATED_COLOR, Plot, _colors, _grid
from reports.summary import ExperimentRun

LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h"]
HATCHES = ["", "//", "\\\\", "xx", "..", "++", "--", "oo", "**"]


def plain(value: float, _position: object = None) -> str:
    """1,234 / 12.5 / 0.031: thousands separators, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def style(index: int) -> dict[str, Any]:
    return {
        "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def render(figure: Figure, name: str, title: str) -> Plot:
    figure.tight_layout()
    files = {}
    for kind in ("png", "svg", "pdf"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=DPI, metadata=_metadata(kind))
        files[kind] = buffer.getvalue()
    return Plot(name, title, files["png"], svg=files["svg"], pdf=files["pdf"])


def _metadata(kind: str) -> dict[str, Any]:
    # No creation dates: the same run gives the same files.
    if kind == "svg":
        return {"Date": None}
    if kind == "pdf":
        return {"CreationDate": None}
    return {}


def _plain_axis(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(plain))


def _mean_band(
    rows: list[dict[str, Any]], column: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Mean, min and max across seeds at every sampled instant.

    A seed that finished earlier than others keeps its last value: its
    replicas stay in the state the run ended in, so leaving it out would
    make the mean jump whenever a short seed ends.
    """
    per_seed: dict[Any, dict[float, float]] = defaultdict(dict)
    for row in rows:
        value, t = row.get(column), row.get("t")
        if value is not None and t is not None:
            per_seed[row.get("seed")][round(float(t), 6)] = float(value)
    times = sorted({t for samples in per_seed.values() for t in samples})
    means: list[float] = []
    lows: list[float] = []
    highs: list[float] = []
    last: dict[Any, float] = {}
    for t in times:
        for seed, samples in per_seed.items():
            if t in samples:
                last[seed] = samples[t]
        values = list(last.values())
        means.append(fmean(values))
        lows.append(min(values))
        highs.append(max(values))
    return times, means, lows, highs


def experiment_figures(run: ExperimentRun) -> list[Plot]:
    candidates = [
        divergence_over_time(run),
        convergence_times(run),
        cost_per_op(run),
        survival_and_interleavings(run),
    ]
    return [plot for plot in candidates if plot is not None]


def divergence_over_time(run: ExperimentRun) -> Plot | None:
    if not run.divergence:
        return None
    figure = Figure(figsize=(10, 6.5))
    axes = figure.subplots(2, 1, sharex=True)
    strategies = run.strategies
    colors = _colors(len(strategies))
    for index, strategy in enumerate(strategies):
        rows = run.divergence.get(strategy)
        if not rows:
            continue
        for ax, column in zip(axes, ("distance", "distinct_texts"), strict=True):
            times, means, lows, highs = _mean_band(rows, column)
            if times:
                # Sparse markers, each strategy on other samples: coinciding lines
                # (CRDTs that merge alike) still show every strategy's markers.
                every = max(len(strategies), len(times) // 12)
                ax.plot(
                    times,
                    means,
                    color=colors[index],
                    label=f"{strategy} (mean)",
                    markevery=(index * every // len(strategies), every),
                    markersize=5,
                    linewidth=1.6,
                    **style(index),
                )
                ax.fill_between(times, lows, highs, color=colors[index], alpha=0.12, linewidth=0)
    axes[0].set_ylabel("edit distance to server\n(share of text)")
    axes[0].set_title("Divergence: mean over seeds, band = min..max across seeds")
    axes[1].set_ylabel("distinct texts across replicas")
    axes[1].set_title("Distinct replica texts (1 = all agree)")
    axes[1].set_xlabel("virtual time since editing began (s)")
    for ax in axes:
        ax.set_ylim(bottom=0)
        _plain_axis(ax)
        _grid(ax)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return render(figure, "divergence", "Divergence over time per strategy")


def convergence_times(run: ExperimentRun) -> Plot | None:
    strategies = run.strategies
    data = [
        [
            float(s["convergence_s"])
            for s in run.seeds(strategy)
            if s.get("converged") and s.get("convergence_s") is not None
        ]
        for strategy in strategies
    ]
    figure = Figure(figsize=(max(6, 1.4 * len(strategies) + 2), 4.5))
    ax = figure.subplots()
    positions = list(range(1, len(strategies) + 1))
    present = [(p, d) for p, d in zip(positions, data, strict=True) if d]
    if present:
        ax.boxplot([d for _, d in present], positions=[p for p, _ in present], widths=0.5)
    colors = _colors(len(strategies))
    for index, (position, values) in enumerate(zip(positions, data, strict=True)):
        if values:
            spread = [position + 0.12 * ((i % 5) - 2) / 2 for i in range(len(values))]
            ax.scatter(
                spread,
                values,
                color=colors[index],
                marker=MARKERS[index % len(MARKERS)],
                alpha=0.8,
                zorder=3,
                s=22,
            )
    summaries = [run.strategy_summary(s) for s in strategies]
    ax.set_xticks(positions)
    ax.set_xticklabels(
        [
            f"{s}\n{m['converged']}/{m['runs']} converged"
            for s, m in zip(strategies, summaries, strict=True)
        ]
    )
    ax.set_xlim(0.4, len(strategies) + 0.6)
    ymax = max((max(d) for d in data if d), default=1.0)
    ax.set_ylim(0, ymax * 1.2 or 1.0)
    for position, values in zip(positions, data, strict=True):
        if not values:
            ax.text(position, ymax * 0.5, "never\nconverged", ha="center", color=SATURATED_COLOR)
    ax.set_ylabel("time to convergence after last keystroke (virtual s)")
    ax.set_title("Time to convergence per strategy (one marker per seed)")
    _plain_axis(ax)
    _grid(ax)
    return render(figure, "convergence_time", "Time-to-convergence distribution")


def _bars(
    ax: Axes,
    labels: list[str],
    values: list[float | None],
    intervals: list[list[float] | None],
    ylabel: str,
    title: str,
    missing: str = "n/a",
) -> None:
    """Bars with 95% intervals; a strategy without a value gets a labelled gap, never a bar."""
    colors = _colors(len(labels))
    heights = [0.0 if v is None else float(v) for v in values]
    lower = [
        0.0 if v is None or ci is None else max(0.0, float(v) - ci[0])
        for v, ci in zip(values, intervals, strict=True)
    ]
    upper = [
        0.0 if v is None or ci is None else max(0.0, ci[1] - float(v))
        for v, ci in zip(values, intervals, strict=True)
    ]
    bars = ax.bar(
        labels,
        heights,
        color=colors,
        edgecolor="black",
        linewidth=0.6,
        yerr=[lower, upper],
        capsize=4,
    )
    for index, bar in enumerate(bars):
        bar.set_hatch(HATCHES[index % len(HATCHES)])
    top = max((h + u for h, u in zip(heights, upper, strict=True)), default=1.0) or 1.0
    for bar, value, up in zip(bars, values, upper, strict=True):
        text = missing if value is None else plain(float(value))
        ax.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height() + up + top * 0.01),
            ha="center",
            va="bottom",
            fontsize="small",
            color=SATURATED_COLOR if value is None else "black",
        )
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, top * 1.25)
    _plain_axis(ax)
    _grid(ax)


def cost_per_op(run: ExperimentRun) -> Plot | None:
    strategies = run.strategies
    summaries = [run.strategy_summary(s) for s in strategies]
    timing = [run.timings.get(s) or {} for s in strategies]
    figure = Figure(figsize=(11, 4.4))
    left, right = figure.subplots(1, 2)
    _bars(
        left,
        strategies,
        [m.get("bytes_per_op_mean") for m in summaries],
        [m.get("bytes_per_op_ci95") for m in summaries],
        "bytes on the wire per keystroke",
        "Network cost per op (95% CI over seeds)",
    )
    _bars(
        right,
        strategies,
        [run.strategy_us_per_op(s) for s in strategies],
        [t.get("strategy_us_per_op_ci95") for t in timing],
        "CPU in the strategy per keystroke (µs)",
        "Strategy CPU per op: apply/insert/receive only (95% CI)",
    )
    return render(figure, "cost_per_op", "Bytes per op and strategy CPU per op")


def survival_and_interleavings(run: ExperimentRun) -> Plot | None:
    strategies = run.strategies
    summaries = [run.strategy_summary(s) for s in strategies]
    figure = Figure(figsize=(11, 4.4))
    left, right = figure.subplots(1, 2)
    survival = [m.get("survival_mean") for m in summaries]
    survival_ci = [m.get("survival_ci95") for m in summaries]
    _bars(
        left,
        strategies,
        [None if v is None else 100 * float(v) for v in survival],
        [None if ci is None else [100 * ci[0], 100 * ci[1]] for ci in survival_ci],
        "surviving keystrokes (%)",
        "Intent survival, converged runs only (95% CI)",
        missing="diverged",
    )
    left.set_ylim(0, 115)
    _bars(
        right,
        strategies,
        [m.get("interleavings_mean") for m in summaries],
        [m.get("interleavings_ci95") for m in summaries],
        "interleavings per run",
        "Interleaved words, converged runs only (95% CI)",
        missing="diverged",
    )
    return render(figure, "survival_interleavings", "Survival % and interleavings")
