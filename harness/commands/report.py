"""`harness report --config EXPERIMENT`: write the leaderboard (Markdown, CSV, JSON, HTML) and print it."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._experiment import add_experiment_arguments, load, require_place_for


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--results-dir",
        default="results",
        metavar="DIR",
        help="where results/<experiment>/ is written (default: ./results)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write even when datasets are not evaluated, or when it replaces figures the stored "
        "leaderboard has",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.report import leaderboard
    from harness.stages import report

    exp = load(args)
    require_place_for(
        Path(args.results_dir), what="--results-dir", fix="pass --results-dir a directory you can write to"
    )
    result = report.run(exp, args.runs_dir, results_dir=args.results_dir, force=args.force)
    console = Console()
    leaderboard.print_leaderboard(console, result.board)
    if result.board["missing_eval"]:
        console.print(f"[yellow]not evaluated yet:[/yellow] {', '.join(result.board['missing_eval'])}")
    console.print(
        f"report: {len(result.board['rows'])} rows; wrote {', '.join(str(p) for p in result.written)}"
    )
    return 0
