"""`harness task --config EXPERIMENT TASK [key=value ...]`: execute one task of the stage graph in
this process, given only the experiment (with the same overrides) and the runs directory.

This is what a cluster executor submits, one job per task: `harness run --dry-run` lists the task
ids (`base-model`, `build/<dataset>`, `build/<dataset>/shard-<i>-of-<K>`, `train/<training>`,
`eval/<row>`, `analysis`, `report`). The tasks it needs must be finished first (else exit 2, naming
them); a finished task is cached as in `harness run`. Tasks of one experiment run side by side (each
holds its own lock beside a shared one); a `harness run` of the experiment excludes them.
"""

from __future__ import annotations

import argparse
import re

from harness.commands._experiment import add_experiment_arguments, load, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p, overrides=False)
    p.add_argument(
        "task", metavar="TASK", help="a task id, as `harness run --dry-run` lists them (e.g. train/humpback)"
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="the experiment's overrides, as given to harness run",
    )
    p.add_argument(
        "--only", action="append", metavar="DATASET", help="the --only of the run the task belongs to"
    )
    p.add_argument(
        "--num-shards",
        type=positive_int,
        default=None,
        metavar="K",
        help="the build shards of the run's graph (default: build.num_shards)",
    )
    p.add_argument(
        "--results-dir",
        default="results",
        metavar="DIR",
        help="where the report task writes results/<experiment>/",
    )
    p.add_argument("--force", action="store_true", help="rerun the task even when it is cached")


def run(args: argparse.Namespace) -> int:
    from harness.console import make_console
    from harness.core.errors import StageError
    from harness.core.lock import runner_lock
    from harness.stages import graph
    from harness.stages.context import Run

    exp = load(args)
    run_ = Run(exp, args.runs_dir, only=args.only, results_dir=args.results_dir, num_shards=args.num_shards)
    task = graph.find(graph.graph(run_), args.task)
    waiting = graph.unfinished_needs(run_, task)
    if waiting:
        raise StageError(
            f"task {task.id} needs {', '.join(waiting)}, not finished",
            fix=f"run those tasks first (harness task --config {args.config} {waiting[0]} ...)",
        )
    lock = "runner.task-" + re.sub(r"[^A-Za-z0-9_.@-]+", "_", task.id) + ".lock"
    with (
        runner_lock(run_.exp_dir, args.command_line, shared=True),
        runner_lock(run_.exp_dir, args.command_line, name=lock),
    ):
        outcome = task.execute(run_, force=args.force)
    line = graph.module(task.stage).summary(outcome)
    if task.stage == "report":
        make_console().print(f"task report: {line}", soft_wrap=True, highlight=False, markup=False)
        return 0
    state = "cached" if outcome.skipped else "done"
    make_console().print(
        f"task {task.id}: {state} ({line}) in {outcome.directory}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    return 0
