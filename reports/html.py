"""The report page: one self-contained HTML file (inline CSS, images as data URIs).

Self-contained because the page travels: CI uploads it as an artifact,
people attach it to issues and mail it around. A page that needs a
directory of assets next to it breaks on the first copy.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape
from typing import Any

from reports.catalogue import CATALOGUE_HEADERS, catalogue_rows
from reports.plots import Plot
from reports.summary import (
    EVENT_HEADERS,
    STRATEGY_HEADERS,
    ExperimentRun,
    RealtimeRun,
    event_rows,
    fmt,
    presence_line,
    saturation_warning,
    scenario_name,
    strategy_rows,
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
table.meta td { text-align: left; } table.meta td:first-child { font-weight: 600; }
tr.main td { font-weight: 600; } td.bad { color: #c62828; font-weight: 600; }
.warning { color: #c62828; border: 2px solid #c62828; background: #ffebee;
           padding: 0.8rem 1rem; font-weight: 600; margin: 1rem 0; }
figure { margin: 1.5rem 0; } figcaption { font-weight: 600; margin-bottom: 0.3rem; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f5f5f5; padding: 0 0.2rem; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _meta_table(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(key)}</td><td>{escape(_text(value))}</td></tr>"
        for key, value in pairs
        if value not in (None, "", [], {})
    )
    return f'<table class="meta"><tbody>{rows}</tbody></table>'


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value)
    return str(value)


def _figures(plots: list[Plot]) -> str:
    return "".join(
        f'<figure id="{escape(p.name)}"><figcaption>{escape(p.title)}</figcaption>'
        f'<img alt="{escape(p.title)}" src="{data_uri(p.png)}"></figure>'
        for p in plots
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _host(meta: dict[str, Any]) -> str:
    host = meta.get("host")
    if not isinstance(host, dict):
        return _text(host) if host else ""
    cpus = host.get("cpu_count")
    return f"{host.get('hostname', '?')} ({host.get('platform', '?')}, {cpus} CPUs)"


# ------------------------------------------------------------------ real-time
def realtime_page(run: RealtimeRun, plots: list[Plot]) -> str:
    meta = run.meta
    title = f"rtlab run {meta.get('run_id', run.path.name)}"
    header = _meta_table(
        [
            ("scenario", run.scenario_name),
            ("target", meta.get("target")),
            ("target profile", _profile(meta)),
            ("profile notes", "; ".join((meta.get("target_profile") or {}).get("notes") or [])),
            ("seed", meta.get("seed")),
            ("users", meta.get("users")),
            ("duration", f"{fmt(run.duration_s, '.1f')} s"),
            ("started", meta.get("started_at")),
            ("producer", meta.get("producer")),
            ("processes", meta.get("procs")),
            ("main event", run.main_event),
            ("versions", meta.get("versions")),
            ("host", _host(meta)),
            ("command", meta.get("command")),
        ]
    )
    warning = saturation_warning(run)
    warning_html = f'<p class="warning" id="saturation">{escape(warning)}</p>' if warning else ""
    rows = event_rows(run)
    table = _table(EVENT_HEADERS, rows).replace(
        f"<tr><td>{escape(run.main_event or '')}</td>",
        f'<tr class="main"><td>{escape(run.main_event or "")}</td>',
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        header,
        warning_html,
        "<h2>Per-event summary</h2>",
        table,
        "<p>Latencies are measured from the scheduled send instant (coordinated omission "
        "corrected). Error % = errors / (samples + errors).</p>",
    ]
    if run.delivery:
        parts += ["<h2>Delivery</h2>", _delivery_table(run.delivery)]
    if run.presence:
        parts += [
            '<h2 id="presence">Users lists</h2>',
            f"<p>{escape(presence_line(run.presence))}. "
            f"{escape(run.presence.get('rule', ''))}.</p>",
        ]
    if run.convergence:
        parts += ["<h2>Document convergence</h2>", _convergence_table(run.convergence)]
    if catalogue := catalogue_rows(run.events):
        parts += ['<h2 id="catalogue">Catalogue</h2>', _table(CATALOGUE_HEADERS, catalogue)]
    parts += ["<h2>Plots</h2>", _figures(plots) or "<p>No per-second series in this run.</p>"]
    if not run.event_series:
        parts.append(
            "<p>Per-event latency over time needs <code>series_events.csv</code>; "
            "this run only has the main event's per-second percentiles.</p>"
        )
    return _page(title, "".join(parts))


def _delivery_table(delivery: dict[str, Any]) -> str:
    columns = ["sent", "acked", "members", "expected", "received", "lost", "duplicates"]
    rooms = delivery.get("rooms") or {}
    rows = [[room, *(str(r.get(c, "-")) for c in columns)] for room, r in rooms.items()]
    totals = delivery.get("totals") or {}
    rows.append(["total", *(str(totals.get(c, "")) for c in columns)])
    method = escape(str(delivery.get("method", "?")))
    html = _table(["room", *columns], rows)
    lost = totals.get("lost") or 0
    note = f' <span class="warning">{lost} messages lost</span>' if lost else ""
    return f"<p>Expected counts computed by <code>{method}</code>.{note}</p>{html}"


def _convergence_table(convergence: dict[str, Any]) -> str:
    columns = ["strategy", "editors", "converged", "texts_equal", "idle", "server_length"]
    columns += ["distinct_texts", "divergence"]
    documents = convergence.get("documents") or []
    rows = [
        [str(d.get("document", "?")), *(str(d.get(c, "-")) for c in columns)] for d in documents
    ]
    verdict = "all converged" if convergence.get("converged") else "NOT all converged"
    if any(d.get("server_keeps_text") is False for d in documents):
        verdict += (
            " (the server only relays changes and keeps no text: the editors are compared "
            "with each other; divergence = mean edit distance to the most common text)"
        )
    return f"<p>{escape(verdict)}</p>" + _table(["document", *columns], rows)


def _profile(meta: dict[str, Any]) -> str:
    profile = meta.get("target_profile")
    if not isinstance(profile, dict):
        return ""
    return f"{profile.get('name')} — {profile.get('reason')}"


# ------------------------------------------------------------------ experiments
def experiment_page(run: ExperimentRun, plots: list[Plot]) -> str:
    meta = run.meta
    title = f"rtlab experiment {meta.get('run_id', run.path.name)}"
    parameters = meta.get("parameters") or run.results.get("parameters") or {}
    seeds = meta.get("seeds") or parameters.get("seeds") or []
    header = _meta_table(
        [
            ("scenario", scenario_name(meta)),
            ("strategies", ", ".join(run.strategies)),
            ("seeds", f"{len(seeds)} ({_seed_range(seeds)})"),
            ("editors", parameters.get("editors")),
            ("ops per editor", parameters.get("ops_per_editor")),
            ("typing", parameters.get("typing")),
            ("latency", parameters.get("latency")),
            ("partitions", parameters.get("partitions")),
            ("started", meta.get("started_at")),
            ("producer", meta.get("producer")),
            ("versions", meta.get("versions")),
            ("host", _host(meta)),
            ("command", meta.get("command")),
        ]
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        header,
        "<h2>Strategies</h2>",
        _table(STRATEGY_HEADERS, strategy_rows(run)),
        "<p>Times are virtual seconds. Converged k/n: seeds whose replicas all ended "
        "with the server's text. Survival and interleavings are means over converged "
        "runs only (a strategy that never converged says so). Strategy µs/op is the CPU "
        "time inside the strategy's own calls (apply, insert, receive, ...), not the "
        "simulator's; it is measured, so it varies between runs. Error bars in the plots "
        "are 95% bootstrap intervals over seeds.</p>",
        "<h2>Plots</h2>",
        _figures(plots),
    ]
    return _page(title, "".join(parts))


def _seed_range(seeds: list[Any]) -> str:
    if not seeds:
        return "-"
    if all(isinstance(s, int) for s in seeds) and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)
