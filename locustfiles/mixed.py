"""Locust: a little of everything — chatters, typists, presence churners and editors together.

    locust -f locustfiles/mixed.py --headless -u 200 -r 20 -t 60s --host http://127.0.0.1:8000

The weights of the user classes are the persona weights of the run's
scenario (`simulate/scenarios/mixed.toml`: 5 chatters : 3 typists :
1 churner : 1 editor; `--rtlab-scenario smoke` gives smoke's mix), set
at Locust's `init` before any user is dispatched. Chatters, typists and
churners share chat rooms of the scenario's room size; editors share
documents. A few notification receivers (and a notifier: set
RTLAB_ADMIN_TOKEN), dashboard watchers, game players and RTC peers
run alongside (locustfiles/catalogue_users.py).
"""

from __future__ import annotations

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles import catalogue_users as catalogue
from locustfiles import chat, editing, presence, typing_indicators
from locustfiles.rtlab_user import scenario_users

# Locust's user classes of this file: MixedChatter, MixedTypist, ... (weights: the scenario's).
globals().update(
    scenario_users(
        "mixed",
        {
            "MixedChatter": chat.ChatUser,
            "MixedTypist": typing_indicators.TypistUser,
            "MixedPresenceChurner": presence.PresenceChurnUser,
            "MixedEditor": editing.EditorUser,
            "MixedNotificationReceiver": catalogue.NotificationReceiverUser,
            "MixedNotifier": catalogue.NotifierUser,
            "MixedDashboardWatcher": catalogue.DashboardWatcherUser,
            "MixedGamePlayer": catalogue.GamePlayerUser,
            "MixedRtcPeer": catalogue.RtcPeerUser,
        },
        __name__,
    )
)
