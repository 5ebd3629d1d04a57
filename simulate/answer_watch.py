"""A run that measures nothing must fail, early and with a message that says what to try.

The failure this guards against: a harness that waits for acks, pointed at
a server that sends none, connects every user, times out every join, sends
nothing, and exits 0 with an empty report. Both engines call
`AnswerWatch.check` once a second: once a first user is connected, the
server has `ANSWER_DEADLINE_S` to answer: with the rtlab profile an ack
(broadcasts alone do not help when every request waits for an ack),
without acks any broadcast (a connection alone proves nothing). If it does not, the run
stops with `nothing_answered`; a run that completes without a single sample
of its main event fails with `nothing_measured`. Engine-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulate.target_profile import TargetProfile

ANSWER_DEADLINE_S = 5.0
NOTHING_MEASURED_EXIT = 3  # distinct from argparse's 2 and a crash's 1


class NothingMeasured(Exception):
    """The run got no answer from the server, or measured no sample of its main event."""


@dataclass
class AnswerWatch:
    profile: TargetProfile
    deadline_s: float = ANSWER_DEADLINE_S
    first_connected_ns: int | None = None
    answered: bool = False

    def check(self, now_ns: int, connected: int, recorder: Any) -> str | None:
        """The failure message once the deadline passed with no answer, else None.

        `recorder` (simulate.recording.Recorder): with acks expected an answer
        is an ack (broadcasts alone measure nothing when every request waits
        for an ack); without, any ack or broadcast.
        """
        answers = recorder.acks_heard if self.profile.acks else recorder.answers
        if connected and self.first_connected_ns is None:
            self.first_connected_ns = now_ns
        if answers > 0 and self.first_connected_ns is not None:
            self.answered = True
        if self.first_connected_ns is None or answers > 0:
            return None
        if now_ns - self.first_connected_ns < self.deadline_s * 1e9:
            return None
        return nothing_answered(self.profile, connected, self.deadline_s)


def nothing_answered(profile: TargetProfile, connected: int, deadline_s: float) -> str:
    if profile.acks:
        return (
            f"{connected} users connected, but in {deadline_s:g} s the server acked nothing: "
            "no ack to join-room or any other request. The rtlab profile waits for "
            "rtlab's acks ({ok: true, ...}); a server without them, like the tutorial's, needs "
            "--target-profile tutorial (or auto, the default, which probes)."
        )
    return (
        f"{connected} users connected, but in {deadline_s:g} s no broadcast arrived: no "
        "receive-message, user-joined, user-typing or document-change. The tutorial profile "
        "expects join-room(roomId, userId) and send-message(roomId, message) relayed as "
        "receive-message to the whole room, sender included. If your server names its events "
        "differently, map them: --event-map send-message=chat:send,receive-message=chat:message "
        "(docs/load-test-your-server.md)."
    )


def nothing_measured(profile: TargetProfile, main_event: str) -> str:
    other = "tutorial" if profile.acks else "rtlab"
    return (
        f"the run recorded no {main_event} sample (its main event) with the {profile.name} "
        f"profile: nothing was measured. Check the errors above; if the server "
        f"{'sends no acks' if profile.acks else 'acks like rtlab'}, try --target-profile "
        f"{other}; if it names events differently, --event-map."
    )
