"""One scenario against several servers: their figures side by side, with ratios.

`make loadtest-compare TARGETS="rtlab tutorial-node tutorial-python"` runs
the same scenario with the same seed against each target in turn
(scripts/loadtest_compare.py) and hands the run directories here. Per event:
p50/p95/p99 latency and throughput for every target, and each target's
ratio to the first one (the baseline: `2.0x` = twice the baseline's value);
then what each local server spent (CPU, RSS: `server.json`, written by the
driver that started it) and what the harness saw of correctness (messages
lost, wrong users lists, editors that diverged).

Like every report module it reads run directories only. Output: a text
table (the terminal), Markdown (README, issues), JSON and a self-contained
HTML page, written into a comparison directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from reports.summary import RealtimeRun, fmt, load_realtime_run, text_table

LATENCY = (("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"))
THROUGHPUT = ("rate_per_s", "rate/s")
SKIPPED_EVENTS = frozenset({"connect.queue"})  # the generator's own queue, not the server


@dataclass(frozen=True, slots=True)
class ComparedRun:
    """One target's run: its label (the bundled name, else the URL) and what the driver saw."""

    label: str
    run: RealtimeRun
    server: dict[str, Any]

    @property
    def usage(self) -> dict[str, Any]:
        return dict(self.server.get("usage") or {})

    @property
    def profile(self) -> str:
        return str((self.run.meta.get("target_profile") or {}).get("name", "rtlab"))


def load_compared(paths: Sequence[str | Path]) -> list[ComparedRun]:
    runs = []
    for path in paths:
        run = load_realtime_run(path, "servers")
        server_file = run.path / "server.json"
        server = json.loads(server_file.read_text()) if server_file.is_file() else {}
        label = str(server.get("target") or run.meta.get("target") or run.path.name)
        runs.append(ComparedRun(label, run, server))
    return runs


# ------------------------------------------------------------------ the table
def events_compared(runs: Sequence[ComparedRun]) -> list[str]:
    """Every event any run measured; the baseline's main event first."""
    names = {name for r in runs for name in r.run.events} - SKIPPED_EVENTS
    main = runs[0].run.main_event if runs else None
    return sorted(names, key=lambda n: (n != main, n))


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "-"
    if base == 0:
        return "-" if value else "1.00x"
    return f"{value / base:.2f}x"


def metric_rows(runs: Sequence[ComparedRun]) -> list[list[str]]:
    """[event, metric, value per target..., ratio to the first per other target...]."""
    rows = []
    for event in events_compared(runs):
        for key, title in (*LATENCY, THROUGHPUT):
            values = []
            for r in runs:
                stats = r.run.events.get(event)
                values.append(None if stats is None else stats.metric(key))
            if all(v is None for v in values):
                continue
            spec = ".1f" if key == "rate_per_s" else ".2f"
            cells = [fmt(v, spec) for v in values]
            ratios = [ratio(v, values[0]) for v in values[1:]]
            rows.append([event, title, *cells, *ratios])
    rows.extend(server_rows(runs))
    return rows


def server_rows(runs: Sequence[ComparedRun]) -> list[list[str]]:
    """What each server spent and what the harness saw of correctness."""

    def usage(key: str) -> list[float | None]:
        return [r.usage.get(key) for r in runs]

    rows: list[list[str]] = []
    for title, key, spec in (
        ("server CPU mean %", "cpu_mean_percent", ".1f"),
        ("server CPU s", "cpu_seconds", ".2f"),
        ("server RSS peak MiB", "rss_peak_mib", ".1f"),
    ):
        values = usage(key)
        if any(v is not None for v in values):
            rows.append(
                [
                    "(server)",
                    title,
                    *[fmt(v, spec) for v in values],
                    *[ratio(v, values[0]) for v in values[1:]],
                ]
            )
    blanks = [""] * (len(runs) - 1)
    rows.append(["(run)", "target profile", *[r.profile for r in runs], *blanks])
    rows.append(["(run)", "messages lost", *[_delivery(r, "lost") for r in runs], *blanks])
    rows.append(["(run)", "users lists wrong", *[_presence(r) for r in runs], *blanks])
    if any(r.run.convergence for r in runs):
        rows.append(["(run)", "documents converged", *[_converged(r) for r in runs], *blanks])
    rows.append(["(run)", "errors", *[str(_errors(r)) for r in runs], *blanks])
    return rows


