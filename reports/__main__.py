"""`python -m reports {build,summary,check,compare,servers}`: run directories in, reports out.

Exit codes are the CI contract: 0 fine, 1 a budget violation or a
regression, 2 the inputs could not be read (no run directory, a bad budget
file) — so a broken pipeline is never mistaken for a slow server.

RUN_DIR may be a run directory or a directory of runs (the newest is used).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from reports.budgets import BudgetError, check_run, format_verdicts, load_budgets
from reports.compare import Tolerance, compare_runs, format_changes, parse_ratio
from reports.summary import RunDirectoryError, describe, load_realtime_run, load_run

# `compare` options, one per `Tolerance` field (--max-regression, ...): field, parser, help.
TOLERANCE_OPTIONS: tuple[tuple[str, Callable[[str], float], str], ...] = (
    ("max_regression", parse_ratio, "relative worsening tolerated, e.g. 20%% (default 20%%)"),
    ("min_delta_ms", float, "latency increases up to this many ms are noise (default %(default)s)"),
    (
        "min_delta_rate",
        float,
        "throughput drops up to this many events/s are noise (default %(default)s)",
    ),
    (
        "min_delta_error_rate",
        parse_ratio,
        "error-rate increases up to this absolute share are noise (default 0.5%%)",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports", description="Reports, budgets and comparisons of rtlab runs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="write report.html and PNG plots into RUN_DIR")
    build.add_argument("run_dir")

    summary = commands.add_parser("summary", help="print the per-event table")
    summary.add_argument("run_dir")

    check = commands.add_parser("check", help="check a run against latency budgets (exit 1)")
    check.add_argument("run_dir")
    check.add_argument("--budgets", default="budgets.toml", help="default: %(default)s")

    servers = commands.add_parser(
        "servers", help="one scenario's runs against several servers, side by side"
    )
    servers.add_argument("run_dirs", nargs="+", help="run directories; the first is the baseline")
    servers.add_argument("--out", help="also write comparison.{txt,md,json,html} here")

    compare = commands.add_parser("compare", help="compare a run with a baseline (exit 1)")
    compare.add_argument("base_run")
    compare.add_argument("new_run")
    defaults = Tolerance()
    for field, parse, help_text in TOLERANCE_OPTIONS:
        compare.add_argument(
            "--" + field.replace("_", "-"),
            type=parse,
            default=getattr(defaults, field),
            help=help_text,
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (RunDirectoryError, BudgetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "build":
        from reports.build import build_report  # matplotlib only when drawing

        report, images = build_report(args.run_dir)
        print(f"report: {report} ({len(images)} plots)")
        return 0
    if args.command == "summary":
        print(describe(load_run(args.run_dir)), end="")
        return 0
    if args.command == "check":
        budgets = load_budgets(args.budgets)
        run = load_realtime_run(args.run_dir, "check")
        print(f"run {run.path}  budgets {args.budgets}")
        verdicts = check_run(run, budgets)
        print(format_verdicts(verdicts), end="")
        return 0 if all(v.passed for v in verdicts) else 1
    if args.command == "servers":
        from reports.server_comparison import describe_comparison, load_compared, write_comparison

        compared = load_compared(args.run_dirs)
        print(describe_comparison(compared), end="")
        if args.out:
            written = write_comparison(Path(args.out), compared)
            print(f"comparison: {written[-1]}")
        return 0
    base = load_realtime_run(args.base_run, "compare")
    new = load_realtime_run(args.new_run, "compare")
    tolerance = Tolerance(**{field: getattr(args, field) for field, _, _ in TOLERANCE_OPTIONS})
    changes = compare_runs(base, new, tolerance)
    print(format_changes(changes, base, new), end="")
    return 1 if any(c.regressed for c in changes) else 0


if __name__ == "__main__":
    sys.exit(main())
