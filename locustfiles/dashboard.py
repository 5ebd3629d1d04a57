"""Locust: the live dashboard — watchers subscribe to `server` and time its updates.

    locust -f locustfiles/dashboard.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

Parameters come from `simulate/scenarios/dashboard.toml`. Rows:
`ack dashboard.subscribe`, `push dashboard.staleness` (receive time - the
update's `ts`), `push dashboard.interval` (between two updates; nominal =
the server's `--dashboard-interval`, 1 s by default).
"""

from __future__ import annotations

import locustfiles.run_recording  # noqa: F401 - registers the run-directory listeners
from locustfiles.catalogue_users import DashboardWatcherUser


class DashboardWatcher(DashboardWatcherUser):
    scenario_name = "dashboard"
