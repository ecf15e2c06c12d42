"""`harness run --config EXPERIMENT`: the whole loop, build -> train -> eval -> analysis -> report.

Each stage is skipped when a finished manifest with its fingerprint is already there, so a change to
one dataset's settings reruns that dataset's chain alone. `--dry-run` prints the plan (every stage,
cache hit or miss, every leaderboard row with its train and eval stage, the capacity plan of
`harness.stages.capacity` and the API judge's cost estimate) and runs nothing; `--json` the same as JSON.
With `hardware:` declared, a stage that does not fit it is refused before any work (exit 2), by the dry
run and by the run.

The terminal shows one line per stage (`harness.console.StageDisplay`); what the libraries print
(transformers, TRL, vLLM, datasets) goes to `runs/<experiment>/logs/run-<time>.log` unless `-v`.
"""

from __future__ import annotations

import argparse
import time

from harness.commands._experiment import (
    add_experiment_arguments,
    load,
    one_runner,
    positive_int,
    require_runs_and_results,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument(
        "--only", action="append", metavar="DATASET", help="run the chain of this dataset only (repeatable)"
    )
    p.add_argument(
        "--force",
        nargs="+",
        default=[],
        choices=("build", "train", "eval", "analysis", "report"),
        metavar="STAGE",
        help="rerun these stages even when cached (build, train, eval, analysis); "
        "report: replace a stored leaderboard even when it loses figures",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, the capacity plan and the cost estimate; run nothing",
    )
    p.add_argument(
        "--json", action="store_true", help="with --dry-run: the plan and the capacity plan as JSON"
    )
    p.add_argument("--results-dir", default="results", metavar="DIR", help="where results/<experiment>/ goes")
    p.add_argument("--no-report", action="store_true", help="stop after the analysis stage")
    p.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: every stage in this process; slurm: one job per stage through submitit, "
        "each after the jobs it needs (slurm.* keys: partition, account, time, ...)",
    )
    p.add_argument(
        "--wait", action="store_true", help="with --executor slurm: wait for the jobs and report them"
    )
    p.add_argument(
        "--num-shards",
        type=positive_int,
        default=None,
        metavar="K",
        help="build each dataset as K shard tasks and a merge task (equal to the unsharded build); default build.num_shards",
    )


def run(args: argparse.Namespace) -> int:
    from harness.console import make_console, terminal_stream
    from harness.stages import capacity
    from harness.stages.context import Run
    from harness.stages.evaluate import estimate_cost
    from harness.stages.graph import graph

    exp = load(args)
    require_runs_and_results(args, results=not args.no_report)
    run_ = Run(exp, args.runs_dir, only=args.only, results_dir=args.results_dir, num_shards=args.num_shards)
    tasks = graph(run_, report=not args.no_report)  # validates everything before any work
    steps = [t for t in tasks if t.stage != "report"]
    cost = estimate_cost(exp)
    console = make_console(terminal_stream())
    if args.json and not args.dry_run:
        from harness.core.errors import ConfigError

        raise ConfigError("--json goes with --dry-run", fix="harness run --config ... --dry-run --json")
    if args.dry_run:
        _check_api_judge(
            exp, steps, reach=False
        )  # a missing key is said by the dry run, not after the training
        capacities = capacity.stage_plans(exp, steps)
        if args.json:
            return _dry_run_json(exp, tasks, capacities, cost)
        return _dry_run(exp, tasks, cost, console, args.only, capacities)
    capacity.check(exp, steps)  # a stage that does not fit the declared hardware: refused before any work
    _check_api_judge(exp, steps, reach=True)
    if args.executor == "slurm":
        return _submit(run_, args, tasks, console)
    if args.wait:
        from harness.core.errors import ConfigError

        raise ConfigError(
            "--wait goes with --executor slurm", fix="harness run --config ... --executor slurm --wait"
        )
    with one_runner(exp, args):
        if cost:
            console.print(_cost_line(exp, cost))
        return _run(run_, args, tasks, console)


