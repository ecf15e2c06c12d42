"""The report stage: the leaderboard of an experiment, gathered from what the other stages wrote.

`harness report --config` and the last step of `harness run` both call `run`, which collects the
rows (`harness.report.leaderboard.collect`) and writes `results/<experiment>/leaderboard.{md,csv,
json}` and `index.html`. It reads manifests and outputs only, so it is cheap and is never cached.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.experiment import Experiment
from harness.stages import paths


@dataclasses.dataclass(frozen=True)
class Report:
    board: dict[str, Any]
    written: list[Path]


def run(exp: Experiment, runs_dir=None, *, results_dir: str | Path = "results") -> Report:
    from harness.report import leaderboard

    board = leaderboard.collect(exp, runs_dir)
    written = leaderboard.write(board, paths.results_dir(exp, results_dir), exp=exp, runs_dir=runs_dir)
    return Report(board, written)
