"""`harness compare A.json B.json`: is model B's AlpacaEval win rate really different from model A's?

Pairs the two annotation files by instruction and prints the difference B - A with a bootstrap
confidence interval and a paired permutation-test p-value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, help="annotations JSON of model A")
    parser.add_argument("b", type=Path, help="annotations JSON of model B (judged on the same instructions)")
    parser.add_argument(
        "--n-bootstrap",
        type=int,
        default=10_000,
        metavar="N",
        help="bootstrap resamples, also used for the permutation test (default 10000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of the resampling (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _short(path: Path) -> str:
    """Parent and name: enough to tell ae1/x.json from ae2/x.json in a narrow table (--json has full paths)."""
    return f"{path.parent.name}/{path.name}"


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import InputError
    from harness.evaluation import comparison, metrics

    if args.n_bootstrap < 1:
        raise InputError(f"--n-bootstrap must be at least 1, got {args.n_bootstrap}")
    fields = ("preference", "instruction")
    rows_a = metrics.load_annotations(args.a, fields)
    rows_b = metrics.load_annotations(args.b, fields)
    result = comparison.compare(
        rows_a, rows_b, n_bootstrap=args.n_bootstrap, seed=args.seed, paths=(args.a, args.b)
    )
    if args.json:
        print(json.dumps({"a": str(args.a), "b": str(args.b), **result.to_dict()}))
        return 0

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"B - A on {result.n_paired} paired instructions ({result.n_shared} shared)")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row(f"A win rate (%): {_short(args.a)}", f"{result.win_rate_a:.4f}")
    table.add_row(f"B win rate (%): {_short(args.b)}", f"{result.win_rate_b:.4f}")
    table.add_row("difference B - A (points)", f"{result.difference:+.4f}")
    table.add_row(f"{result.confidence:.0%} bootstrap CI", f"[{result.ci_low:+.4f}, {result.ci_high:+.4f}]")
    p_text = f"{result.p_value:.4g}"
    if result.p_value <= 2 / (result.n_bootstrap + 1) + 1e-12:  # a Monte Carlo test cannot go lower
        p_text = f"<= {p_text} (floor at {result.n_bootstrap} resamples)"
    table.add_row("p-value", p_text)
    console = Console()
    from harness.report.terminal import print_table

    print_table(console, table)
    console.print(
        f"p-value: {result.test}, {result.n_bootstrap} resamples, seed {result.seed}; "
        f"CI: percentile bootstrap over instructions.",
        highlight=False,
        soft_wrap=True,
    )
    if not result.same_reference:
        console.print(
            "warning: the two files were judged against different reference outputs (generator_1); "
            "the difference mixes models and references.",
            style="yellow",
            soft_wrap=True,
        )
    return 0
