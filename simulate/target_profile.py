"""Target profiles: what the load harness may expect of the server it loads.

rtlab's own server answers every request with an ack (`{ok: true, ...}`);
the tutorial's server, and most servers people build from it, answer
nothing: `join-room` and `send-message` are fire-and-forget, and the only
evidence that something happened is a broadcast. A harness that waits for
acks measures nothing there (40/40 join timeouts, 0 messages), so every run
states its *target profile*:

- `rtlab`: acks everywhere; every feature of ../shared/EVENTS.md.
- `tutorial`: no acks. Joins and sends are fire-and-forget; a membership is
  settled by the broadcasts others hear (`user-joined`, or the joiner's own
  echo), or else by a bounded settle delay; every measured payload carries
  its own id and send instant inside the message object, which the server
  relays unchanged. Only the tutorial's features: chat, typing, user
  joined/left, and the editor's document relay.
- `auto` (the default): probe the target (`simulate/target_probe.py` for the
  bots, the Locust users' own probe, both sending `probe_message`) and pick one
  of the two; the run's meta and report say which and why.

This module is engine-free (no trio, no gevent): the bots, the Locust users
and the drivers share the profiles, the probe's verdict, the fitting of a
scenario to a profile (refusing or skipping what the server lacks) and the
`--event-map` renaming.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from server.catalogue import SendMessage
from simulate.scenarios import EditorParams, Scenario, ScenarioError
from simulate.vocabulary import ACK_METRICS, MAPPABLE_EVENTS

AUTO = "auto"
PROFILE_CHOICES = (AUTO, "rtlab", "tutorial")
PROBE_DEADLINE_S = 1.5  # a join-room ack slower than this on loopback is no rtlab ack
# A membership nobody confirmed by a broadcast counts as settled this long after its join
# (tutorial profile), and ends this long before its leave: reported in delivery.json.
SETTLE_NS = 1_000_000_000


class ProfileError(ValueError):
    """A profile, an event map or a scenario that cannot run against this target."""


@dataclass(frozen=True, slots=True)
class TargetProfile:
    """What a server offers: acks or not, and which feature groups."""

    name: str
    acks: bool
    features: frozenset[str]
    description: str

    @property
    def unmeasured_events(self) -> tuple[str, ...]:
        """Metrics this profile cannot produce (budgets mark them n/a, not missing)."""
        return () if self.acks else ACK_METRICS


# Feature groups and the events each needs (for messages that name what is missing).
FEATURE_EVENTS: dict[str, str] = {
    "chat": "join-room, send-message -> receive-message",
    "typing": "typing -> user-typing",
    "presence": "user-joined, user-left (and presence-update with rtlab)",
    "documents": "join-document, document-change, cursor-update",
    "notifications": "notification, POST /notify",
    "dashboard": "subscribe-dashboard -> dashboard-update",
    "game": "join-game, player-input -> game-state",
    "rtc": "rtc-join, rtc-offer/answer/ice-candidate",
}
PERSONA_FEATURES: dict[str, tuple[str, ...]] = {
    "chatter": ("chat",),
    "typist": ("chat", "typing"),
    "presence-churner": ("chat", "presence"),
    "editor": ("documents",),
    "notification-receiver": ("notifications",),
    "notifier": ("notifications",),
    "dashboard-watcher": ("dashboard",),
    "game-player": ("game",),
    "rtc-peer": ("rtc",),
}

RTLAB = TargetProfile(
    "rtlab",
    acks=True,
    features=frozenset(FEATURE_EVENTS),
    description="rtlab's reference server: every request acked, the whole event catalogue",
)
TUTORIAL = TargetProfile(
    "tutorial",
    acks=False,
    features=frozenset({"chat", "typing", "presence", "documents"}),
    description=(
        "the tutorial's socket.io server: no acks; chat, typing, user-joined/left "
        "and the editor's document relay"
    ),
)
PROFILES: dict[str, TargetProfile] = {p.name: p for p in (RTLAB, TUTORIAL)}


# ------------------------------------------------------------------ choosing
@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """What the probe saw: the join-room ack (if any) and whether send-message came back."""

    acked: bool
    reply: Any = None
    ack_ms: float | None = None
    echo_ms: float | None = None  # send-message -> own receive-message, None: no echo
    deadline_s: float = PROBE_DEADLINE_S


@dataclass(frozen=True, slots=True)
class ProfileChoice:
    """The profile a run uses, what was asked for, and why (meta.json `target_profile`)."""

    profile: TargetProfile
    requested: str
    reason: str
    probe: ProbeAnswer | None = None

    def as_meta(self) -> dict[str, Any]:
        probe = self.probe
        return {
            "name": self.profile.name,
            "requested": self.requested,
            "reason": self.reason,
            "acks": self.profile.acks,
            "unmeasured_events": list(self.profile.unmeasured_events),
            "probe": None
            if probe is None
            else {
                "join_acked": probe.acked,
                "join_ack_ms": probe.ack_ms,
                "echo_ms": probe.echo_ms,
                "deadline_s": probe.deadline_s,
            },
        }


def forced(name: str) -> ProfileChoice:
    """The profile named on the command line, no probe."""
    return ProfileChoice(
        PROFILES[name],
        name,
        f"--target-profile {name} given: not probed ({PROFILES[name].description})",
    )


def probe_message(room: str, user: str) -> SendMessage:
    """The probe's one `send-message`: whole (id, sender, name), as the tutorial's client sends."""
    return SendMessage(room, "probe", id=f"{user}-0", user_id=user, user_name=user)


def is_rtlab_ack(reply: Any) -> bool:
    """rtlab's ack shape: a dict with `ok` (true or false with an error)."""
    return isinstance(reply, dict) and "ok" in reply


