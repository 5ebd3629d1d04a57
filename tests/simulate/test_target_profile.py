"""Target profiles: the probe's verdict, fitting a scenario to what a server offers, event maps.

Pure code (simulate/target_profile.py): no server. The probes themselves
run against real servers in tests/e2e/test_tutorial_targets.py.
"""

from __future__ import annotations

import pytest

from simulate.scenarios import EditorParams, ScenarioError, load_scenario, scenario_from_mapping
from simulate.target_profile import (
    RTLAB,
    TUTORIAL,
    EventMap,
    ProbeAnswer,
    ProfileError,
    decide,
    fit_scenario,
    forced,
)


def test_an_rtlab_ack_picks_the_rtlab_profile() -> None:
    choice = decide(ProbeAnswer(True, {"ok": True, "users": []}, ack_ms=2.0, echo_ms=1.0))
    assert choice.profile is RTLAB and choice.requested == "auto"
    assert "rtlab's ack" in choice.reason and "2.0 ms" in choice.reason
    meta = choice.as_meta()
    assert meta["name"] == "rtlab" and meta["unmeasured_events"] == []
    assert meta["probe"]["join_acked"] is True


def test_no_ack_picks_the_tutorial_profile_and_says_why() -> None:
    choice = decide(ProbeAnswer(False, echo_ms=3.25, deadline_s=1.5))
    assert choice.profile is TUTORIAL
    assert "no ack within 1.5 s" in choice.reason
    assert "came back as receive-message in 3.2 ms" in choice.reason
    assert set(choice.as_meta()["unmeasured_events"]) >= {"room.join", "chat.ack", "doc.ack"}


def test_an_ack_that_is_not_rtlabs_counts_as_none() -> None:
    """python-socketio acks every event its handler returns nothing for: an empty ack."""
    choice = decide(ProbeAnswer(True, [], ack_ms=1.0, echo_ms=None))
    assert choice.profile is TUTORIAL
    assert "not rtlab's" in choice.reason and "did not come back" in choice.reason


def test_a_forced_profile_is_not_probed() -> None:
    choice = forced("tutorial")
    assert choice.profile is TUTORIAL and choice.probe is None
    assert "--target-profile tutorial given" in choice.reason


@pytest.mark.parametrize(
    ("scenario", "persona", "feature"),
    [
        ("game", "game-player", "join-game"),
        ("rtc", "rtc-peer", "rtc-join"),
        ("dashboard", "dashboard-watcher", "subscribe-dashboard"),
        ("notifications", "notifier", "POST /notify"),
    ],
)
def test_scenarios_the_tutorial_lacks_are_refused_naming_them(scenario, persona, feature) -> None:
    with pytest.raises(ProfileError) as caught:
        fit_scenario(load_scenario(scenario), TUTORIAL)
    message = str(caught.value)
    assert persona in message and feature in message and "tutorial" in message


def test_mixed_skips_what_the_tutorial_lacks_with_a_note() -> None:
    mixed = load_scenario("mixed")
    fit = fit_scenario(mixed, TUTORIAL)
    kinds = {p.kind for p in fit.scenario.personas}
    assert kinds == {"chatter", "typist", "presence-churner", "editor"}
    assert set(fit.skipped) == {
        "notification-receiver",
        "notifier",
        "dashboard-watcher",
        "game-player",
        "rtc-peer",
    }
    assert fit.scenario.users == mixed.users  # their users went to the others
    notes = " ".join(fit.notes)
    assert "skipped" in notes and "game" in notes and "rtc" in notes
    assert "strategy fugue ignored" in notes  # the tutorial's editor is the naive relay
    editors = [p for p in fit.scenario.personas if p.kind == "editor"]
    params = editors[0].params
    assert isinstance(params, EditorParams) and params.strategy == "naive"


def test_the_rtlab_profile_runs_every_scenario_unchanged() -> None:
    mixed = load_scenario("mixed")
    fit = fit_scenario(mixed, RTLAB)
    assert fit.scenario == mixed and not fit.skipped and not fit.notes


def test_event_map_renames_both_ways() -> None:
    names = EventMap.parse("send-message=chat:send, receive-message=chat:message")
    assert names.wire("send-message") == "chat:send"
    assert names.local("chat:message") == "receive-message"
    assert names.wire("typing") == "typing" and names.local("typing") == "typing"
    assert names.as_text() == "send-message=chat:send,receive-message=chat:message"
    assert not EventMap.parse("") and names


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("send-message", "not OURS=THEIRS"),
        ("say=chat:send", "unknown event 'say'"),
        ("send-message=", "non-empty"),
        ("send-message=a,typing=a", "two events renamed to a"),
        ("send-message=typing", "one of our own event names"),
        ("typing=a,typing=b", "mapped twice"),
    ],
)
def test_a_bad_event_map_says_what_is_wrong(text, complaint) -> None:
    with pytest.raises(ProfileError, match=complaint):
        EventMap.parse(text)


def test_the_command_line_map_overrides_the_scenarios() -> None:
    scenario = EventMap.from_mapping({"send-message": "say", "typing": "keys"})
    merged = scenario.merged(EventMap.parse("send-message=chat:send"))
    assert merged.wire("send-message") == "chat:send" and merged.wire("typing") == "keys"


def test_a_scenario_may_carry_its_event_map() -> None:
    document = {
        "scenario": {"event_map": {"send-message": "chat:send"}},
        "personas": {"chatter": {"rate": 1.0}},
    }
    scenario = scenario_from_mapping(document, name="mine")
    assert scenario.event_map == (("send-message", "chat:send"),)
    assert scenario.as_dict()["event_map"] == {"send-message": "chat:send"}
    document["scenario"] = {"event_map": {"shout": "x"}}
    with pytest.raises(ScenarioError, match="unknown event 'shout'"):
        scenario_from_mapping(document, name="mine")
