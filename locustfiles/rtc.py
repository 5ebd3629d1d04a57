"""Locust: WebRTC signaling — offers answered at once, then ICE candidate storms.

    locust -f locustfiles/rtc.py --headless -u 40 -r 10 -t 60s --host http://127.0.0.1:8000

Parameters come from `simulate/scenarios/rtc.toml` (RTC rooms of 4). Rows:
`ack rtc.join`, `rtt rtc.offer_answer` (offer -> the peer's answer back,
both through the server), `push rtc.ice_delivery` (burst instant -> each
relayed candidate).
"""

from __future__ import annotations

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.catalogue_users import RtcPeerUser


class RtcPeer(RtcPeerUser):
    scenario_name = "rtc"