def decide(answer: ProbeAnswer) -> ProfileChoice:
    """`auto`: rtlab's profile when join-room came back with rtlab's ack, else the tutorial's."""
    echo = (
        f"send-message came back as receive-message in {answer.echo_ms:.1f} ms"
        if answer.echo_ms is not None
        else f"send-message did not come back as receive-message within {answer.deadline_s:g} s"
    )
    if answer.acked and is_rtlab_ack(answer.reply):
        reason = f"probe: join-room answered rtlab's ack {{ok: ...}} in {answer.ack_ms:.1f} ms"
        return ProfileChoice(RTLAB, AUTO, reason, answer)
    if answer.acked:
        reason = (
            f"probe: join-room's ack was {_short(answer.reply)}, not rtlab's {{ok: ...}}, "
            f"so nothing waits for acks; {echo}"
        )
    else:
        reason = f"probe: join-room sent no ack within {answer.deadline_s:g} s; {echo}"
    return ProfileChoice(TUTORIAL, AUTO, reason, answer)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------ fitting a scenario
@dataclass(frozen=True, slots=True)
class ScenarioFit:
    """A scenario made runnable against a profile, and what had to give."""

    scenario: Scenario
    skipped: tuple[str, ...] = ()  # persona names left out
    notes: tuple[str, ...] = ()


def missing_features(kind: str, profile: TargetProfile) -> tuple[str, ...]:
    return tuple(f for f in PERSONA_FEATURES.get(kind, ()) if f not in profile.features)


def fit_scenario(scenario: Scenario, profile: TargetProfile) -> ScenarioFit:
    """Refuse a scenario the target cannot serve; skip (with a note) what a mix cannot use.

    A persona that needs a feature the profile lacks is left out when other
    personas remain (the `mixed` case: their users go to the rest, by
    weight); when none remains the scenario is refused before any load,
    naming the personas and the events they would need.
    """
    unsupported = {p.name: missing_features(p.kind, profile) for p in scenario.personas}
    unsupported = {name: missing for name, missing in unsupported.items() if missing}
    kept = tuple(p for p in scenario.personas if p.name not in unsupported)
    if not kept:
        raise ProfileError(
            f"scenario {scenario.name!r} cannot run against a {profile.name}-profile server: "
            + "; ".join(_needs(name, missing) for name, missing in unsupported.items())
            + f". The {profile.name} profile offers: {', '.join(sorted(profile.features))} "
            "(try --scenario chat, typing, presence-churn or editing)"
        )
    notes: list[str] = []
    if unsupported:
        notes.append(
            f"skipped {', '.join(unsupported)}: the {profile.name} profile has no "
            + ", ".join(sorted({f for m in unsupported.values() for f in m}))
            + " events; their users went to the other personas"
        )
    if not profile.acks:
        notes.extend(_tutorial_notes(kept))
        kept = tuple(_naive_editor(p) for p in kept)
    fitted = (
        scenario
        if not unsupported and kept == scenario.personas
        else _with_personas(scenario, kept)
    )
    return ScenarioFit(fitted, tuple(unsupported), tuple(notes))


