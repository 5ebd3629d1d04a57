"""A run that measures nothing stops: after the deadline with no answer, never before."""

from __future__ import annotations

from types import SimpleNamespace

from simulate.answer_watch import AnswerWatch, nothing_measured
from simulate.target_profile import RTLAB, TUTORIAL

S = 1_000_000_000


def recorder(answers: int = 0, acks: int = 0) -> SimpleNamespace:
    return SimpleNamespace(answers=answers, acks_heard=acks)


def test_the_deadline_counts_from_the_first_connection() -> None:
    watch = AnswerWatch(TUTORIAL, deadline_s=5)
    assert watch.check(0, 0, recorder()) is None  # nobody connected: nothing to judge yet
    assert watch.check(10 * S, 3, recorder()) is None  # first connection at 10 s
    assert watch.check(14 * S, 3, recorder()) is None
    message = watch.check(15 * S, 3, recorder())
    assert message is not None and "no broadcast arrived" in message
    assert "--event-map" in message and "receive-message" in message


def test_any_broadcast_answers_without_acks() -> None:
    watch = AnswerWatch(TUTORIAL, deadline_s=5)
    watch.check(0, 1, recorder())
    assert watch.check(6 * S, 1, recorder(answers=1)) is None and watch.answered


def test_with_rtlab_acks_only_an_ack_answers() -> None:
    """Broadcasts (user-joined) alone measure nothing when every request waits for an ack."""
    watch = AnswerWatch(RTLAB, deadline_s=5)
    watch.check(0, 4, recorder())
    message = watch.check(5 * S, 4, recorder(answers=30, acks=0))
    assert message is not None and "acked nothing" in message
    assert "--target-profile tutorial" in message
    other = AnswerWatch(RTLAB, deadline_s=5)
    other.check(0, 4, recorder())
    assert other.check(5 * S, 4, recorder(answers=30, acks=1)) is None


def test_the_end_of_run_message_names_the_main_event_and_the_other_profile() -> None:
    assert "--target-profile tutorial" in nothing_measured(RTLAB, "chat.echo")
    text = nothing_measured(TUTORIAL, "chat.echo")
    assert "chat.echo" in text and "--target-profile rtlab" in text
