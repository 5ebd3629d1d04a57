"""`python -m simulate`: real-time bot fleets (`run`), virtual-time experiments (`experiment`)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "run": "simulate.fleet",
        "experiment": "simulate.experiment",
    }
    if not argv or argv[0] not in commands:
        print("usage: python -m simulate {run,experiment} [options]  (--help after a command)")
        return 2
    import importlib

    module = importlib.import_module(commands[argv[0]])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
