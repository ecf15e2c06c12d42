"""`harness score ANNOTATIONS.json`: AlpacaEval win rate ± SE, discrete and length-controlled win rate.

Reads an alpaca_eval annotations file and prints the leaderboard's figures for it; `--json` prints
them as one JSON object for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("annotations", type=Path, help="alpaca_eval annotations JSON (a list of judgments)")
    from harness.commands.eval import add_lc_arguments

    add_lc_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--generator",
        default=None,
        metavar="NAME",
        help="score the rows of this generator (generator_2) only; needed when the file holds several",
    )


def _clean(value: Any) -> Any:
    """NaN (no SE for a single row) becomes null, so the JSON stays valid."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _one_generator(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows of one judged model: a file holding several (generator_2) would give one blended win rate."""
    from collections import Counter

    from harness.core.config import did_you_mean
    from harness.core.errors import InputError

    counts = Counter(str(r.get("generator_2", "")) for r in rows)
    listed = ", ".join(f"{g or '(unnamed)'}: {n}" for g, n in counts.most_common(6)) + (
        ", ..." if len(counts) > 6 else ""
    )
    if args.generator is not None:
        if args.generator not in counts:
            raise InputError(
                f"no row has generator_2 {args.generator!r} (rows per generator: {listed})",
                path=args.annotations,
                fix=did_you_mean(args.generator, counts, otherwise="pass one of the generators listed"),
            )
        return [r for r in rows if str(r.get("generator_2", "")) == args.generator]
    if len(counts) > 1:
        raise InputError(
            f"the annotations judge {len(counts)} generators (rows per generator_2: {listed}); one win "
            "rate over them would blend the models",
            path=args.annotations,
            fix=f"pass --generator NAME to score one, e.g. --generator {counts.most_common(1)[0][0]}",
        )
    return rows


def run(args: argparse.Namespace) -> int:
    from harness.evaluation import metrics

    if args.lc_data is not None:
        metrics.check_lc_data(args.lc_data)  # before reading the annotations
    rows = _one_generator(metrics.load_annotations(args.annotations), args)
    wr = metrics.compute_win_rate([r["preference"] for r in rows])
    if wr.n_total == 0:
        from harness.core.errors import InputError

        raise InputError(
            "no annotation has a preference in [1, 2]; there is nothing to score", path=args.annotations
        )
    not_counted = metrics.uncounted_preferences([r["preference"] for r in rows])
    if not_counted:
        import sys

        print(
            f"harness score: warning: {sum(not_counted.values())} of {len(rows)} row(s) not counted "
            f"({', '.join(f'{k}: {v}' for k, v in not_counted.items())}); alpaca_eval ignores them too",
            file=sys.stderr,
        )
    # the eval stage's computation; rows in the AlpacaEval set's order, as alpaca_eval assumes
    lc = metrics.length_controlled_win_rate(rows, args.lc_data, mode=args.lc)
    result = {
        "file": str(args.annotations),
        "n_rows": len(rows),
        "generator": rows[0].get("generator_2") if rows else None,
        **wr.to_dict(),
        **lc.to_metrics(),
        "not_counted": not_counted,
    }
    result = {k: _clean(v) for k, v in result.items()}
    if args.json:
        print(json.dumps(result))
        return 0

    from rich.console import Console
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    # the full path is in --json; a short name keeps the table narrow
    table = Table(title=f"{args.annotations.parent.name}/{args.annotations.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("win rate (%)", pct(result["win_rate"]))
    table.add_row("standard error", pct(result["standard_error"]))
    table.add_row("n counted / rows", f"{wr.n_total} / {len(rows)}")
    table.add_row("wins / losses / draws", f"{wr.n_wins} / {wr.n_wins_base} / {wr.n_draws}")
    table.add_row("discrete win rate (%)", pct(result["discrete_win_rate"]))
    lc_text = pct(result["lc_win_rate"])
    if result["lc_standard_error"] is not None:
        lc_text += f" ± {result['lc_standard_error']:.4f}"
    table.add_row(f"LC win rate (%), {result['lc_variant'] or 'n/a'}", lc_text)
    console = Console()
    from harness.report.terminal import print_table

    print_table(console, table)
    if result["lc_label"]:
        console.print(f"LC variant: {result['lc_label']}", highlight=False)
    if lc.reason:
        console.print(lc.reason, highlight=False, soft_wrap=True)
    return 0
