"""Locust: live notifications — receivers time deliveries, notifiers POST /notify.

    RTLAB_ADMIN_TOKEN=secret locust -f locustfiles/notifications.py --headless \\
        -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

The server must run with the same admin token (`--admin-token` or
`RTLAB_ADMIN_TOKEN`). Parameters come from `simulate/scenarios/notifications.toml`
(9 receivers : 1 notifier, rooms of 10). Rows: `ack notify.ack` (POST round
trip), `push notification.delivery` (one-way, same host clock), `ack room.join`.
"""

from __future__ import annotations

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.catalogue_users import NotificationReceiverUser, NotifierUser


class NotificationReceiver(NotificationReceiverUser):
    scenario_name = "notifications"
    weight_from_scenario = True


class Notifier(NotifierUser):
    scenario_name = "notifications"
    weight_from_scenario = True
