"""The comparison report: several servers' runs of one scenario side by side, with ratios."""

from __future__ import annotations

import json
import subprocess
import sys

from reports.server_comparison import (
    comparison_markdown,
    describe_comparison,
    load_compared,
    metric_rows,
    write_comparison,
)
from tests.conftest import ROOT
from tests.reports.run_fixtures import write_run


def usage(cpu_s: float, rss: float) -> dict:
    return {"cpu_seconds": cpu_s, "cpu_mean_percent": cpu_s * 10, "rss_peak_mib": rss}


def three_runs(tmp_path):
    rtlab = write_run(
        tmp_path / "rtlab",
        {"chat.echo": [2.0] * 10, "chat.ack": [3.0] * 10},
        server={"target": "rtlab", "usage": usage(1.0, 40.0), "pinned_cores": [0]},
    )
    node = write_run(
        tmp_path / "node",
        {"chat.echo": [4.0] * 10},
        profile="tutorial",
        server={"target": "tutorial-node", "usage": usage(0.5, 60.0), "versions": {"node": "v20"}},
    )
    remote = write_run(tmp_path / "remote", {"chat.echo": [1.0] * 5}, profile="tutorial")
    return [rtlab, node, remote]


def row(rows, event, metric):
    return next(r for r in rows if r[0] == event and r[1] == metric)


def test_events_side_by_side_with_ratios_to_the_first(tmp_path) -> None:
    runs = load_compared(three_runs(tmp_path))
    assert [r.label for r in runs] == ["rtlab", "tutorial-node", "ws://127.0.0.1:1"]
    rows = metric_rows(runs)
    assert rows[0][0] == "chat.echo"  # the main event first
    echo = row(rows, "chat.echo", "p50 ms")
    assert echo == ["chat.echo", "p50 ms", "2.00", "4.00", "1.00", "2.00x", "0.50x"]
    assert row(rows, "chat.echo", "rate/s")[2:] == ["3.3", "3.3", "1.7", "1.00x", "0.50x"]
    assert row(rows, "chat.ack", "p50 ms")[2:] == ["3.00", "-", "-", "-", "-"]
    assert row(rows, "(server)", "server RSS peak MiB")[2:] == ["40.0", "60.0", "-", "1.50x", "-"]
    assert row(rows, "(run)", "target profile")[2:5] == ["rtlab", "tutorial", "tutorial"]
    assert row(rows, "(run)", "messages lost")[2:5] == ["0/40", "0/40", "0/40"]
    text = describe_comparison(runs)
    assert "tutorial-node/rtlab" in text and "pinned to cores [0]" in text and "node v20" in text
    markdown = comparison_markdown(runs)
    assert markdown.splitlines()[0].startswith("| event | metric | rtlab | tutorial-node |")


def test_the_cli_prints_and_writes_the_comparison(tmp_path) -> None:
    paths = three_runs(tmp_path)
    out = tmp_path / "cmp"
    result = subprocess.run(
        [sys.executable, "-m", "reports", "servers", *map(str, paths), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "chat.echo" in result.stdout and "comparison: " in result.stdout
    data = json.loads((out / "comparison.json").read_text())
    assert [t["label"] for t in data["targets"]] == ["rtlab", "tutorial-node", "ws://127.0.0.1:1"]
    assert "<table>" in (out / "comparison.html").read_text()
    assert write_comparison(tmp_path / "again", load_compared(paths))[0].name == "comparison.txt"
