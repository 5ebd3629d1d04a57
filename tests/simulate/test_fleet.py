"""simulate.fleet and its recordings without a server: merging processes, the fd limit."""

from __future__ import annotations

import resource

import pytest

from simulate import fleet
from simulate.recording import Recorder, merge_payloads


def test_merging_adds_histograms_and_series():
    parts = []
    for values in ([1000, 2000], [3000]):
        recorder = Recorder(0, "chat.echo")
        for micros in values:
            recorder.latency("chat.echo", 0, micros * 1000)
            recorder.sent()
        recorder.error("chat.ack", "timeout")
        recorder.tick(1_000_000_000, 50.0)
        parts.append(recorder.payload())
    merged = merge_payloads(parts)
    assert merged["rows"][0]["sent"] == 3 and merged["rows"][0]["cpu_percent"] == 100.0
    assert merged["events"]["chat.ack"]["errors"] == {"timeout": 2}
    from hdrh.histogram import HdrHistogram

    histogram = HdrHistogram.decode(merged["events"]["chat.echo"]["encoded"])
    assert histogram.get_total_count() == 3
    assert 2990 <= histogram.get_max_value() <= 3010


def test_too_many_users_for_the_fd_limit_exits_2(capsys):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard fd limit here")
    code = fleet.main(["--target", "ws://127.0.0.1:9", "--users", str(hard * 2), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--procs" in err and "ulimit" in err
