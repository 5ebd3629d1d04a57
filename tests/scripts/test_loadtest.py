"""scripts.loadtest: how the `make loadtest` driver reads its flags and environment."""

from __future__ import annotations


def test_smoke_values_are_defaults_that_explicit_flags_override():
    from scripts.loadtest import parse_config

    env = {"USERS": "500", "DURATION": "60s", "SCENARIO": "chat"}
    smoke = parse_config(["--smoke"], env)
    assert (smoke.scenario, smoke.users, smoke.duration_s) == ("smoke", 12, 3.0)
    assert smoke.spawn_rate == 12.0  # Locust: everyone at once
    mine = parse_config(["--smoke", "--users", "30", "--duration", "10s"], env)
    assert (mine.scenario, mine.users, mine.duration_s) == ("smoke", 30, 10.0)
    assert mine.spawn_rate == 30.0
    chat = parse_config(["--smoke", "--scenario", "chat", "--spawn-rate", "5"], env)
    assert (chat.scenario, chat.users, chat.spawn_rate) == ("chat", 12, 5.0)
    plain = parse_config([], env)
    assert (plain.scenario, plain.users, plain.spawn_rate) == ("chat", 500, 20.0)
