"""What the harness knows without acks: settled memberships, delivery by sentAt, users lists.

Pure code (simulate/roster.py, simulate/recording.py): instants are made up,
so each rule is checked exactly, including the cases that must *not* count
as losses (a message sent before the join took effect) and those that must
(a message sent well inside a membership and never heard).
"""

from __future__ import annotations

from simulate.recording import DeliveryLog, Membership, delivery_report
from simulate.roster import PresenceLog, Roster, presence_report
from simulate.target_profile import SETTLE_NS

MS = 1_000_000


def test_a_join_counts_from_the_first_broadcast_that_shows_it() -> None:
    roster = Roster()
    membership = Membership(None, 100 * MS, acked=False)
    roster.join_sent("r", "ann", 100 * MS, membership)
    roster.confirm("r", "ann", 130 * MS, "broadcast")
    roster.confirm("r", "ann", 150 * MS, "echo")  # later evidence changes nothing
    assert membership.window(SETTLE_NS) == (130 * MS, None, "broadcast")


def test_an_unconfirmed_join_counts_from_the_settle_delay_and_ends_before_the_leave() -> None:
    membership = Membership(None, 100 * MS, end_ns=5000 * MS, acked=False)
    start, end, how = membership.window(SETTLE_NS)
    assert (start, end, how) == (100 * MS + SETTLE_NS, 5000 * MS - SETTLE_NS, "settle")


def test_delivery_without_seqs_counts_by_sent_at_inside_each_window() -> None:
    log = DeliveryLog()
    ledger = log.room("r")
    for sent in (50, 200, 300, 400):  # the room's messages, by the sentAt they carry
        ledger.note_sent(sent * MS)
    bob = log.bot("r")
    bob.memberships.append(Membership(None, 100 * MS, acked=False, confirmed_ns=150 * MS))
    # heard: the one from before the join (outside), 200, a duplicate of 200, then 400
    # before 300 (out of order); 300 is heard too
    for sent, number in ((50, 0), (200, 1), (200, 1), (400, 3), (300, 2)):
        bob.take(ledger, None, sent_ns=sent * MS, sender="ann", number=number)
    report = delivery_report([log.payload()])
    assert report["method"] == "time"
    assert report["totals"] == {
        "sent": 4,
        "acked": 0,
        "expected": 3,  # 200, 300, 400: sent after the join was confirmed
        "received": 3,
        "lost": 0,
        "duplicates": 1,
        "reordered": 1,
    }
    assert report["memberships"] == {"broadcast": 1}
    assert "sentAt" in report["window"]


def test_a_message_never_heard_inside_a_membership_is_lost() -> None:
    log = DeliveryLog()
    ledger = log.room("r")
    for sent in (200, 300):
        ledger.note_sent(sent * MS)
    bob = log.bot("r")
    bob.memberships.append(Membership(None, 100 * MS, acked=False, confirmed_ns=150 * MS))
    bob.take(ledger, None, sent_ns=200 * MS, sender="ann", number=0)
    totals = delivery_report([log.payload()])["totals"]
    assert (totals["expected"], totals["received"], totals["lost"]) == (2, 1, 1)


def test_users_lists_are_judged_against_what_is_certain() -> None:
    roster = Roster(settle_ns=100 * MS)
    roster.join_sent("r", "ann", 0)
    roster.confirm("r", "ann", 10 * MS, "broadcast")
    roster.join_sent("r", "gone", 0)
    roster.confirm("r", "gone", 10 * MS, "broadcast")
    roster.left("r", "gone", 50 * MS)  # closed without leave-room
    roster.join_sent("r", "bob", 500 * MS)  # bob joins at 500 ms
    # the tutorial never forgets "gone": stale; ann is certainly in
    stale = roster.judge_users("r", "bob", True, ["ann", "gone", "bob"], 500 * MS, 505 * MS)
    assert stale is not None and stale.stale == ("gone",) and not stale.correct
    # rtlab's objects, and a list that forgot ann and the subject
    missing = roster.judge_users("r", "bob", True, [{"id": "gone"}], 500 * MS, 505 * MS)
    assert missing is not None and missing.missing == ("ann",) and missing.subject_wrong
    right = roster.judge_users("r", "bob", True, ["ann", "bob"], 500 * MS, 505 * MS)
    assert right is not None and right.correct
    # a user-left must not name the leaver
    left = roster.judge_users("r", "ann", False, ["ann", "bob"], 600 * MS, 605 * MS)
    assert left is not None and left.subject_wrong
    assert roster.judge_users("r", "bob", True, "not a list", 0, 0) is None

    log = PresenceLog()
    for verdict in (stale, missing, right, left):
        log.add(verdict)
    report = presence_report([log.payload(), PresenceLog().payload()], settle_ns=100 * MS)
    assert (report["checked"], report["correct"], report["incorrect"]) == (4, 1, 3)
    assert (report["stale"], report["missing"], report["subject_wrong"]) == (2, 1, 2)
    assert report["examples"][0]["stale"] == ["gone"]


def test_a_broadcast_is_timed_from_the_latest_act_and_only_once() -> None:
    """A member that missed a broadcast (it joined second) must not time the next from it."""
    roster = Roster()
    roster.note_act("joined", "ann", 100 * MS)
    roster.note_act("joined", "ann", 2000 * MS)  # ann left and joined again
    assert roster.act_heard("joined", "ann", "bob", 2003 * MS) == 2000 * MS
    assert roster.act_heard("joined", "ann", "bob", 2004 * MS) is None  # the same act again
    assert roster.act_heard("joined", "ann", "cid", 2005 * MS) == 2000 * MS  # another member
    assert roster.act_heard("left", "ann", "bob", 2005 * MS) is None  # no such act
    assert roster.act_heard("joined", "ann", "dan", 50 * MS) is None  # before any act
