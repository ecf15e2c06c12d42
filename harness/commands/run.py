"""`harness run --config EXPERIMENT`: the whole loop, build -> train -> eval -> analysis -> report.

Each stage is skipped when a finished manifest with its fingerprint is already there, so a change to
one dataset's settings reruns that dataset's chain alone. `--dry-run` prints the plan (every stage,
cache hit or miss, every leaderboard row with its train and eval stage, and the API judge's cost
estimate) and runs nothing.
"""

from __future__ import annotations

import argparse
import time

from harness.commands._experiment import add_experiment_arguments, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument("--only", action="append", metavar="DATASET", help="run the chain of this dataset only (repeatable)")
    p.add_argument("--force", nargs="+", default=[], choices=("build", "train", "eval", "analysis", "report"),
                   metavar="STAGE", help="rerun these stages even when cached (build, train, eval, analysis); "
                                         "report: replace a stored leaderboard even when it loses figures")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the cost estimate; run nothing")
    p.add_argument("--results-dir", default="results", metavar="DIR", help="where results/<experiment>/ goes")
    p.add_argument("--no-report", action="store_true", help="stop after the analysis stage")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.stages.evaluate import estimate_cost
    from harness.stages.plan import plan, select

    exp = load(args)
    steps = plan(exp, args.runs_dir, only=args.only)  # validates everything before any work
    cost = estimate_cost(exp)
    console = Console()
    console.width = max(console.width, 120)
    if args.dry_run:
        t = Table(title=f"plan of experiment '{exp.name}' ({len(steps)} stages)")
        for col in ("stage", "fingerprint", "status", "directory"):
            t.add_column(col, overflow="fold")
        for s in steps:
            t.add_row(s.label, s.fingerprint, "[green]cached[/green]" if s.cached else "[yellow]to run[/yellow]",
                      str(s.directory))
        console.print(t)
        console.print(rows_table(exp, args.only))
        if cost:
            console.print(f"judge cost estimate: {cost.get('summary') or cost}")
        todo = sum(not s.cached for s in steps)
        console.print(f"dry run: {todo} of {len(steps)} stages to run, {len(steps) - todo} cached; nothing was run")
        return 0
    if cost:
        console.print(f"judge cost estimate: {cost.get('summary') or cost}")

    from harness.stages import analyze, build, evaluate, train
    from harness.stages.base import ensure_base_model

    names = select(exp, args.only)
    t0 = time.perf_counter()
    ensure_base_model(exp, args.runs_dir)
    ran: list[str] = []
    for stage, module in (("build", build), ("train", train), ("eval", evaluate)):
        outcomes = module.run(exp, args.runs_dir, only=names, force=stage in args.force)
        ran += [f"{stage}/{o.directory.name}" for o in outcomes if not o.skipped]
    if exp.analysis.enabled:
        outcome = analyze.run(exp, args.runs_dir, force="analysis" in args.force)
        if not outcome.skipped:
            ran.append("analysis")
    _log_run(exp, args.runs_dir, ran, time.perf_counter() - t0)
    if not args.no_report:
        _report(exp, args, console)
    console.print(f"run: {len(ran)} stages ran ({', '.join(ran) or 'all cached'}); "
                  f"{time.perf_counter() - t0:.1f} s")
    return 0


def rows_table(exp, only):
    """The leaderboard rows the run will produce, each with its train and eval stage."""
    from rich.markup import escape
    from rich.table import Table

    from harness.stages.plan import select
    from harness.stages.rows import rows

    listed = rows(exp, select(exp, only))
    t = Table(title=f"{len(listed)} leaderboard rows")
    for col in ("row", "dataset", "assembly", "N", "checkpoint", "eval tags", "stages"):
        t.add_column(col, overflow="fold")
    for r in listed:
        step = "selected" if r.selected else f"step {r.step}" if r.step is not None else "final"
        stages = ("report only: the best of its training's rows" if r.selected
                  else f"train/{r.training.key}, eval/{r.eval_key}")
        t.add_row(escape(r.name), r.dataset, r.training.assembly, "all" if r.n is None else f"{r.n:,}", step,
                  "-" if r.selected else r.eval_tags, stages)
    return t


def _log_run(exp, runs_dir, ran: list[str], seconds: float) -> None:
    """Append what this invocation ran to <exp>/run-log.jsonl: the record of which stages reran."""
    import datetime as dt
    import json

    from harness.stages import paths

    d = paths.exp_dir(exp, runs_dir)
    d.mkdir(parents=True, exist_ok=True)
    entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "ran": ran,
             "wall_time_s": round(seconds, 2)}
    with open(d / "run-log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def _report(exp, args: argparse.Namespace, console) -> None:
    """The report step; with --only, datasets never evaluated leave the stored leaderboard as it is."""
    from harness.report import leaderboard
    from harness.report.leaderboard import missing_evals
    from harness.stages import report

    missing = missing_evals(exp, args.runs_dir)
    if args.only and missing:
        console.print(f"report: not written, {', '.join(missing)} not evaluated yet "
                      f"(run without --only, or harness report --force for a partial leaderboard)")
        return
    result = report.run(exp, args.runs_dir, results_dir=args.results_dir, force="report" in args.force)
    console.print(leaderboard.rich_table(result.board))
    console.print(f"report: wrote {', '.join(str(p) for p in result.written)}")
