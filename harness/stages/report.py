"""The report stage: the leaderboard of an experiment, gathered from what the other stages wrote.

`harness report --config` and the last step of `harness run` both call `run`, which collects the
rows (`harness.report.leaderboard.collect`) and writes `results/<experiment>/leaderboard.{md,csv,
json}` and `index.html`. It reads manifests and outputs only, so it is cheap and is never cached.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import StageError
from harness.experiment import Experiment
from harness.stages import paths

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task


@dataclasses.dataclass(frozen=True)
class Report:
    board: dict[str, Any] | None
    written: list[Path]
    not_written: str | None = None  # why the leaderboard was left as it is (a --only run's missing rows)


def run(
    exp: Experiment, runs_dir=None, *, results_dir: str | Path = "results", force: bool = False
) -> Report:
    """Collect and write the leaderboard. Refused (nothing written) when a dataset has no evaluation,
    or when the stored leaderboard has rows or figures the new one lacks, unless `force`."""
    from harness.core.io import read_json
    from harness.report import leaderboard

    board = leaderboard.collect(exp, runs_dir)
    out = paths.results_dir(exp, results_dir)
    if board["missing_eval"] and not force:
        raise StageError(
            f"no evaluation for {', '.join(board['missing_eval'])} under "
            f"{paths.exp_dir(exp, runs_dir)}; the report would have empty rows",
            fix=f"run `{shlex.join(['harness', 'run', '--config', exp.name])}` (or point --runs-dir at the runs), "
            "or pass --force to write a partial leaderboard",
        )
    stored = out / "leaderboard.json"
    if stored.is_file() and not force:
        lost = lost_figures(read_json(stored), board)
        if lost:
            raise StageError(
                f"{stored} has figures the new leaderboard lacks ({'; '.join(lost[:3])}"
                f"{'; ...' if len(lost) > 3 else ''}); not replaced",
                fix="check --runs-dir, or pass --force to replace it",
            )
    written = leaderboard.write(board, out, exp=exp, runs_dir=runs_dir)
    return Report(board, written)


def lost_figures(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a stored leaderboard shows that a new one would not: rows, or cells that became empty."""
    new_rows = {r["dataset"]: r for r in new.get("rows", [])}
    lost = []
    for row in old.get("rows", []):
        name = row.get("dataset")
        if name not in new_rows:
            lost.append(f"row {name}")
            continue
        emptied = [k for k, v in row.items() if v is not None and new_rows[name].get(k) is None]
        if emptied:
            lost.append(f"{name}: {', '.join(sorted(emptied))}")
    return lost


write_report = run  # the name the graph's execute calls (its own `run` argument is the Run)


# the stage graph (harness.stages.graph)
def tasks(run: Run) -> list[Task]:
    """The report, after every eval and the analysis; never cached (it reads manifests only)."""
    from harness.stages.graph import Task
    from harness.stages.rows import evaluated

    needs = tuple(f"eval/{r.eval_key}" for r in evaluated(run.exp, run.names))
    from harness.stages import analyze

    needs += ("analysis",) if analyze.included(run) else ()
    return [
        Task(
            "report",
            None,
            paths.results_dir(run.exp, run.results_dir),
            "",
            False,
            needs=needs,
            writes=("leaderboard.md", "leaderboard.csv", "leaderboard.json", "index.html"),
        )
    ]


def execute(run: Run, task: Task, *, force: bool = False, progress: Any = None) -> Report:
    """The leaderboard; a run limited by --only whose other datasets were never evaluated leaves the
    stored leaderboard as it is (and says why)."""
    from harness.report.leaderboard import missing_evals

    missing = missing_evals(run.exp, run.runs_dir)
    if run.only and missing:
        return Report(
            None,
            [],
            not_written=f"not written: {', '.join(missing)} not evaluated yet (run without "
            "--only, or harness report --force for a partial leaderboard)",
        )
    return write_report(run.exp, run.runs_dir, results_dir=run.results_dir, force=force)


def summary(outcome: Report) -> str:
    if outcome.board is None:
        return outcome.not_written or "not written"
    return f"wrote {outcome.written[0].parent}/ (md, csv, json, html)"
