"""What a run measured, in memory while it runs and on disk afterwards (the run directory).

Every producer writes a run directory under `reports/runs/<run-id>/`
(run-id = `<UTC yyyymmddThhmmssZ>-<scenario or "experiment">-<suffix>`), and
`reports/` reads only run directories. There are two kinds, told apart by
`meta.json`'s `kind`:

- `kind: "realtime"`: a load run in real time (the trio fleet,
  `producer: "simulate.fleet"`, or Locust, `producer: "locust"`), written by
  `RunDirectory.write`; this docstring is its specification (below). Run
  directories written before `kind` existed have none: no `kind` and no
  `results.json` means realtime.
- `kind: "experiment"`: conflict strategies compared in virtual time
  (`python -m simulate experiment`, `producer: "simulate.experiment"`):
  `results.json` (deterministic), `timings.json` (measured CPU and wall
  time), `divergence-<strategy>.csv`, `meta.json`, `summary.txt`; specified
  in simulate/experiment.py's docstring.

Realtime run directory:

`meta.json`
    `{format_version: 1, kind: "realtime", run_id, producer,
    scenario: {name, ...every resolved parameter},
    target, seed, users, duration, procs, versions: {python, trio, rtlab,
    hdrhistogram}, host: {hostname, platform, cpu_count}, command, started_at,
    ended_at (ISO 8601 UTC), started_ns, ended_ns (the wall time, drain and
    checks included), sending_started_ns, sending_stopped_ns (the sending
    window, which rates are per second of), main_event,
    generator_saturated (bool), generator_peak_cpu_percent,
    generator_saturated_seconds}`.
`histograms.json`
    `{event: {encoded, count, p50_ms, p95_ms, p99_ms, max_ms}}`; `encoded`
    is the HdrHistogram standard compressed base64 encoding
    (`HdrHistogram.encode()`, decodable by every HdrHistogram library) of
    latencies in **microseconds**, range 1 µs..60 s, 3 significant digits.
    Latencies are measured from the *scheduled* instant (coordinated
    omission). Event names: `connect` (timed from before the wait for a
    connect slot), `connect.queue` (that wait, trio fleet), `reconnect.clean`, `reconnect.abrupt`,
    `room.join`, `chat.ack`, `chat.echo` (own message back), `chat.delivery`
    (another bot's message, one-way, same host clock), `typing.delivery`,
    `presence.ack`, `presence.delivery`, `presence.joined`, `presence.left`
    (join-room / leave-room sent -> a member hears user-joined / user-left),
    `doc.join`, `doc.ack`, `doc.remote`, `cursor.delivery` (simulate/vocabulary.py).
`summary.json`
    `{duration_s, sending_s, events: {event: {count, errors, error_kinds: {kind: n},
    rate_per_s, p50_ms, p95_ms, p99_ms, max_ms}}, totals: {sent, received,
    errors}}`; an event with only errors has count 0 and null percentiles.
    `duration_s` is the wall time (ended_ns - started_ns), `sending_s` the
    sending window: `rate_per_s = count / sending_s`.
`series.csv`
    one row per second since the run's start: `second, sent, received,
    errors, connected, cpu_percent, main_p50_ms, main_p99_ms`
    (`connected` is a gauge; with several processes rows are summed, so
    `cpu_percent` may exceed 100; latency columns are empty without samples).
`series_events.csv`
    one row per second *and event* active in it: `second, event, count,
    errors, p50_ms, p99_ms` (counts of that second only; with several
    processes counts add up and the percentiles are the worst process's).
`delivery.json`
    `{method, rooms: {room: {sent, acked, members, expected, received, lost,
    duplicates}}, totals: {sent, acked, expected, received, lost, duplicates}}`.
    `expected` counts, for each bot, the run's messages that the room got
    while the bot was a member: with `method: "seq"` from the server's
    per-room `seq` (join-room ack history marks where membership starts),
    otherwise by send time. `received` counts what each bot heard inside
    its memberships (with seqs: the seqs in the membership's window), and
    `lost` adds up, per bot and membership, `max(0, expected - received)`.
`convergence.json` (runs with editors)
    `{documents: [{document, strategy, editors, converged, idle, server_length,
    texts_equal, distinct_texts, divergence, server_keeps_text?}], converged: bool}`;
    against a relay-only server (`server_keeps_text: false`) converged means the
    idle replicas agree with each other; `divergence` is the mean normalized edit
    distance to the most common text.
`presence.json` (runs that heard `user-joined`/`user-left` with a users list)
    `{checked, correct, incorrect, stale, missing, subject_wrong, settle_ms, rule,
    examples}`: each list judged against what the harness knows for certain
    (simulate/roster.py).

meta.json also records `target_profile` (`{name, requested, reason, acks,
unmeasured_events, probe, skipped_personas, notes}`, simulate/target_profile.py)
and `event_map`. Without acks (the tutorial profile) delivery.json has
`method: "time"`, `reordered` counts, and says how each membership's window
was settled (`memberships`, `window`).
"""

