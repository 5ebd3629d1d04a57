"""Debian's headless Chromium, as the browser tests launch it through Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium,
with the flags that keep it from reaching the network on its own.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"
)


def launch(playwright: Any) -> Any:
    """A Playwright `Browser` on Debian's Chromium; the caller closes it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
