"""Load scenarios as data: personas, their mix, rooms, rates, ramp, duration, seed.

A scenario is a TOML file (the built-in ones live in `simulate/scenarios/`)
read into frozen dataclasses. This module imports neither trio nor gevent:
the trio fleet and the Locust users read the same definitions, and a test
checks that importing it pulls in no event loop.

TOML shape::

    [scenario]
    description = "..."
    users = 200            # total bots
    duration = "30s"       # sending phase; ramp included
    seed = 1
    room_size = 20         # users per chat room / editors per document
    ramp = "5s"            # or {kind = "steps", steps = [["0s", 0.5], ["5s", 1.0]]}
    drain = "5s"           # bound on the wait for acks and deliveries after sending stops
    connect_concurrency = 200

    [personas.chatter]     # the table name is the persona's name; kind defaults to it
    weight = 1
    rate = 0.5             # messages/s per user
    arrival = "poisson"    # or "constant"

Validation happens once, at load, with the file and key in the message;
everything downstream trusts the dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from simulate.catalogue import (
    CATALOGUE_FAMILY,
    CATALOGUE_PARAMS,
    CatalogueError,
    validate_catalogue_params,
)
from simulate.schedule import ARRIVALS, Distribution, Ramp, ScheduleError, parse_duration
from simulate.typing_model import TypingModel
from simulate.vocabulary import MAPPABLE_EVENTS

SCENARIO_DIR = Path(__file__).with_name("scenarios")


def known_strategies() -> list[str]:
    """The registered conflict strategies (server.collab.registry is the one list): loaded on
    first use, so that reading a scenario without one imports no strategy library."""
    from server.collab.registry import strategy_names

    return strategy_names()


class ScenarioError(ValueError):
    """A scenario that cannot run, with where and why."""


# ---------------------------------------------------------------- personas
# Distributions are frozen, so module constants are safe shared defaults.
KEYSTROKE_DEFAULT = Distribution("uniform", low=0.08, high=0.25)
BURST_DEFAULT = Distribution("uniform", low=4, high=16)
TYPIST_THINK_DEFAULT = Distribution("exponential", mean=3.0)
CHURN_THINK_DEFAULT = Distribution("exponential", mean=2.0)


@dataclass(frozen=True, slots=True)
class ChatterParams:
    """Sends `send-message` at `rate` per second (open model)."""

    rate: float = 1.0
    arrival: str = "poisson"
    message_bytes: int = 48


@dataclass(frozen=True, slots=True)
class TypistParams:
    """Types a burst of keystrokes (a `typing` event each), then sends the message."""

    keystroke: Distribution = KEYSTROKE_DEFAULT
    burst: Distribution = BURST_DEFAULT  # keystrokes per message
    think: Distribution = TYPIST_THINK_DEFAULT  # pause between messages


@dataclass(frozen=True, slots=True)
class PresenceChurnParams:
    """Between pauses, toggles away/online, reconnects cleanly, or drops its TCP connection."""

    think: Distribution = CHURN_THINK_DEFAULT
    away_weight: float = 0.5
    reconnect_weight: float = 0.3
    drop_weight: float = 0.2


_WORDS = TypingModel()  # the editor's word-shape defaults (trio-free, like this module)


@dataclass(frozen=True, slots=True)
class EditorParams:
    """Types into a shared document at `rate` keystrokes per second through a conflict strategy.

    The bots type words of their own alphabet at a caret (simulate/typing_model.py;
    the word shape: `min_word` .. `typo_ratio`, `move_ratio`, `move_window`), the
    same typing in real-time fleets and virtual-time experiments. Locust's editor
    makes random edits instead (`delete_ratio`, `max_insert`).
    """

    rate: float = 2.0
    arrival: str = "poisson"
    strategy: str = "fugue"
    delete_ratio: float = 0.25  # Locust editor only
    max_insert: int = 4  # Locust editor only
    cursor_ratio: float = 0.5  # chance of a cursor-update after an edit
    keystrokes: int = 0  # stop typing after this many (0: type until the sending phase ends)
    min_word: int = _WORDS.min_word
    max_word: int = _WORDS.max_word
    typo_ratio: float = _WORDS.typo_ratio
    move_ratio: float = _WORDS.move_ratio
    move_window: int = _WORDS.move_window
    backwards_ratio: float = _WORDS.backwards_ratio  # words typed right to left (issue 11)
    prepend_ratio: float = _WORDS.prepend_ratio  # words typed at the document start (issue 11)


PersonaParams = ChatterParams | TypistParams | PresenceChurnParams | EditorParams

PERSONA_PARAMS: dict[str, type[Any]] = {
    "chatter": ChatterParams,
    "typist": TypistParams,
    "presence-churner": PresenceChurnParams,
    "editor": EditorParams,
}
# Chat personas share chat rooms; editors share documents.
ROOM_FAMILY = {"chatter": "room", "typist": "room", "presence-churner": "room", "editor": "doc"}
# notifications, dashboard, game, RTC (simulate/catalogue.py)
PERSONA_PARAMS.update(CATALOGUE_PARAMS)
ROOM_FAMILY.update(CATALOGUE_FAMILY)


@dataclass(frozen=True, slots=True)
class PersonaSpec:
    name: str
    kind: str
    weight: float
    params: PersonaParams

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "weight": self.weight, **_plain(self.params)}


# ---------------------------------------------------------------- scenario
@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    personas: tuple[PersonaSpec, ...]
    description: str = ""
    users: int = 10
    duration: float = 10.0
    seed: int = 1
    room_size: int = 20
    ramp: Ramp = field(default_factory=Ramp)
    drain: float = 5.0
    connect_concurrency: int = 200
    source: str = ""
    # the server's names for our events (`[scenario.event_map]`, like --event-map)
    event_map: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    def with_overrides(
        self,
        *,
        users: int | None = None,
        duration: float | None = None,
        seed: int | None = None,
        rate: float | None = None,
        strategy: str | None = None,
        ramp: Ramp | None = None,
        room_size: int | None = None,
    ) -> Scenario:
        """The CLI's knobs; `rate` and `strategy` apply to every persona that has them."""
        personas = self.personas
        if rate is not None:
            if not any(hasattr(p.params, "rate") for p in personas):
                raise ScenarioError(f"scenario {self.name!r} has no rate-driven persona")
            personas = tuple(_with_param(p, "rate", rate) for p in personas)
        if strategy is not None:
            if not any(hasattr(p.params, "strategy") for p in personas):
                raise ScenarioError(f"scenario {self.name!r} has no editor to take a strategy")
            personas = tuple(_with_param(p, "strategy", strategy) for p in personas)
        if duration is not None and ramp is None and self.ramp.length > duration:
            ramp = self.ramp.scaled(duration / self.ramp.length)  # a shorter run, a shorter ramp
        changes: dict[str, Any] = {
            "users": users,
            "duration": duration,
            "seed": seed,
            "ramp": ramp,
            "room_size": room_size,
        }
        return replace(
            self, personas=personas, **{k: v for k, v in changes.items() if v is not None}
        )

    def as_dict(self) -> dict[str, Any]:
        """Every resolved parameter, JSON-ready (for meta.json)."""
        return {
            "name": self.name,
            "description": self.description,
            "users": self.users,
            "duration": self.duration,
            "seed": self.seed,
            "room_size": self.room_size,
            "ramp": self.ramp.as_dict(),
            "drain": self.drain,
            "connect_concurrency": self.connect_concurrency,
            "source": self.source,
            "event_map": dict(self.event_map),
            "personas": [p.as_dict() for p in self.personas],
        }

    def persona(self, name: str) -> PersonaSpec:
        return next(p for p in self.personas if p.name == name)


