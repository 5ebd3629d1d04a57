"""Scenarios as data: the built-ins load, bad ones fail with a clear message, the CLI overrides.

Also the schedules they produce (deterministic from the seed) and the
promise that Locust can read them: importing simulate.scenarios pulls in no
event loop.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys

import pytest

from simulate.scenarios import (
    ScenarioError,
    list_scenarios,
    load_scenario,
    plan_bots,
    scenario_from_mapping,
    split_plan,
)
from simulate.schedule import Distribution, Ramp, ScheduleError, arrival_times, parse_duration
from tests.conftest import ROOT


def test_the_builtin_scenarios_all_load_and_plan():
    names = list_scenarios()
    for wanted in ("chat", "typing", "presence-churn", "editing", "mixed", "smoke"):
        assert wanted in names
    for name in names:
        scenario = load_scenario(name)
        plans = plan_bots(scenario)
        assert len(plans) == scenario.users
        assert [p.index for p in plans] == list(range(scenario.users))
        assert all(0 <= p.start_offset <= scenario.ramp.length for p in plans)
    mixed = plan_bots(load_scenario("mixed"))
    assert {p.kind for p in mixed} == {
        "chatter",
        "typist",
        "presence-churner",
        "editor",
        "notification-receiver",
        "notifier",
        "dashboard-watcher",
        "game-player",
        "rtc-peer",
    }
    # weights 5:3:1:1 and 0.6:0.1:0.3:0.6:0.4 (the catalogue's) of 300, exactly
    assert sum(p.kind == "chatter" for p in mixed) == 125
    assert sum(p.kind == "game-player" for p in mixed) == 15


def test_plans_are_deterministic_and_rooms_respect_the_room_size():
    scenario = load_scenario("mixed")
    assert plan_bots(scenario) == plan_bots(scenario)
    assert plan_bots(scenario) != plan_bots(scenario.with_overrides(seed=99))
    rooms: dict[tuple[str, int], int] = {}
    for plan in plan_bots(scenario):
        rooms[(plan.family, plan.group)] = rooms.get((plan.family, plan.group), 0) + 1
        assert (plan.family == "doc") == (plan.kind == "editor")
    assert max(rooms.values()) == scenario.room_size


def test_split_plan_cuts_at_room_boundaries_and_covers_everyone():
    plans = plan_bots(load_scenario("chat"))  # 200 users, rooms of 20
    for parts in (1, 2, 3, 7):
        slices = split_plan(plans, parts)
        assert len(slices) == parts
        assert [p for s in slices for p in s] == plans
        for left, right in itertools.pairwise(slices):
            assert left[-1].group != right[0].group
    tiny = split_plan(plan_bots(load_scenario("smoke")), 3)
    assert sum(map(len, tiny)) == 12 and all(tiny)


def test_cli_overrides():
    chat = load_scenario("chat")
    changed = chat.with_overrides(users=50, duration=7.5, seed=3, rate=2.0, ramp=Ramp("linear", 1))
    assert (changed.users, changed.duration, changed.seed) == (50, 7.5, 3)
    assert changed.personas[0].params.rate == 2.0
    assert chat.personas[0].params.rate == 0.5  # frozen: the original is untouched
    assert chat.with_overrides(duration=2.5).ramp.length == 2.5  # the 5 s ramp shrinks to fit
    assert load_scenario("mixed").with_overrides(duration=5).ramp.steps[-1] == (5.0, 1.0)
    with pytest.raises(ScenarioError, match="longer than the duration"):
        chat.with_overrides(ramp=Ramp("linear", 60))
    editing = load_scenario("editing").with_overrides(strategy="ot")
    assert editing.personas[0].params.strategy == "ot"
    assert editing.as_dict()["personas"][0]["strategy"] == "ot"
    with pytest.raises(ScenarioError, match="no editor"):
        chat.with_overrides(strategy="ot")
    with pytest.raises(ScenarioError, match="no rate-driven persona"):
        load_scenario("typing").with_overrides(rate=1.0)
    with pytest.raises(ScenarioError, match="unknown strategy 'sloppy'"):
        load_scenario("editing").with_overrides(strategy="sloppy")
    with pytest.raises(ScenarioError, match="rate must be >= 0"):
        chat.with_overrides(rate=-1.0)
    with pytest.raises(ScenarioError, match="users must be an integer >= 1"):
        chat.with_overrides(users=0)


def _scenario(personas: dict, **scenario) -> dict:
    return {"scenario": {"users": 10, **scenario}, "personas": personas}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_scenario({"gossip": {}}), "unknown persona 'gossip'"),
        (_scenario({"chatter": {"rate": -1}}), "rate must be >= 0"),
        (_scenario({"chatter": {"rate": 0}}), "rate must be > 0"),
        (_scenario({"chatter": {"weight": 0}}), "weights sum to zero"),
        (_scenario({"chatter": {"weight": -2}}), "weight must be a number >= 0"),
        (_scenario({"chatter": {"speed": 3}}), "unknown chatter parameters speed"),
        (_scenario({"chatter": {"arrival": "bursty"}}), "arrival must be one of"),
        (_scenario({"chatter": {}}, users=-5), "users must be an integer >= 1"),
        (_scenario({"chatter": {}}, duration="ten"), "expected a duration like 10s"),
        (_scenario({"chatter": {}}, colour="red"), "unknown \\[scenario\\] keys colour"),
        (_scenario({"typist": {"think": {"kind": "gamma"}}}), "kind must be one of"),
        (_scenario({"typist": {"think": {"kind": "uniform", "low": 1}}}), "missing high"),
        (
            _scenario({"typist": {"think": {"kind": "uniform", "low": 3, "high": 1}}}),
            "high 1.0 < low 3.0",
        ),
        (_scenario({"chatter": {}}, ramp={"kind": "steps", "steps": [["0s", 0.5]]}), "1.0"),
        (
            _scenario(
                {"presence-churner": {"away_weight": 0, "reconnect_weight": 0, "drop_weight": 0}}
            ),
            "weights sum to zero",
        ),
        ({"scenario": {"users": 3}}, "needs at least one \\[personas"),
    ],
)
def test_invalid_scenarios_fail_with_a_clear_message(document, message):
    with pytest.raises(ScenarioError, match=message) as info:
        scenario_from_mapping(document, name="bad", source="bad.toml")
    assert str(info.value).startswith("bad.toml")


def test_load_scenario_errors_name_the_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'.*chat"):
        load_scenario("nope")
    broken = tmp_path / "broken.toml"
    broken.write_text("[scenario\nusers = 1")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)
    custom = tmp_path / "custom.toml"
    custom.write_text(
        '[scenario]\nusers = 4\nduration = "2m"\n\n[personas.fast]\nkind = "chatter"\nrate = 3\n'
    )
    scenario = load_scenario(custom)
    assert (scenario.name, scenario.duration, scenario.personas[0].kind) == (
        "custom",
        120,
        "chatter",
    )


def test_importing_scenarios_pulls_in_no_event_loop():
    """No trio, no gevent; of the server only the event catalogue (requests are its types)
    and the pure strategy code, whose registry is the one list of strategy names."""
    code = (
        "import sys; import server.catalogue; "
        "of_server = lambda: {m for m in sys.modules if m.split('.')[0] == 'server' "
        "and not m.startswith('server.collab')}; "
        "catalogue = of_server(); "
        "import simulate.scenarios, simulate.schedule; "
        "import simulate.measurement, simulate.typing_model, simulate.clock; "
        "simulate.scenarios.load_scenario('mixed'); "
        "bad = [m for m in ('trio', 'gevent') if m in sys.modules]; "
        "bad += sorted(of_server() - catalogue); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_locust_shares_the_measurement_code_without_loading_trio():
    """Locust (gevent) imports the bots' measurement rules, never trio."""
    code = (
        "import sys; "
        "import locustfiles.run_recording, locustfiles.rtlab_user, "
        "locustfiles.chat_room, locustfiles.editing; "
        "import simulate.measurement as m; "
        "assert locustfiles.run_recording.Saturation is m.Saturation; "
        "assert locustfiles.run_recording.PeerClock is m.PeerClock; "
        "assert locustfiles.run_recording.main_event is m.main_event; "
        "assert locustfiles.editing.stamped_strategy is m.stamped_strategy; "
        "bad = [n for n in sys.modules if n == 'trio' or n.startswith('trio.')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schedules_are_seeded_and_keep_their_rate():
    second = 1_000_000_000
    constant = list(arrival_times(random.Random(1), 4.0, "constant", 0, 10 * second))
    assert len(constant) in (39, 40)
    gaps = {b - a for a, b in itertools.pairwise(constant)}
    assert max(gaps) - min(gaps) <= 1
    poisson = list(arrival_times(random.Random(1), 50.0, "poisson", 0, 20 * second))
    assert poisson == list(arrival_times(random.Random(1), 50.0, "poisson", 0, 20 * second))
    assert 900 < len(poisson) < 1100
    assert all(0 <= t < 20 * second for t in poisson)


def test_distributions_and_ramps():
    rng = random.Random(7)
    assert Distribution.parse("250ms", "x").sample(rng) == 0.25
    uniform = Distribution.parse({"kind": "uniform", "low": 1, "high": 2}, "x")
    assert all(1 <= uniform.sample(rng) <= 2 for _ in range(100))
    lognormal = Distribution.parse({"kind": "lognormal", "median": 2, "sigma": 0.5}, "x")
    samples = sorted(lognormal.sample(rng) for _ in range(2001))
    assert 1.7 < samples[1000] < 2.3
    assert Ramp.parse("10s").start_offsets(4) == [0, 2.5, 5, 7.5]
    steps = Ramp.parse("0s:0.5,4s:1")
    assert steps.start_offsets(4) == [0, 0, 4, 4]
    assert parse_duration("2m") == 120 and parse_duration(1.5) == 1.5
    with pytest.raises(ScheduleError):
        Ramp.parse("0s:0.5,4s:0.25")