def _delivery(r: ComparedRun, key: str) -> str:
    totals = (r.run.delivery or {}).get("totals") or {}
    value = totals.get(key)
    expected = totals.get("expected")
    return "-" if value is None else f"{value}/{expected}"


def _presence(r: ComparedRun) -> str:
    path = r.run.path / "presence.json"
    if not path.is_file():
        return "-"
    presence = json.loads(path.read_text())
    return f"{presence.get('incorrect', 0)}/{presence.get('checked', 0)}"


def _converged(r: ComparedRun) -> str:
    documents = (r.run.convergence or {}).get("documents") or []
    return f"{sum(1 for d in documents if d.get('converged'))}/{len(documents)}"


def _errors(r: ComparedRun) -> int:
    return sum(stats.errors for stats in r.run.events.values())


def headers(runs: Sequence[ComparedRun]) -> list[str]:
    base = runs[0].label
    return ["event", "metric", *[r.label for r in runs], *[f"{r.label}/{base}" for r in runs[1:]]]


def describe_comparison(runs: Sequence[ComparedRun]) -> str:
    """The terminal's table, with what was compared above it."""
    head = comparison_head(runs)
    return head + text_table(headers(runs), metric_rows(runs), left=(0, 1))


def comparison_head(runs: Sequence[ComparedRun]) -> str:
    first = runs[0].run.meta
    lines = [
        f"scenario {runs[0].run.scenario_name}  users {first.get('users')}  "
        f"duration {first.get('duration')} s  seed {first.get('seed')}  "
        f"producer {first.get('producer')}"
    ]
    for r in runs:
        pinned = r.server.get("pinned_cores")
        where = f"  pinned to cores {pinned}" if pinned else ""
        versions = ", ".join(f"{k} {v}" for k, v in (r.server.get("versions") or {}).items())
        lines.append(
            f"  {r.label}: {r.run.path}{where}{'  (' + versions + ')' if versions else ''}"
        )
    saturated = [r.label for r in runs if r.run.generator_saturated]
    if saturated:
        lines.append(
            f"WARNING: the load generator was CPU-saturated on {', '.join(saturated)}: "
            "those latencies describe the generator"
        )
    return "\n".join(lines) + "\n\n"


def comparison_markdown(runs: Sequence[ComparedRun]) -> str:
    heads = headers(runs)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(row) + " |" for row in metric_rows(runs)]
    return "\n".join(lines) + "\n"


def comparison_json(runs: Sequence[ComparedRun]) -> dict[str, Any]:
    return {
        "targets": [
            {
                "label": r.label,
                "run_dir": str(r.run.path),
                "target_profile": r.run.meta.get("target_profile"),
                "server": r.server,
                "events": {
                    name: {
                        "count": s.count,
                        "errors": s.errors,
                        "rate_per_s": s.rate_per_s,
                        "p50_ms": s.p50_ms,
                        "p95_ms": s.p95_ms,
                        "p99_ms": s.p99_ms,
                    }
                    for name, s in r.run.events.items()
                },
            }
            for r in runs
        ],
        "headers": headers(runs),
        "rows": metric_rows(runs),
    }


def comparison_page(runs: Sequence[ComparedRun]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers(runs))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
        for row in metric_rows(runs)
    )
    intro = escape(comparison_head(runs)).replace("\n", "<br>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem}"
        "table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;"
        "text-align:right}td:first-child,td:nth-child(2),th:first-child{text-align:left}"
        "th{background:#f5f5f5}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>rtlab server comparison</title><style>{style}</style></head><body>"
        f"<h1>Servers compared</h1><p>{intro}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<p>Ratios are each target's value over the first target's. Latencies from the "
        "scheduled send instant; server CPU and RSS sampled while the load ran (local "
        "servers only).</p></body></html>\n"
    )


def write_comparison(out_dir: Path, runs: Sequence[ComparedRun]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "comparison.txt": describe_comparison(runs),
        "comparison.md": comparison_markdown(runs),
        "comparison.json": json.dumps(comparison_json(runs), indent=2) + "\n",
        "comparison.html": comparison_page(runs),
    }
    paths = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