@dataclass(frozen=True, slots=True)
class BotPlan:
    """One bot of a run: who it is, what it does, where, and when it arrives."""

    index: int
    persona: str
    kind: str
    family: str  # "room" or "doc"
    group: int  # room / document number within its family
    start_offset: float  # seconds after the run's start


def plan_bots(scenario: Scenario) -> list[BotPlan]:
    """Assign personas, rooms and arrival times to every user, deterministically from the seed.

    Persona counts follow the weights exactly (largest remainder), personas
    are shuffled into rooms so a mixed room is mixed, and bots are ordered
    by room: a contiguous slice of the plan is whole rooms, which keeps a
    room inside one process when `--procs` splits the fleet. Arrival order
    is shuffled separately, so that every room fills during the ramp.
    """
    rng = random.Random(scenario.seed)
    counts = _largest_remainder([p.weight for p in scenario.personas], scenario.users)
    names = [p.name for p, n in zip(scenario.personas, counts, strict=True) for _ in range(n)]
    rng.shuffle(names)
    kinds = {p.name: p.kind for p in scenario.personas}
    members: dict[str, int] = {}
    drafts: list[tuple[str, int, str]] = []
    for name in names:
        family = ROOM_FAMILY[kinds[name]]
        seat = members.get(family, 0)
        members[family] = seat + 1
        drafts.append((family, seat // scenario.room_size, name))
    drafts.sort(key=lambda d: (d[0], d[1]))  # stable: keeps the shuffled persona order in a room
    arrival = list(range(len(drafts)))
    rng.shuffle(arrival)
    offsets = scenario.ramp.start_offsets(len(drafts))
    return [
        BotPlan(index, name, kinds[name], family, group, offsets[arrival[index]])
        for index, (family, group, name) in enumerate(drafts)
    ]


def split_plan(plans: list[BotPlan], parts: int) -> list[list[BotPlan]]:
    """`parts` contiguous slices of about equal size, cut at room boundaries where possible."""
    if parts <= 1:
        return [plans]
    slices: list[list[BotPlan]] = []
    start = 0
    for part in range(parts):
        remaining_parts = parts - part
        end = start + math.ceil((len(plans) - start) / remaining_parts)
        if part < parts - 1:
            # move the cut forward to the next room boundary, unless that empties later slices
            probe = end
            while 0 < probe < len(plans) and (plans[probe].family, plans[probe].group) == (
                plans[probe - 1].family,
                plans[probe - 1].group,
            ):
                probe += 1
            if len(plans) - probe >= remaining_parts - 1:
                end = probe
        else:
            end = len(plans)
        slices.append(plans[start:end])
        start = end
    return slices


# ---------------------------------------------------------------- loading
def list_scenarios() -> list[str]:
    """Names of the built-in scenarios (files in simulate/scenarios/)."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        builtin = SCENARIO_DIR / f"{name_or_path}.toml"
        if not builtin.exists():
            raise ScenarioError(
                f"unknown scenario {str(name_or_path)!r} "
                f"(built-in: {', '.join(list_scenarios())}; or give a .toml path)"
            )
        path = builtin
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(f"scenario file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return scenario_from_mapping(document, name=path.stem, source=str(path))


def scenario_from_mapping(document: Mapping[str, Any], *, name: str, source: str = "") -> Scenario:
    where = source or name
    unknown = set(document) - {"scenario", "personas"}
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level tables {', '.join(sorted(unknown))}")
    table = dict(document.get("scenario", {}))
    personas_table = document.get("personas")
    if not isinstance(personas_table, Mapping) or not personas_table:
        raise ScenarioError(f"{where}: needs at least one [personas.<name>] table")
    try:
        personas = tuple(
            _persona(persona_name, raw, f"{where}: personas.{persona_name}")
            for persona_name, raw in personas_table.items()
        )
        allowed = {f.name for f in fields(Scenario)} - {"personas", "source"}
        unknown = set(table) - allowed
        if unknown:
            raise ScenarioError(
                f"{where}: unknown [scenario] keys {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        values: dict[str, Any] = {"name": table.pop("name", name)}
        for key, value in table.items():
            if key in ("duration", "drain"):
                values[key] = parse_duration(value, f"{where}: scenario.{key}")
            elif key == "ramp":
                values[key] = Ramp.parse(value, f"{where}: scenario.ramp")
            elif key == "event_map":
                values[key] = _event_map(value, f"{where}: scenario.event_map")
            else:
                values[key] = value
        return Scenario(personas=personas, source=source, **values)
    except (ScheduleError, ScenarioError) as exc:
        message = str(exc)
        raise ScenarioError(
            message if message.startswith(where) else f"{where}: {message}"
        ) from None


def _persona(name: str, raw: Any, where: str) -> PersonaSpec:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: must be a table")
    table = dict(raw)
    kind = table.pop("kind", name)
    if kind not in PERSONA_PARAMS:
        raise ScenarioError(
            f"{where}: unknown persona {kind!r} (known: {', '.join(PERSONA_PARAMS)})"
        )
    weight = table.pop("weight", 1)
    params_type = PERSONA_PARAMS[kind]
    known = {f.name: f for f in fields(params_type)}
    unknown = set(table) - set(known)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown {kind} parameters {', '.join(sorted(unknown))} "
            f"(known: {', '.join(known)})"
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(_default(known[key]), Distribution):
            values[key] = Distribution.parse(value, f"{where}.{key}")
        else:
            values[key] = value
    return PersonaSpec(name, kind, weight, params_type(**values))


# ---------------------------------------------------------------- validation
def _validate(scenario: Scenario) -> None:
    s = scenario
    _integer(s.users, "users", minimum=1)
    _integer(s.seed, "seed", minimum=0)
    _integer(s.room_size, "room_size", minimum=1)
    _integer(s.connect_concurrency, "connect_concurrency", minimum=1)
    for key in ("duration", "drain"):
        value = getattr(s, key)
        if not isinstance(value, int | float) or value < 0 or not math.isfinite(value):
            raise ScenarioError(f"{key} must be a duration >= 0, got {value!r}")
    if s.duration <= 0:
        raise ScenarioError("duration must be > 0")
    if s.ramp.length > s.duration:
        raise ScenarioError(
            f"the ramp ({s.ramp.length:g}s) is longer than the duration ({s.duration:g}s)"
        )
    if not s.personas:
        raise ScenarioError("a scenario needs at least one persona")
    names = [p.name for p in s.personas]
    if len(set(names)) != len(names):
        raise ScenarioError(f"duplicate persona names in {names}")
    for persona in s.personas:
        _validate_persona(persona)
    total = sum(p.weight for p in s.personas)
    if total <= 0:
        raise ScenarioError("persona weights sum to zero: no user would get a persona")


def _validate_persona(persona: PersonaSpec) -> None:
    where = f"persona {persona.name!r}"
    if persona.kind not in PERSONA_PARAMS:
        raise ScenarioError(f"{where}: unknown persona kind {persona.kind!r}")
    if not isinstance(persona.params, PERSONA_PARAMS[persona.kind]):
        raise ScenarioError(f"{where}: params of the wrong kind")
    weight = persona.weight
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
        raise ScenarioError(f"{where}: weight must be a number >= 0, got {weight!r}")
    p = persona.params
    for f in fields(p):
        value = getattr(p, f.name)
        if isinstance(value, Distribution):
            continue
        if f.name in ("arrival",):
            if value not in ARRIVALS:
                raise ScenarioError(f"{where}: arrival must be one of {', '.join(ARRIVALS)}")
        elif f.name == "strategy":
            known = known_strategies()
            if value not in known:
                raise ScenarioError(
                    f"{where}: unknown strategy {value!r} (known: {', '.join(known)})"
                )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: {f.name} must be a number, got {value!r}")
        elif value < 0 or not math.isfinite(value):
            raise ScenarioError(f"{where}: {f.name} must be >= 0, got {value}")
    if isinstance(p, ChatterParams | EditorParams) and p.rate <= 0:
        raise ScenarioError(f"{where}: rate must be > 0 messages/s, got {p.rate}")
    if isinstance(p, ChatterParams | EditorParams) and p.rate > 1000:
        raise ScenarioError(f"{where}: rate {p.rate}/s per user is beyond what a bot can keep")
    if isinstance(p, EditorParams):
        if p.delete_ratio > 1 or p.cursor_ratio > 1:
            raise ScenarioError(f"{where}: delete_ratio and cursor_ratio are in [0, 1]")
        if p.max_insert < 1:
            raise ScenarioError(f"{where}: max_insert must be >= 1")
        if p.typo_ratio > 1 or p.move_ratio > 1:
            raise ScenarioError(f"{where}: typo_ratio and move_ratio are in [0, 1]")
        if not 1 <= p.min_word <= p.max_word:
            raise ScenarioError(f"{where}: want 1 <= min_word <= max_word")
    if isinstance(p, PresenceChurnParams) and (
        p.away_weight + p.reconnect_weight + p.drop_weight <= 0
    ):
        raise ScenarioError(f"{where}: away/reconnect/drop weights sum to zero")
    try:
        validate_catalogue_params(p, where)
    except CatalogueError as exc:
        raise ScenarioError(str(exc)) from None


def _integer(value: Any, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(f"{name} must be an integer >= {minimum}, got {value!r}")


# ---------------------------------------------------------------- small pieces
def _event_map(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """`{"send-message" = "chat:send", ...}`: our event names to the server's."""
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: must be a table of our event names to the server's")
    for ours, theirs in value.items():
        if ours not in MAPPABLE_EVENTS:
            raise ScenarioError(
                f"{where}: unknown event {ours!r} (known: {', '.join(MAPPABLE_EVENTS)})"
            )
        if not isinstance(theirs, str) or not theirs:
            raise ScenarioError(f"{where}.{ours}: must be a non-empty event name")
    return tuple(sorted((str(k), str(v)) for k, v in value.items() if k != v))


def _with_param(persona: PersonaSpec, key: str, value: Any) -> PersonaSpec:
    if not hasattr(persona.params, key):
        return persona
    return replace(persona, params=replace(persona.params, **{key: value}))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def _largest_remainder(weights: list[float], total: int) -> list[int]:
    whole = sum(weights)
    quotas = [w / whole * total for w in weights]
    counts = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _plain(params: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(params):
        value = getattr(params, f.name)
        out[f.name] = value.as_dict() if isinstance(value, Distribution) else value
    return out
