"""docs/events.md and server/catalogue.py list exactly the same events, direction included.

The page's tables are read as a person reads them: a row whose first cell names
events (`name`, or `a` / `b`) and whose second cell gives a direction (`C→S`,
`S→C`, or `C→S → S→C` for an event that goes both ways).
"""

from __future__ import annotations

import re
from pathlib import Path

from server.catalogue import CLIENT_EVENTS, SERVER_EVENTS, EventName

EVENTS_MD = Path(__file__).resolve().parents[2] / "docs" / "events.md"
NAMES_CELL = re.compile(r"`[a-z-]+`(\s*/\s*`[a-z-]+`)*")


def documented_events() -> tuple[set[str], set[str]]:
    """(client → server names, server → client names) from the page's tables."""
    client: set[str] = set()
    server: set[str] = set()
    for line in EVENTS_MD.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) < 2 or not NAMES_CELL.fullmatch(cells[0]):
            continue
        names = re.findall(r"`([a-z-]+)`", cells[0])
        if "C→S" in cells[1]:
            client.update(names)
        if "S→C" in cells[1]:
            server.update(names)
    return client, server


def test_the_page_and_the_module_list_the_same_events() -> None:
    client, server = documented_events()
    assert client == set(CLIENT_EVENTS)
    assert server == set(SERVER_EVENTS)


def test_the_reader_finds_every_group() -> None:
    client, server = documented_events()
    # guards the parser above: a table it cannot read would make both sides empty
    assert {"join-room", "notify", "player-input", "rtc-offer", "measure-rtt"} <= client
    assert {"receive-message", "notification", "game-state", "rtc-offer", "error"} <= server


def test_every_wire_name_is_declared_once_and_used() -> None:
    assert set(CLIENT_EVENTS) | set(SERVER_EVENTS) == {name.value for name in EventName}
