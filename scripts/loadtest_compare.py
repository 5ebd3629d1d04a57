"""`make loadtest-compare`: one scenario, the same seed, several servers, one comparison report.

    python -m scripts.loadtest_compare --targets "rtlab tutorial-node tutorial-python" \\
        --scenario chat --users 40 --duration 15s --engine bots
    TARGETS="rtlab ws://127.0.0.1:3000" SCENARIO=chat python -m scripts.loadtest_compare

Each target in turn — a bundled server started here (rtlab, tutorial-node,
tutorial-python) or a URL — gets the same load (every option of
`scripts.loadtest`, the seed fixed once for all), its own run directory
and report. Servers started here run on core 0 and the load generator on
core 1 when the host has two cores, one target at a time, and are metered
(CPU, RSS). Then `reports/server_comparison.py` puts the runs side by side,
with ratios to the first target, in `<out>/compare-<stamp>-<scenario>/`.
The exit status is the worst of the runs' (3: a run measured nothing).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from reports.server_comparison import describe_comparison, load_compared, write_comparison
from scripts.bundled_targets import BUNDLED, TargetError, two_cores
from scripts.loadtest import (
    ADMIN_TOKEN_ENV,
    LoadtestConfig,
    build_report,
    check_target,
    load_target,
    parse_config,
)
from simulate.scenarios import ScenarioError, load_scenario

DEFAULT_TARGETS = "rtlab tutorial-node tutorial-python"


def parse(argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], LoadtestConfig]:
    p = argparse.ArgumentParser(prog="python -m scripts.loadtest_compare", add_help=False)
    p.add_argument("--targets", default=env.get("TARGETS", DEFAULT_TARGETS))
    p.add_argument("-h", "--help", action="store_true")
    ns, rest = p.parse_known_args(list(argv))
    if ns.help:
        print(__doc__)
        print(f"--targets: names ({', '.join(BUNDLED)}) or URLs, space- or comma-separated")
        print("every other option is scripts.loadtest's: python -m scripts.loadtest --help")
        raise SystemExit(0)
    targets = [t for t in ns.targets.replace(",", " ").split() if t]
    config = parse_config(rest, {k: v for k, v in env.items() if k != "TARGET"})
    if len(targets) < 2:
        p.error("--targets needs at least two servers to compare")
    for target in targets:
        check_target(target, p)
    if config.budgets is not None:
        p.error("budgets apply to one run: use scripts.loadtest --budgets")
    try:
        seed = config.seed if config.seed is not None else load_scenario(config.scenario).seed
    except ScenarioError as exc:
        p.error(str(exc))
    return targets, replace(config, seed=seed)


def main(argv: Sequence[str] | None = None) -> int:
    targets, config = parse(sys.argv[1:] if argv is None else argv, os.environ)
    pinned = two_cores()
    server_cores, engine_cores = ([0], [1]) if pinned else (None, None)
    os.environ.setdefault(ADMIN_TOKEN_ENV, "loadtest-compare")
    run_dirs: list[Path] = []
    worst = 0
    with tempfile.TemporaryDirectory(prefix="rtlab-compare-") as tmp:
        for target in targets:
            print(f"\n=== {target}: scenario {config.scenario}, seed {config.seed}", flush=True)
            try:
                result = load_target(config, target, Path(tmp), server_cores, engine_cores)
            except TargetError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            worst = max(worst, result.code)
            if result.run_dir is None or not (result.run_dir / "summary.json").exists():
                print(f"error: no run directory for {target} (exit {result.code})", file=sys.stderr)
                continue
            build_report(result.run_dir)
            run_dirs.append(result.run_dir)
    if len(run_dirs) < 2:
        print("error: fewer than two runs to compare", file=sys.stderr)
        return worst or 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = config.out / f"compare-{stamp}-{Path(config.scenario).stem}"
    compared = load_compared(run_dirs)
    written = write_comparison(out_dir, compared)
    command = equivalent_command(targets, config)
    print()
    print(describe_comparison(compared), end="")
    print(f"\n{'pinned: servers on core 0, load on core 1' if pinned else 'not pinned'}")
    print(f"command: {command}")
    print(f"comparison: {written[-1]}")
    return worst


def equivalent_command(targets: list[str], config: LoadtestConfig) -> str:
    """The run as flags (make passes environment variables): what to type to repeat it."""
    cmd = ["python", "-m", "scripts.loadtest_compare", "--targets", " ".join(targets)]
    cmd += ["--engine", config.engine, "--scenario", config.scenario]
    cmd += ["--users", str(config.users), "--spawn-rate", f"{config.spawn_rate:g}"]
    cmd += ["--duration", f"{config.duration_s:g}s", "--seed", str(config.seed)]
    cmd += ["--target-profile", config.target_profile]
    if config.event_map:
        cmd += ["--event-map", config.event_map]
    return shlex.join(cmd)


if __name__ == "__main__":
    sys.exit(main())