from __future__ import annotations

import bisect
import csv
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from simulate.vocabulary import ACKED_METRICS, CONNECTION_METRICS, NO_REPLY_ERRORS

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
SERIES_COLUMNS = (
    "second",
    "sent",
    "received",
    "errors",
    "connected",
    "cpu_percent",
    "main_p50_ms",
    "main_p99_ms",
)
EVENT_SERIES_COLUMNS = ("second", "event", "count", "errors", "p50_ms", "p99_ms")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return round(histogram.get_value_at_percentile(percentile) / 1000, 3)


def max_ms(histogram: HdrHistogram) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return round(histogram.get_max_value() / 1000, 3)


# ------------------------------------------------------------------ live recorder
@dataclass
class EventStats:
    histogram: HdrHistogram = field(default_factory=new_histogram)
    errors: dict[str, int] = field(default_factory=dict)


class Recorder:
    """One process's measurements: histograms per event, error counts, a per-second series.

    Bots call it from trio tasks with no await in between, so it needs no
    lock; `tick` is called once a second by the fleet's ticker.
    """

    def __init__(
        self, start_ns: int, main_event: str, now_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.start_ns = start_ns
        self.main_event = main_event
        self.now_ns = now_ns  # a virtual-time run passes its clock's
        self.events: dict[str, EventStats] = {}
        # series.csv rows by second: JSON records (they travel in `payload()` between processes)
        self.rows: dict[int, dict[str, Any]] = {}
        self.connected = 0
        self.pending = 0  # requests waiting for an ack
        self.last_receive_ns = 0
        # acks and broadcasts heard so far (a connect is no answer), and acks alone:
        # simulate/answer_watch.py
        self.answers = 0
        self.acks_heard = 0
        self._sent = 0
        self._received = 0
        self._errors = 0
        self._main_interval = new_histogram()
        self._unfolded: dict[str, dict[int, int]] = {}
        # per event, this second's latencies (µs -> n) and errors: series_events.csv
        self._second_counts: dict[str, dict[int, int]] = {}
        self._second_errors: dict[str, int] = {}
        self.event_rows: list[dict[str, Any]] = []

    # -- from bots --
    def latency(self, event: str, since_ns: int, now_ns: int | None = None) -> None:
        # Counted in a dict and folded into the histograms once a second: a dict
        # increment costs ~0.1 µs, HdrHistogram.record_value ~5 µs of pure Python.
        now = self.now_ns() if now_ns is None else now_ns
        if event not in CONNECTION_METRICS:
            self.answers += 1
            if event in ACKED_METRICS:
                self.acks_heard += 1
        micros = min(max((now - since_ns) // 1000, LOWEST_US), HIGHEST_US)
        counts = self._unfolded.get(event)
        if counts is None:
            counts = self._unfolded[event] = {}
        counts[micros] = counts.get(micros, 0) + 1

    def error(self, event: str, kind: str) -> None:
        errors = self._stats(event).errors
        errors[kind] = errors.get(kind, 0) + 1
        if event in ACKED_METRICS and kind not in NO_REPLY_ERRORS:
            self.acks_heard += 1  # a refusal is an answer too
        self._errors += 1
        self._second_errors[event] = self._second_errors.get(event, 0) + 1

    def sent(self, n: int = 1) -> None:
        self._sent += n

    def received(self, n: int = 1) -> None:
        self._received += n
        self.answers += n
        self.last_receive_ns = self.now_ns()

    # -- from the ticker --
    def fold(self) -> None:
        """Move the latencies counted since the last fold into the histograms."""
        for event, counts in self._unfolded.items():
            histogram = self._stats(event).histogram
            main = event == self.main_event
            second = self._second_counts.setdefault(event, {})
            for micros, n in counts.items():
                histogram.record_value(micros, n)
                second[micros] = second.get(micros, 0) + n
                if main:
                    self._main_interval.record_value(micros, n)
        self._unfolded.clear()

    def tick(self, now_ns: int, cpu_percent: float) -> dict[str, Any]:
        """Close the current second's row (and return it): counts since the last tick."""
        self.fold()
        second = max(0, round((now_ns - self.start_ns) / 1e9))
        row = {
            "second": second,
            "sent": self._sent,
            "received": self._received,
            "errors": self._errors,
            "connected": self.connected,
            "cpu_percent": round(cpu_percent, 1),
            "main_p50_ms": percentile_ms(self._main_interval, 50),
            "main_p99_ms": percentile_ms(self._main_interval, 99),
        }
        earlier = self.rows.get(second)
        if earlier is not None:  # a last partial tick in the same second: add, keep the latencies
            for key in ("sent", "received", "errors"):
                row[key] += earlier[key]
            row["cpu_percent"] = earlier["cpu_percent"]
            row["main_p50_ms"] = earlier["main_p50_ms"] or row["main_p50_ms"]
            row["main_p99_ms"] = earlier["main_p99_ms"] or row["main_p99_ms"]
        self.rows[second] = row
        self._sent = self._received = self._errors = 0
        self._main_interval.reset()
        self._close_event_second(second)
        return row

    def _close_event_second(self, second: int) -> None:
        """One series_events row per event active this second (exact percentiles of its samples)."""
        for event in sorted(set(self._second_counts) | set(self._second_errors)):
            counts = self._second_counts.get(event, {})
            self.event_rows.append(
                {
                    "second": second,
                    "event": event,
                    "count": sum(counts.values()),
                    "errors": self._second_errors.get(event, 0),
                    "p50_ms": _percentile_of_counts(counts, 0.50),
                    "p99_ms": _percentile_of_counts(counts, 0.99),
                }
            )
        self._second_counts.clear()
        self._second_errors.clear()

    def _stats(self, event: str) -> EventStats:
        stats = self.events.get(event)
        if stats is None:
            stats = self.events[event] = EventStats()
        return stats

    # -- crossing process boundaries --
    def payload(self) -> dict[str, Any]:
        """A picklable/JSON-able snapshot that `merge_payloads` can add up."""
        self.fold()
        return {
            "events": {
                name: {
                    "encoded": stats.histogram.encode().decode("ascii"),
                    "errors": dict(stats.errors),
                }
                for name, stats in self.events.items()
            },
            "rows": [self.rows[s] for s in sorted(self.rows)],
            "event_rows": list(self.event_rows),
        }


def _percentile_of_counts(counts: dict[int, int], q: float) -> float | None:
    total = sum(counts.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for micros in sorted(counts):
        seen += counts[micros]
        if seen >= rank:
            return round(micros / 1000, 3)
    return round(max(counts) / 1000, 3)


def merge_payloads(payloads: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Histograms added, errors summed, series rows summed per second (latency columns dropped).

    Per-second latency columns cannot be added, so merged rows keep them
    only when a single payload is merged.
    """
    payloads = list(payloads)
    if len(payloads) == 1:
        return payloads[0]
    events: dict[str, dict[str, Any]] = {}
    histograms: dict[str, HdrHistogram] = {}
    for payload in payloads:
        for name, entry in payload["events"].items():
            histogram = HdrHistogram.decode(entry["encoded"])
            if name in histograms:
                histograms[name].add(histogram)
            else:
                histograms[name] = histogram
            errors = events.setdefault(name, {"errors": {}})["errors"]
            for kind, n in entry["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
    for name, histogram in histograms.items():
        events[name]["encoded"] = histogram.encode().decode("ascii")
    rows: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        for row in payload["rows"]:
            merged = rows.setdefault(
                row["second"], {column: 0 for column in SERIES_COLUMNS} | {"second": row["second"]}
            )
            for column in ("sent", "received", "errors", "connected", "cpu_percent"):
                merged[column] = round(merged[column] + row[column], 1)
            merged["main_p50_ms"] = merged["main_p99_ms"] = None
    # per-event seconds: counts add up; percentiles of different processes cannot be
    # combined exactly, so the merged row keeps the worst (highest) of them
    event_rows: dict[tuple[int, str], dict[str, Any]] = {}
    for payload in payloads:
        for row in payload.get("event_rows", ()):
            key = (row["second"], row["event"])
            merged_row = event_rows.get(key)
            if merged_row is None:
                event_rows[key] = dict(row)
                continue
            merged_row["count"] += row["count"]
            merged_row["errors"] += row["errors"]
            for column in ("p50_ms", "p99_ms"):
                values = [v for v in (merged_row[column], row[column]) if v is not None]
                merged_row[column] = max(values) if values else None
    return {
        "events": events,
        "rows": [rows[s] for s in sorted(rows)],
        "event_rows": [event_rows[k] for k in sorted(event_rows)],
    }


# ------------------------------------------------------------------ delivery
@dataclass
class Membership:
    """One stretch of a bot's membership of a room: from its join to its leave (or the end).

    `received`: messages heard while it was open (the by-send-time count;
    with seqs, the report counts the seqs heard inside the window instead).

    Without acks (`acked` False, the tutorial profile) the server never says
    when the join took effect: the window starts at `confirmed_ns`, the first
    broadcast showing the join was handled (simulate/roster.py), else
    `settle_ns` after the join was sent; it ends `settle_ns` before the
    leave. Messages count by the send instant they carry (`sentAt`), which
    the ledger records too, so expected and received use the same clock.
    """

    start_seq: int | None
    start_ns: int
    end_seq: int | None = None
    end_ns: int | None = None
    received: int = 0
    acked: bool = True
    confirmed_ns: int | None = None
    confirmed_by: str = ""

    def window(self, settle_ns: int) -> tuple[int, int | None, str]:
        """(first, last send instant counted, how the start is known) of an unacked join."""
        if self.acked:
            return self.start_ns, self.end_ns, "ack"
        if self.confirmed_ns is not None:
            start, how = self.confirmed_ns, self.confirmed_by or "broadcast"
        else:
            start, how = self.start_ns + settle_ns, "settle"
        return start, None if self.end_ns is None else self.end_ns - settle_ns, how


@dataclass
class BotDelivery:
    room: str
    memberships: list[Membership] = field(default_factory=list)
    received: int = 0  # heard inside an open membership
    duplicates: int = 0
    outside: int = 0  # heard with no membership open (after leave(), before a join's ack)
    last_seq: int = 0
    # seqs heard, as ascending inclusive ranges [first, last] (they arrive in order)
    heard: list[list[int]] = field(default_factory=list)
    # without seqs: send instants heard (windows are settled after the run), and per sender
    # the message numbers heard, for duplicates and order
    heard_sent_ns: list[int] = field(default_factory=list)
    reordered: int = 0
    _numbers: dict[str, set[int]] = field(default_factory=dict)
    _highest: dict[str, int] = field(default_factory=dict)

    def take(
        self,
        ledger: RoomLedger,
        seq: Any,
        *,
        sent_ns: int | None = None,
        sender: str | None = None,
        number: int | None = None,
    ) -> bool:
        """Note a chat message heard; False for a duplicate (its `seq` was seen already).

        Only messages heard inside an open membership count as received: a
        bot that has ended its membership (`leave()` before a close) still
        hears the room until the close completes, and those messages were not
        expected of it. Without seqs (`sent_ns`, `sender`, `number` given: the
        tutorial profile) a duplicate is a (sender, number) heard twice, a
        message is out of order when its sender's later one came first, and
        which membership it counts for is settled from `sent_ns` after the run.
        """
        if sent_ns is not None and sender is not None and number is not None:
            return self._take_unnumbered(sent_ns, sender, number)
        if isinstance(seq, int):
            if seq <= self.last_seq:
                self.duplicates += 1
                return False
            self.last_seq = seq
            ledger.seqs.add(seq)
            if self.heard and self.heard[-1][1] == seq - 1:
                self.heard[-1][1] = seq
            else:
                self.heard.append([seq, seq])
        current = self.memberships[-1] if self.memberships else None
        if current is None or current.end_ns is not None:
            self.outside += 1
        else:
            current.received += 1
            self.received += 1
        return True

    def _take_unnumbered(self, sent_ns: int, sender: str, number: int) -> bool:
        numbers = self._numbers.setdefault(sender, set())
        if number in numbers:
            self.duplicates += 1
            return False
        numbers.add(number)
        if number < self._highest.get(sender, -1):
            self.reordered += 1
        self._highest[sender] = max(number, self._highest.get(sender, -1))
        self.heard_sent_ns.append(sent_ns)
        return True

    def membership_rows(self, settle_ns: int) -> list[list[Any]]:
        """The payload's memberships: `[start_seq, start_ns, end_seq, end_ns, received, how]`.

        Unacked memberships get their settled window and the messages heard
        inside it; what was heard outside every window goes to `outside`.
        """
        rows: list[list[Any]] = []
        heard = sorted(self.heard_sent_ns)
        inside = 0
        for m in self.memberships:
            if m.acked:
                rows.append([m.start_seq, m.start_ns, m.end_seq, m.end_ns, m.received, "ack"])
                continue
            start, end, how = m.window(settle_ns)
            lo = bisect.bisect_left(heard, start)
            hi = len(heard) if end is None else bisect.bisect_right(heard, end)
            got = max(0, hi - lo)
            inside += got
            rows.append([None, start, None, end, got, how])
        if heard:
            self.received = inside
            self.outside = len(heard) - inside
        return rows


@dataclass
class RoomLedger:
    sent: int = 0
    acked: int = 0
    seqs: set[int] = field(default_factory=set)
    sent_ns: list[int] = field(default_factory=list)

    def note_sent(self, at_ns: int) -> None:
        self.sent += 1
        self.sent_ns.append(at_ns)

    def unsend(self) -> None:
        """The message just noted could not be sent after all."""
        self.sent -= 1
        self.sent_ns.pop()

    def note_ack(self, reply: dict[str, Any]) -> None:
        self.acked += 1
        if isinstance(reply.get("seq"), int):
            self.seqs.add(reply["seq"])


class DeliveryLog:
    """Enough bookkeeping to say, after the run, whether every message reached every member."""

    def __init__(self, settle_ns: int = 1_000_000_000) -> None:
        self.rooms: dict[str, RoomLedger] = {}
        self.bots: list[BotDelivery] = []
        self.settle_ns = settle_ns  # unacked memberships (simulate/target_profile.SETTLE_NS)

    def room(self, name: str) -> RoomLedger:
        ledger = self.rooms.get(name)
        if ledger is None:
            ledger = self.rooms[name] = RoomLedger()
        return ledger

    def bot(self, room: str) -> BotDelivery:
        self.room(room)
        record = BotDelivery(room)
        self.bots.append(record)
        return record

    def payload(self) -> dict[str, Any]:
        return {
            "rooms": {
                name: {
                    "sent": r.sent,
                    "acked": r.acked,
                    "seqs": sorted(r.seqs),
                    "sent_ns": r.sent_ns,
                }
                for name, r in self.rooms.items()
            },
            "bots": [
                {
                    "room": b.room,
                    "memberships": b.membership_rows(self.settle_ns),
                    "received": b.received,
                    "duplicates": b.duplicates,
                    "reordered": b.reordered,
                    "outside": b.outside,
                    "heard": [list(r) for r in b.heard],
                }
                for b in self.bots
            ],
            "settle_ns": self.settle_ns,
        }


def delivery_report(payloads: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Expected vs received vs lost per room, from one or several processes' delivery logs.

    Loss is counted per bot and membership, `max(0, expected - received)`
    each, then added up: one bot's extra receptions cannot hide another's
    losses. A membership receives what it heard inside its window: with seqs,
    the seqs heard in `(start_seq, end_seq]`; otherwise the messages heard
    while it was open. (Logs without per-membership counts, from before,
    fall back to one count per bot.)
    """
    rooms: dict[str, dict[str, Any]] = {}
    bots: list[dict[str, Any]] = []
    settle_ns: int | None = None
    for payload in payloads:
        settle_ns = payload.get("settle_ns", settle_ns)
        for name, r in payload["rooms"].items():
            room = rooms.setdefault(name, {"sent": 0, "acked": 0, "seqs": set(), "sent_ns": []})
            room["sent"] += r["sent"]
            room["acked"] += r["acked"]
            room["seqs"].update(r["seqs"])
            room["sent_ns"].extend(r["sent_ns"])
        bots.extend(payload["bots"])
    uses_seq = any(room["seqs"] for room in rooms.values())
    out: dict[str, dict[str, Any]] = {}
    settled: dict[str, int] = {}
    for name, room in sorted(rooms.items()):
        seqs = sorted(room["seqs"])
        sent_ns = sorted(room["sent_ns"])
        # messages nobody saw a seq for (never acked, never delivered) are lost for every member
        unseen = max(0, room["sent"] - len(seqs)) if uses_seq else 0
        members = [b for b in bots if b["room"] == name]
        expected = received = lost = duplicates = reordered = 0
        for bot in members:
            windows: list[tuple[int, int | None]] = []  # (expected, received or None) each
            for membership in bot["memberships"]:
                start_seq, start_ns, end_seq, end_ns = membership[:4]
                if uses_seq and start_seq is not None:
                    lo = bisect.bisect_right(seqs, start_seq)
                    hi = len(seqs) if end_seq is None else bisect.bisect_right(seqs, end_seq)
                    heard = bot.get("heard")
                    got = None if heard is None else _count_heard(heard, start_seq, end_seq)
                else:
                    lo = bisect.bisect_left(sent_ns, start_ns)
                    hi = len(sent_ns) if end_ns is None else bisect.bisect_right(sent_ns, end_ns)
                    got = membership[4] if len(membership) > 4 else None
                windows.append((max(0, hi - lo), got))
            bot_unseen = unseen if bot["memberships"] else 0
            bot_expected = sum(e for e, _ in windows) + bot_unseen
            counted = [(e, got) for e, got in windows if got is not None]
            if len(counted) == len(windows):
                bot_received = sum(got for _, got in counted)
                bot_lost = sum(max(0, e - got) for e, got in counted) + bot_unseen
            else:  # an older log: one count per bot
                bot_received = bot["received"]
                bot_lost = max(0, bot_expected - bot_received)
            expected += bot_expected
            received += bot_received
            lost += bot_lost
            duplicates += bot["duplicates"]
            reordered += bot.get("reordered", 0)
            for membership in bot["memberships"]:
                how = membership[5] if len(membership) > 5 else "ack"
                settled[how] = settled.get(how, 0) + 1
        out[name] = {
            "sent": room["sent"],
            "acked": room["acked"],
            "members": len(members),
            "expected": expected,
            "received": received,
            "lost": lost,
            "duplicates": duplicates,
            "reordered": reordered,
        }
    totals = {
        key: sum(room[key] for room in out.values())
        for key in ("sent", "acked", "expected", "received", "lost", "duplicates", "reordered")
    }
    report: dict[str, Any] = {"method": "seq" if uses_seq else "time", "rooms": out}
    report["totals"] = totals
    if set(settled) - {"ack"}:
        # no acks: say how each membership's window was settled (simulate/roster.py)
        report["memberships"] = settled
        report["window"] = (
            "from the first broadcast showing the join was handled (a member's user-joined, "
            f"or the joiner's own echo), else {(settle_ns or 0) / 1e6:g} ms after the join; "
            f"to {(settle_ns or 0) / 1e6:g} ms before the leave; by each message's sentAt"
        )
    return report


def _count_heard(heard: list[list[int]], after: int, upto: int | None) -> int:
    """How many seqs of the ranges `heard` lie in `(after, upto]` (`upto` None: no end)."""
    total = 0
    for first, last in heard:
        lo = max(first, after + 1)
        hi = last if upto is None else min(last, upto)
        if hi >= lo:
            total += hi - lo + 1
    return total


# ------------------------------------------------------------------ run directory
def new_run_id(scenario: str, seed: int) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario}-s{seed}-{secrets.token_hex(2)}"


def summarize(
    payload: dict[str, Any], sending_s: float, wall_s: float | None = None
) -> dict[str, Any]:
    """summary.json: rates over the sending window `sending_s` (not the drain after it).

    `duration_s` is the run's wall time (`wall_s`, start to end, drain and
    checks included), `sending_s` the window the rates are per second of.
    """
    events: dict[str, Any] = {}
    for name, entry in sorted(payload["events"].items()):
        histogram = HdrHistogram.decode(entry["encoded"])
        count = histogram.get_total_count()
        events[name] = {
            "count": count,
            "errors": sum(entry["errors"].values()),
            "error_kinds": entry["errors"],
            "rate_per_s": round(count / sending_s, 3) if sending_s > 0 else None,
            "p50_ms": percentile_ms(histogram, 50),
            "p95_ms": percentile_ms(histogram, 95),
            "p99_ms": percentile_ms(histogram, 99),
            "max_ms": max_ms(histogram),
        }
    rows = payload["rows"]
    return {
        "duration_s": sending_s if wall_s is None else wall_s,
        "sending_s": sending_s,
        "events": events,
        "totals": {
            "sent": sum(r["sent"] for r in rows),
            "received": sum(r["received"] for r in rows),
            "errors": sum(r["errors"] for r in rows),
        },
    }


@dataclass
class RunDirectory:
    """A run directory, as written by a producer or loaded by a reader."""

    path: Path
    meta: dict[str, Any]
    histograms: dict[str, HdrHistogram]
    summary: dict[str, Any]
    series: list[dict[str, Any]]
    delivery: dict[str, Any] | None = None
    convergence: dict[str, Any] | None = None
    presence: dict[str, Any] | None = None

    @staticmethod
    def write(
        path: Path,
        *,
        meta: dict[str, Any],
        payload: dict[str, Any],
        delivery: dict[str, Any] | None = None,
        convergence: dict[str, Any] | None = None,
        presence: dict[str, Any] | None = None,
    ) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        wall_s = max(1e-9, (meta["ended_ns"] - meta["started_ns"]) / 1e9)
        sending_s = sending_window_s(meta) or wall_s
        histograms = {}
        for name, entry in sorted(payload["events"].items()):
            histogram = HdrHistogram.decode(entry["encoded"])
            histograms[name] = {
                "encoded": entry["encoded"],
                "count": histogram.get_total_count(),
                "p50_ms": percentile_ms(histogram, 50),
                "p95_ms": percentile_ms(histogram, 95),
                "p99_ms": percentile_ms(histogram, 99),
                "max_ms": max_ms(histogram),
            }
        _write_json(path / "meta.json", {"format_version": 1, "kind": "realtime", **meta})
        _write_json(path / "histograms.json", histograms)
        _write_json(
            path / "summary.json",
            summarize(payload, round(sending_s, 3), wall_s=round(wall_s, 3)),
        )
        with open(path / "series.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=SERIES_COLUMNS)
            writer.writeheader()
            for row in payload["rows"]:
                writer.writerow({k: "" if row.get(k) is None else row[k] for k in SERIES_COLUMNS})
        with open(path / "series_events.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=EVENT_SERIES_COLUMNS)
            writer.writeheader()
            for row in payload.get("event_rows", ()):
                writer.writerow(
                    {k: "" if row.get(k) is None else row[k] for k in EVENT_SERIES_COLUMNS}
                )
        if delivery is not None:
            _write_json(path / "delivery.json", delivery)
        if convergence is not None:
            _write_json(path / "convergence.json", convergence)
        if presence is not None and presence.get("checked"):
            _write_json(path / "presence.json", presence)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunDirectory:
        path = Path(path)
        meta = _read_json(path / "meta.json")
        histograms = {
            name: HdrHistogram.decode(entry["encoded"])
            for name, entry in _read_json(path / "histograms.json").items()
        }
        series: list[dict[str, Any]] = []
        with open(path / "series.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                series.append(
                    {
                        key: (None if value == "" else float(value) if "." in value else int(value))
                        for key, value in row.items()
                    }
                )
        optional = {
            name: _read_json(path / f"{name}.json") if (path / f"{name}.json").exists() else None
            for name in ("delivery", "convergence", "presence")
        }
        return cls(
            path,
            meta,
            histograms,
            _read_json(path / "summary.json"),
            series,
            optional["delivery"],
            optional["convergence"],
            optional["presence"],
        )


def sending_window_s(meta: dict[str, Any]) -> float | None:
    """Seconds from the start to the stop of sending (meta.json), None if not recorded."""
    began, stopped = meta.get("sending_started_ns"), meta.get("sending_stopped_ns")
    if isinstance(began, int) and isinstance(stopped, int) and stopped > began:
        return (stopped - began) / 1e9
    return None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())
