"""`harness check --config EXPERIMENT --baseline results/<exp>/leaderboard.json`: the CI regression check.

Collects the current leaderboard from the run directory and compares it with the baseline; exits 1
with a table of what moved when a metric leaves its tolerance or a row appears or disappears.
`--update` rewrites the baseline (and the other leaderboard files beside it) instead. A
`noise.json` beside the baseline (measured spread per row and metric) widens the tolerances to it.
"""

from __future__ import annotations

import argparse
import shlex

from harness.commands._experiment import add_experiment_arguments, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--baseline", required=True, metavar="LEADERBOARD.json", help="the stored leaderboard to compare with"
    )
    p.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="absolute tolerance of one metric, e.g. win_rate=3 (repeatable)",
    )
    p.add_argument("--update", action="store_true", help="rewrite the baseline with the current leaderboard")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from harness.core.errors import InputError
    from harness.core.io import read_json
    from harness.report import leaderboard
    from harness.report.check import compare, parse_noise, parse_tolerances

    exp = load(args)
    tolerances = parse_tolerances(args.tolerance)
    board = leaderboard.collect(exp, args.runs_dir)
    console = Console()
    baseline_path = Path(args.baseline)
    if args.update:
        leaderboard.write(board, baseline_path.parent, exp=exp, runs_dir=args.runs_dir)
        console.print(f"check: baseline updated: {baseline_path.parent}")
        return 0
    if board["missing_eval"]:
        raise InputError(
            f"datasets not evaluated yet: {', '.join(board['missing_eval'])}",
            fix=f"run `{shlex.join(['harness', 'run', '--config', args.config])}` first",
        )
    if not baseline_path.is_file():
        raise InputError(
            "baseline leaderboard not found", path=baseline_path, fix="run with --update to create it"
        )
    baseline = read_json(baseline_path)
    if not isinstance(baseline, dict) or "rows" not in baseline:
        raise InputError("not a leaderboard.json (no 'rows')", path=baseline_path)
    if baseline.get("backend") != board["backend"]:
        raise InputError(
            f"the baseline was made with backend {baseline.get('backend') or '(not recorded)'}, this run "
            f"uses {board['backend']}: the two engines draw different tokens from one seed, so every "
            "sampled figure differs by sampling noise (README: Regression checks in your CI)",
            path=baseline_path,
            fix=f"check against a baseline made with {board['backend']} (for the demo: "
            + (
                "results/demo/leaderboard.json, from make demo-results)"
                if board["backend"] == "hf"
                else f"results/{board['backend']}/demo/leaderboard.json, from scripts/demo_results.py --settings "
                f"1:default:{board['backend']},2:default:{board['backend']})"
            ),
        )
    noise_path = baseline_path.parent / "noise.json"
    noise = parse_noise(read_json(noise_path), str(noise_path)) if noise_path.is_file() else None
    changes = compare(board, baseline, tolerances, noise)
    if not changes:
        console.print(f"check: {len(board['rows'])} rows match {baseline_path} within tolerances")
        return 0
    t = Table(title=f"{len(changes)} changes against {baseline_path}")
    for col in ("dataset", "metric", "baseline", "current", "move", "tolerance", "measured noise", "kind"):
        t.add_column(col)
    for c in changes:
        move = ""
        if c.kind == "moved":
            move = f"{float(c.current) - float(c.baseline):+g}"
        t.add_row(
            c.dataset,
            c.key,
            str(c.baseline),
            str(c.current),
            move,
            "" if c.tolerance is None else str(c.tolerance),
            "" if c.noise is None else str(c.noise),
            c.kind,
        )
    from harness.report.terminal import print_table

    print_table(console, t)
    return 1
