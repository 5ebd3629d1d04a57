"""Who is in each room, as far as the harness can be sure — for servers that ack nothing.

Against rtlab, a `join-room` ack says "you are in, from message seq N on".
The tutorial's server says nothing to the joiner: it tells the *others*
(`user-joined`), and relays messages to whoever is in the room when it
handles them. So the harness keeps its own roster, per room and user:

- a join is *sent* (`join_sent`), then *confirmed* by the first evidence
  that the server handled it: another member hearing `user-joined` about
  the user, or the user hearing its own message back (`confirm`). Every
  message scheduled after that instant reaches the user (same host clock:
  scheduled <= emitted, and the server handled the join before it said so).
  A join nobody confirms counts from `SETTLE_NS` after it was sent — the
  bounded settle delay, reported in delivery.json by how many memberships
  needed it.
- a leave (`leave-room`, a close, a dropped connection) is noted when it
  happens (`left`).

The same knowledge judges the `users` lists of `user-joined`/`user-left`
(`judge_users`): a list must name the subject (joined) or not (left), every
user *certainly in* (confirmed before the subject acted, not gone since the
list was heard), and nobody *certainly out* (left at least `SETTLE_NS`
before the subject acted, not back). Users in flux are not judged. The
tutorial's server never forgets a user whose connection closed without
`leave-room`, and the judgement shows it (`stale`).

Engine-free (no trio, no gevent): the bot fleet and the Locust users keep
one `Roster` and one `PresenceLog` per process; rooms never span processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.catalogue import EventName
from simulate.target_profile import SETTLE_NS

EXAMPLES_KEPT = 5
ACTS_KEPT = 64  # per user and kind: joins and leaves of one user are far apart


@dataclass
class Seat:
    """One user's current state in one room (the latest join or leave wins)."""

    join_sent_ns: int | None = None
    confirmed_ns: int | None = None
    left_ns: int | None = None
    confirmations: list[Any] = field(default_factory=list)  # memberships waiting for it

    @property
    def in_room(self) -> bool:
        return self.join_sent_ns is not None and self.left_ns is None


class Roster:
    def __init__(self, settle_ns: int = SETTLE_NS) -> None:
        self.settle_ns = settle_ns
        self.rooms: dict[str, dict[str, Seat]] = {}
        self._acts: dict[tuple[str, str], list[int]] = {}
        self._used: dict[tuple[str, str, str], int] = {}

    # -- timing user-joined / user-left --
    def note_act(self, kind: str, user: str, at_ns: int) -> None:
        """`user` did something (`joined`, `left`) that the room will be told about."""
        acts = self._acts.setdefault((kind, user), [])
        acts.append(at_ns)
        del acts[:-ACTS_KEPT]

    def act_heard(self, kind: str, user: str, receiver: str, now_ns: int) -> int | None:
        """When the act a broadcast heard by `receiver` announces happened, or None.

        The latest act up to now, not the oldest unused one (as PeerClock
        does for typing): a member that was not in the room yet — its join
        was sent first but handled second — never hears some broadcasts,
        and matching in order would then time every later one from an older
        act. Joins and leaves of one user alternate, seconds apart, so the
        latest join is the one announced. A second broadcast of the same act
        counts once.
        """
        acts = self._acts.get((kind, user))
        if not acts:
            return None
        latest = next((at for at in reversed(acts) if at <= now_ns), None)
        key = (kind, user, receiver)
        if latest is None or self._used.get(key) == latest:
            return None
        self._used[key] = latest
        return latest

    def _seat(self, room: str, user: str) -> Seat:
        return self.rooms.setdefault(room, {}).setdefault(user, Seat())

    # -- acts --
    def join_sent(self, room: str, user: str, at_ns: int, membership: Any = None) -> None:
        """`user` emitted join-room; `membership.confirmed_ns` is set when confirmed."""
        seat = self._seat(room, user)
        seat.join_sent_ns, seat.confirmed_ns, seat.left_ns = at_ns, None, None
        seat.confirmations = [] if membership is None else [membership]

    def confirm(self, room: str, user: str, at_ns: int, how: str) -> None:
        """Evidence that the server handled the current join (`how`: broadcast, echo, ack)."""
        seat = self.rooms.get(room, {}).get(user)
        if seat is None or not seat.in_room or seat.confirmed_ns is not None:
            return
        seat.confirmed_ns = at_ns
        for membership in seat.confirmations:
            if membership.confirmed_ns is None:
                membership.confirmed_ns, membership.confirmed_by = at_ns, how
        seat.confirmations = []

    def left(self, room: str, user: str, at_ns: int) -> None:
        seat = self._seat(room, user)
        if seat.left_ns is None:
            seat.left_ns = at_ns
        seat.confirmations = []

    # -- judging a users list --
    def judge_users(
        self, room: str, subject: str, joined: bool, users: Any, act_ns: int, heard_ns: int
    ) -> ListVerdict | None:
        """Compare a broadcast's `users` with what is certain; None if not a list."""
        listed = user_ids(users)
        if listed is None:
            return None
        seats = self.rooms.get(room, {})
        certainly_in = {
            user
            for user, seat in seats.items()
            if user != subject
            and seat.confirmed_ns is not None
            and seat.confirmed_ns <= act_ns
            and (seat.left_ns is None or seat.left_ns >= heard_ns)
        }
        certainly_out = {
            user
            for user, seat in seats.items()
            if user != subject
            and seat.left_ns is not None
            and seat.left_ns + self.settle_ns <= act_ns
        }
        subject_wrong = (subject in listed) != joined
        return ListVerdict(
            subject=subject,
            event=EventName.USER_JOINED if joined else EventName.USER_LEFT,
            missing=tuple(sorted(certainly_in - listed)),
            stale=tuple(sorted(certainly_out & listed)),
            subject_wrong=subject_wrong,
        )