def _submit(run_, args: argparse.Namespace, tasks, console) -> int:
    """The graph as SLURM jobs (`harness.stages.executor`); with --wait, until they end."""
    from pathlib import Path

    from harness.core.lock import runner_lock
    from harness.stages import executor

    config = str(Path(args.config).resolve()) if Path(args.config).is_file() else args.config
    with (
        runner_lock(run_.exp_dir, args.command_line, shared=True),
        runner_lock(run_.exp_dir, args.command_line, name="runner.submit.lock"),
    ):
        submitted = executor.submit(run_, tasks, config=config, overrides=args.overrides, force=args.force)
    for line in executor.describe(submitted):
        console.print(f"  {line}", highlight=False, markup=False)
    logs = executor.slurm_dir(run_) / "logs"
    console.print(
        f"submitted {sum(not s.reused for s in submitted)} job(s) of {len(tasks)} stages "
        f"({len(tasks) - len(submitted)} cached); logs in {logs}; `harness status --config {args.config}` "
        "shows them",
        highlight=False,
        soft_wrap=True,
    )
    if not args.wait or not submitted:
        return 0
    from harness.core import slurm

    infos = slurm.wait([s.job_id for s in submitted], folder=logs)
    bad = {k: v for k, v in infos.items() if v.status != "ok"}
    for info in bad.values():
        console.print(f"  {info.describe()}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"run: {len(infos) - len(bad)} of {len(infos)} job(s) completed"
        + (f", {len(bad)} did not" if bad else ""),
        highlight=False,
    )
    return 1 if bad else 0


def _check_api_judge(exp, steps, *, reach: bool) -> None:
    """An API judge that an eval stage still needs: its key is set and (before a real run) its server
    answers, so neither is found only after every build and training."""
    if not exp.eval.judge.startswith("alpaca_eval:") or all(s.cached for s in steps if s.stage == "eval"):
        return
    from harness.evaluation import judges

    cfg = judges.load_annotator(exp.eval.judge.split(":", 1)[1])
    judges.check_api_key(cfg)
    if reach:
        judges.check_api_server(cfg)


def _cost_line(exp, cost) -> str:
    if cost:
        return f"judge cost estimate: {cost.get('summary') or cost}"
    return f"no cost estimate: {exp.eval.judge.split(':', 1)[0]} judge"


def _dry_run_json(exp, steps, capacities, cost) -> int:
    import json

    from harness.stages import capacity_report

    out = {
        "experiment": exp.name,
        "stages": [
            {
                "stage": s.label,
                "cached": s.cached,
                "fingerprint": s.fingerprint,
                "directory": str(s.directory),
                "needs": list(s.needs),
                "writes": list(s.writes),
            }
            for s in steps
        ],
        "capacity": capacity_report.to_json(exp, capacities),
        "judge_cost": cost or None,
    }
    print(json.dumps(out, indent=2, default=str))
    return 2 if out["capacity"]["problems"] else 0


def _dry_run(exp, steps, cost, console, only, capacities) -> int:  # noqa: PLR0913
    from rich.table import Table

    from harness.report.terminal import print_table
    from harness.stages import capacity, capacity_report

    t = Table(title=f"plan of experiment '{exp.name}' ({len(steps)} stages)")
    for col in ("stage", "status", "needs", "fingerprint", "directory"):
        t.add_column(col)
    for s in steps:
        status = "always runs" if s.stage == "report" else "cached" if s.cached else "to run"
        t.add_row(s.label, status, _needs_cell(s), s.fingerprint or "-", str(s.directory))
    print_table(console, t)
    print_table(console, rows_table(exp, only))
    console.print(_cost_line(exp, cost), highlight=False)
    print_table(console, capacity_report.table(exp, capacities))
    for line in capacity_report.summary_lines(exp, capacities):
        console.print(line, soft_wrap=True)
    todo = sum(not s.cached for s in steps if s.stage != "report")
    n = sum(s.stage != "report" for s in steps)
    console.print(f"dry run: {todo} of {n} stages to run, {n - todo} cached; nothing was run")
    lines = capacity.problems(exp, capacities)
    if lines:
        console.print(
            f"capacity: {len(lines)} stage(s) do not fit the declared hardware (hardware.*); "
            "harness run refuses them:",
            soft_wrap=True,
        )
        for line in lines:
            console.print(f"  {line}", soft_wrap=True, markup=False)
        return 2
    return 0


