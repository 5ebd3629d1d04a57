"""The demo page in a real browser: headless Chromium (Debian's) driven by Playwright.

Two pages chat through the reference server; the typing indicator appears on
the other page; the dashboard's connection count drops when a page closes.
Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT
from tests.e2e.chromium import launch, needs_chromium

SCREENSHOT = ROOT / "docs" / "img" / "demo.png"

pytestmark = needs_chromium


def test_two_pages_chat_type_and_the_dashboard_counts_connections(server_factory, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    server = server_factory("--dashboard-interval", "0.2")
    with sync_api.sync_playwright() as pw:
        browser = launch(pw)
        try:
            ann = browser.new_page(viewport={"width": 1280, "height": 760})
            bob = browser.new_page(viewport={"width": 1280, "height": 760})
            ann.goto(f"{server.url}/?user=ann&name=Ann&room=demo")
            bob.goto(f"{server.url}/?user=bob&name=Bob&room=demo")
            for page in (ann, bob):
                page.wait_for_function(
                    "document.querySelector('[data-testid=status]').textContent.includes('online')"
                )
                page.wait_for_selector("[data-testid=message]:not([disabled])")

            # both users appear in each other's presence list
            ann.wait_for_selector("[data-testid=presence] li[data-user=bob]")

            bob.fill("[data-testid=message]", "hello from Bob")
            bob.click("[data-testid=send]")
            ann.wait_for_function(
                "document.querySelector('[data-testid=messages]').textContent"
                ".includes('hello from Bob')"
            )
            bob.wait_for_function(
                "document.querySelector('[data-testid=messages]').textContent"
                ".includes('hello from Bob')"
            )

            ann.type("[data-testid=message]", "typing…")
            bob.wait_for_function(
                "document.querySelector('[data-testid=typing]').textContent.includes('ann')"
            )
            assert "typing" in bob.text_content("[data-testid=typing]")
            assert "ann" not in (ann.text_content("[data-testid=typing]") or "")

            # the dashboard counts both pages' connections, then one fewer when Bob leaves
            ann.wait_for_function(
                "Number(document.querySelector('[data-testid=connections]').textContent) >= 2"
            )
            before = int(ann.text_content("[data-testid=connections]"))
            # RTLAB_UPDATE_SCREENSHOT=1 refreshes the committed docs/img/demo.png
            shot = (
                SCREENSHOT if os.environ.get("RTLAB_UPDATE_SCREENSHOT") else tmp_path / "demo.png"
            )
            ann.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            bob.close()
            ann.wait_for_function(
                "Number(document.querySelector('[data-testid=connections]').textContent)"
                f" < {before}",
                timeout=10_000,
            )
            ann.wait_for_selector("[data-testid=presence] li[data-user=bob]", state="detached")
        finally:
            browser.close()
