"""`harness judge-agreement --judge JUDGE --annotations REFERENCE.json`: trust a judge before using it.

Re-judges the reference annotations' pairs with the candidate judge (local or alpaca_eval) and
reports the agreement rate, the confusion counts and, for weighted judges, the correlation of the
preferences. `--max-instances N` takes alpaca_eval's fixed-seed subset of the rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.commands._experiment import DTYPES, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--judge",
        required=True,
        help="alpaca_eval:<annotator> or local:<annotator>[,top_logprobs=K]:<model spec>",
    )
    p.add_argument(
        "--annotations", required=True, type=Path, help="reference annotations (alpaca_eval format)"
    )
    p.add_argument(
        "--max-instances", type=int, default=None, metavar="N", help="alpaca_eval's fixed-seed subset"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the candidate's annotations.json and agreement.json here",
    )
    p.add_argument("--runs-dir", default=None, help="runs root (default $HARNESS_RUNS_DIR or ./runs)")
    p.add_argument(
        "--cache", type=Path, default=None, help="request cache (default RUNS_DIR/cache/requests.sqlite)"
    )
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--batch-size", type=positive_int, default=None, help="hf: prompts per generate call")
    p.add_argument("--dtype", default=None, choices=DTYPES, help="hf/vllm: auto (bf16 on GPU, fp32 on CPU)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import InputError
    from harness.core.io import write_json
    from harness.core.runs import request_cache_path, runs_root
    from harness.evaluation import judges, metrics
    from harness.evaluation.agreement import agreement
    from harness.evaluation.eval_set import select_instances

    spec = judges.parse_judge_option(args.judge)  # names --judge as typed; refuses @base, a missing model dir
    rows = metrics.load_annotations(args.annotations, ("instruction", "output_1", "output_2", "preference"))
    for i, r in enumerate(rows):
        bad = [f for f in ("instruction", "output_1", "output_2") if not isinstance(r[f], str)]
        if bad:
            raise InputError(f"annotation [{i}] has a non-string {', '.join(bad)}", path=args.annotations)
    rows = select_instances(rows, args.max_instances)
    if not any(metrics.normalize_preference(r["preference"]) is not None for r in rows):
        raise InputError(
            f"{len(rows)} reference annotation(s), none with a preference in [1, 2]: there is "
            "nothing to agree with",
            path=args.annotations,
            fix="pass alpaca_eval annotations that carry the reference judge's preferences",
        )
    pairs = [
        {
            "instruction": r["instruction"],
            "output_1": r["output_1"],
            "output_2": r["output_2"],
            "generator_1": r.get("generator_1", "reference"),
            "generator_2": r.get("generator_2", "model"),
            "dataset": r.get("dataset", ""),
        }
        for r in rows
    ]
    cache = None if args.no_cache else (args.cache or request_cache_path(runs_root(args.runs_dir)))
    options = {k: v for k, v in (("batch_size", args.batch_size), ("dtype", args.dtype)) if v is not None}

    from rich.console import Console

    err = Console(stderr=True)
    judge = judges.make_judge(spec, cache=cache, generator_options=options, output_dir=args.output)
    judge.check()
    cost = judge.estimate_cost(pairs)
    if cost is not None:
        err.print(
            f"judge cost estimate: {cost['n_judgments']} judgments, ~{cost['total_tokens']:,} tokens, "
            + ("price unknown" if cost["usd"] is None else f"~${cost['usd']:.4f}"),
            highlight=False,
        )
    else:
        err.print(f"no cost estimate: {spec.kind} judge", highlight=False)
    try:
        run_ = judge.judge(pairs)
    finally:
        judge.close()
    report = {
        "judge": str(spec),
        "reference": str(args.annotations),
        "reference_annotator": rows[0].get("annotator") if rows else None,
        **agreement(rows, run_.annotations),
        "judge_stats": run_.stats,
    }
    if args.output:
        write_json(args.output / "annotations.json", run_.annotations)
        write_json(args.output / "agreement.json", report)
    if args.json:
        print(json.dumps(report))
        return 0

    _print_report(report, f"{spec} vs {args.annotations.name}")
    return 0


def _print_report(report: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"{title}: reference (rows) x candidate (columns)")
    t.add_column("reference \\ candidate")
    for c in ("output_1", "draw", "output_2"):
        t.add_column(c, justify="right")
    for r, counts in report["confusion"].items():
        t.add_row(r, *(str(counts[c]) for c in ("output_1", "draw", "output_2")))
    from harness.report.terminal import print_table

    print_table(console, t)

    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"

    console.print(
        f"agreement {fmt(report['agreement'])} on {report['n_compared']} pair(s); candidate failures "
        f"{report['n_candidate_failures']}; reference rows without preference "
        f"{report['n_reference_without_preference']}; Pearson {fmt(report['pearson'])}, "
        f"Spearman {fmt(report['spearman'])}",
        highlight=False,
    )