def _needs_cell(task) -> str:
    """The tasks a task needs, short: the kinds' counts past three."""
    if len(task.needs) <= 3:
        return ", ".join(task.needs) or "-"
    kinds: dict[str, int] = {}
    for n in task.needs:
        kinds[n.split("/")[0]] = kinds.get(n.split("/")[0], 0) + 1
    return ", ".join(f"{v} {k}" for k, v in kinds.items())


def _run(run_, args: argparse.Namespace, tasks, console) -> int:
    """Execute the graph, one terminal line per task; the library output goes to the run's log."""
    import datetime as dt

    from harness.console import StageDisplay, library_output_to, logging_to
    from harness.stages import graph

    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    log_path = run_.exp_dir / "logs" / f"run-{stamp}.log"
    quiet = not args.verbose
    done: list = []
    with (
        library_output_to(log_path, enabled=quiet),
        logging_to(log_path, console, verbose=not quiet),
        StageDisplay(console, [t.label for t in tasks]) as display,
    ):
        try:
            done = graph.execute(run_, tasks, force=args.force, listener=_listener(display))
        finally:
            ran = [t.label for t, o in done if t.stage != "report" and o is not None and not o.skipped]
            _log_run(run_.exp_dir, ran, time.perf_counter() - t0)
    board = next((o.board for t, o in done if t.stage == "report"), None)
    if board is not None:
        from harness.report.leaderboard import print_leaderboard

        print_leaderboard(console, board)
    where = f"; leaderboard in {tasks[-1].directory}/" if board is not None else ""
    console.print(
        f"run: {len(ran)} stages ran, {time.perf_counter() - t0:.0f} s{where}"
        + (f"; library output in {log_path}" if quiet and log_path.is_file() else ""),
        soft_wrap=True,
    )
    return 0


def _listener(display):
    """The stage lines: a task predicted to run shows as running while it does; each ends done, cached
    or failed with its summary."""
    from harness.stages.graph import Listener

    def start(task) -> None:
        if not task.cached:
            display.start(task.label)

    def done(task, outcome) -> None:
        if task.stage == "report":
            if outcome.board is None:
                display.fail(task.label, summary("report", outcome))
            else:
                display.finish(task.label, summary("report", outcome))
        else:
            display.finish(task.label, summary(task.stage, outcome), cached=outcome.skipped)

    def failed(task, error) -> None:
        display.fail(task.label, str(error) or type(error).__name__)

    def progress(task):
        if task.stage not in ("train", "eval"):
            return None
        return lambda what, d, n: display.advance(task.label, d, n, what)

    return Listener(start=start, done=done, failed=failed, progress=progress)


def summary(stage: str, outcome) -> str:
    """One line of counts for a finished (or cached) stage, from its manifest (its stage module's)."""
    from harness.stages.graph import module

    return module(stage).summary(outcome)


def rows_table(exp, only):
    """The leaderboard rows the run will produce, each with its train and eval stage."""
    from rich.markup import escape
    from rich.table import Table

    from harness.stages.plan import select
    from harness.stages.rows import rows

    listed = rows(exp, select(exp, only))
    t = Table(title=f"{len(listed)} leaderboard rows")
    for col in ("row", "dataset", "assembly", "N", "checkpoint", "eval tags", "stages"):
        t.add_column(col)
    for r in listed:
        step = "selected" if r.selected else f"step {r.step}" if r.step is not None else "final"
        stages = (
            "report only: the best of its training's rows"
            if r.selected
            else f"train/{r.training.key}, eval/{r.eval_key}"
        )
        t.add_row(
            escape(r.name),
            r.dataset,
            r.training.assembly,
            "all" if r.n is None else f"{r.n:,}",
            step,
            "-" if r.selected else r.eval_tags,
            stages,
        )
    return t


def _log_run(exp_dir, ran: list[str], seconds: float) -> None:
    """Append what this invocation ran to <exp>/run-log.jsonl: the record of which stages reran."""
    import datetime as dt
    import json

    exp_dir.mkdir(parents=True, exist_ok=True)
    entry = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "ran": ran,
        "wall_time_s": round(seconds, 2),
    }
    with open(exp_dir / "run-log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