def user_ids(users: Any) -> set[str] | None:
    """The ids of a `users` list: strings (the tutorial's) or `{id, ...}` objects (rtlab's)."""
    if not isinstance(users, list):
        return None
    ids = set()
    for user in users:
        if isinstance(user, str):
            ids.add(user)
        elif isinstance(user, dict) and isinstance(user.get("id"), str):
            ids.add(user["id"])
    return ids


@dataclass(frozen=True, slots=True)
class ListVerdict:
    subject: str
    event: str
    missing: tuple[str, ...]
    stale: tuple[str, ...]
    subject_wrong: bool

    @property
    def correct(self) -> bool:
        return not (self.missing or self.stale or self.subject_wrong)


class PresenceLog:
    """How many `users` lists were judged, and what was wrong with them (presence.json)."""

    def __init__(self) -> None:
        self.checked = 0
        self.correct = 0
        self.stale = 0  # users listed though certainly gone
        self.missing = 0  # users certainly in but not listed
        self.subject_wrong = 0  # the joiner missing from user-joined, the leaver in user-left
        self.examples: list[dict[str, Any]] = []

    def add(self, verdict: ListVerdict | None) -> None:
        if verdict is None:
            return
        self.checked += 1
        if verdict.correct:
            self.correct += 1
            return
        self.stale += len(verdict.stale)
        self.missing += len(verdict.missing)
        self.subject_wrong += verdict.subject_wrong
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(
                {
                    "event": verdict.event,
                    "subject": verdict.subject,
                    "stale": list(verdict.stale),
                    "missing": list(verdict.missing),
                    "subject_wrong": verdict.subject_wrong,
                }
            )

    def payload(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "correct": self.correct,
            "stale": self.stale,
            "missing": self.missing,
            "subject_wrong": self.subject_wrong,
            "examples": list(self.examples),
        }


def presence_report(
    payloads: Iterable[dict[str, Any]], settle_ns: int = SETTLE_NS
) -> dict[str, Any]:
    """presence.json: the processes' judgements added up (None-free, examples capped)."""
    totals = {"checked": 0, "correct": 0, "stale": 0, "missing": 0, "subject_wrong": 0}
    examples: list[dict[str, Any]] = []
    for payload in payloads:
        for key in totals:
            totals[key] += int(payload.get(key, 0))
        examples.extend(payload.get("examples", ()))
    return {
        **totals,
        "incorrect": totals["checked"] - totals["correct"],
        "settle_ms": settle_ns / 1e6,
        "rule": (
            "a users list must name the subject (user-joined) or not (user-left), every "
            "member confirmed before the subject acted and still there, and nobody who left "
            f"at least {settle_ns / 1e6:g} ms before it"
        ),
        "examples": examples[:EXAMPLES_KEPT],
    }


# ------------------------------------------------------------------ both engines' handlers
def heard_membership_change(
    roster: Roster,
    presence: PresenceLog,
    room: str,
    receiver: str,
    payload: Any,
    *,
    joined: bool,
    now_ns: int,
) -> int | None:
    """A member heard `user-joined`/`user-left`: confirm, judge the list; the act's instant.

    Returns when the announced act happened (for `presence.joined` /
    `presence.left`), or None when it is not ours to time.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("userId"), str):
        return None
    subject = payload["userId"]
    if joined:
        roster.confirm(room, subject, now_ns, "broadcast")
    since = roster.act_heard("joined" if joined else "left", subject, receiver, now_ns)
    if since is not None:
        presence.add(roster.judge_users(room, subject, joined, payload.get("users"), since, now_ns))
    return since


def heard_unnumbered_message(
    roster: Roster,
    record: Any,
    ledger: Any,
    room: str,
    receiver: str,
    message: dict[str, Any],
    now_ns: int,
) -> bool:
    """A chat message from a server without seqs (the tutorial's); False: not to be timed.

    The message's own sender, number and `sentAt` identify it (duplicates,
    order, which membership it counts for); hearing one's own message, sent
    after one's current join, confirms that join. `record` and `ledger` are
    simulate.recording's `BotDelivery` and `RoomLedger`.
    """
    sender, number, sent_at = message.get("userId"), message.get("n"), message.get("sentAt")
    if not (isinstance(sent_at, int) and isinstance(sender, str) and isinstance(number, int)):
        return False
    current = record.memberships[-1] if record.memberships else None
    if sender == receiver and current is not None and sent_at >= current.start_ns:
        roster.confirm(room, receiver, now_ns, "echo")
    return bool(record.take(ledger, None, sent_ns=sent_at, sender=sender, number=number))