def _needs(name: str, missing: tuple[str, ...]) -> str:
    return f"{name} needs " + ", ".join(f"{f} ({FEATURE_EVENTS[f]})" for f in missing)


def _tutorial_notes(personas: Iterable[Any]) -> list[str]:
    kinds = {p.kind for p in personas}
    notes = [
        "no acks: join-room, send-message and the rest are fire-and-forget; "
        "room.join, chat.ack, presence.ack, doc.join and doc.ack are not measured"
    ]
    if "presence-churner" in kinds:
        notes.append(
            "presence-churner: no presence-update on this server, so its away/online "
            "toggles leave the room and join it again (user-left, user-joined)"
        )
    strategies = {p.params.strategy for p in personas if isinstance(p.params, EditorParams)}
    if strategies - {"naive"}:
        notes.append(
            f"editor: the server only relays changes, so editors use the tutorial's naive "
            f"client logic (strategy {', '.join(sorted(strategies))} ignored)"
        )
    return notes


def _naive_editor(persona: Any) -> Any:
    if isinstance(persona.params, EditorParams) and persona.params.strategy != "naive":
        return replace(persona, params=replace(persona.params, strategy="naive"))
    return persona


def _with_personas(scenario: Scenario, personas: tuple[Any, ...]) -> Scenario:
    try:
        return replace(scenario, personas=personas)
    except ScenarioError as exc:  # e.g. every remaining weight is zero
        raise ProfileError(f"scenario {scenario.name!r}: {exc}") from None


# ------------------------------------------------------------------ event names
@dataclass(frozen=True, slots=True)
class EventMap:
    """The harness's event names -> the server's (`send-message=chat:send,...`).

    Applied in both directions by the clients: an emit of `send-message`
    goes out as `chat:send`, an incoming `chat:message` is handled as
    `receive-message`. Argument shapes must stay the tutorial's.
    """

    pairs: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def wire(self, event: str) -> str:
        """The server's name for one of ours."""
        for ours, theirs in self.pairs:
            if ours == event:
                return theirs
        return event

    def local(self, event: str) -> str:
        """Our name for one of the server's."""
        for ours, theirs in self.pairs:
            if theirs == event:
                return ours
        return event

    def merged(self, override: EventMap) -> EventMap:
        """`override`'s pairs win (the command line over the scenario file)."""
        names = dict(self.pairs) | dict(override.pairs)
        return EventMap.from_mapping(names, "event map")

    def as_text(self) -> str:
        return ",".join(f"{ours}={theirs}" for ours, theirs in self.pairs)

    @classmethod
    def parse(cls, text: str | None, where: str = "--event-map") -> EventMap:
        """`send-message=chat:send,receive-message=chat:message` (empty: no renaming)."""
        if not text or not text.strip():
            return cls()
        names: dict[str, str] = {}
        for item in text.split(","):
            ours, sep, theirs = item.partition("=")
            if not sep:
                raise ProfileError(f"{where}: {item.strip()!r} is not OURS=THEIRS")
            if ours.strip() in names:
                raise ProfileError(f"{where}: {ours.strip()!r} is mapped twice")
            names[ours.strip()] = theirs.strip()
        return cls.from_mapping(names, where)

    @classmethod
    def from_mapping(cls, names: Mapping[str, Any], where: str = "event_map") -> EventMap:
        for ours, theirs in names.items():
            if ours not in MAPPABLE_EVENTS:
                raise ProfileError(
                    f"{where}: unknown event {ours!r} (events that can be renamed: "
                    f"{', '.join(MAPPABLE_EVENTS)})"
                )
            if not isinstance(theirs, str) or not theirs:
                raise ProfileError(f"{where}: {ours} needs a non-empty event name")
        pairs = tuple((ours, theirs) for ours, theirs in names.items() if ours != theirs)
        targets = [theirs for _, theirs in pairs]
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            raise ProfileError(f"{where}: two events renamed to {', '.join(duplicated)}")
        clashes = sorted(
            theirs for _, theirs in pairs if theirs in MAPPABLE_EVENTS and theirs not in dict(pairs)
        )
        if clashes:
            raise ProfileError(
                f"{where}: {', '.join(clashes)} is one of our own event names and not renamed "
                "itself: the two would be confused"
            )
        return cls(pairs)
