"""A `Run`: one experiment and the runs root it writes under, made once where a command loads the
experiment and handed to every stage task (`harness.stages.graph`).

It owns what every task asks for more than once: the selected datasets, the base model's spec (the
tiny base model made first when the experiment asks for one), the seed set, the config-derived build
fingerprints, and the directories of typed trainings and rows (`harness.stages.rows.Training`,
`Row`). Fingerprints that read an upstream stage's recorded outputs (train, eval) are not memoised:
they change when the upstream stage reruns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.experiment import Experiment
from harness.stages import fingerprints, paths

if TYPE_CHECKING:
    from harness.stages.rows import Row, Training


class Run:
    def __init__(
        self,
        exp: Experiment,
        runs_dir: str | os.PathLike[str] | None = None,
        *,
        only: Sequence[str] | None = None,
        results_dir: str | os.PathLike[str] = "results",
        num_shards: int | None = None,
    ) -> None:
        from harness.stages.plan import select

        self.exp, self.runs_dir, self.results_dir = exp, runs_dir, results_dir
        self.names = select(exp, only)  # an unknown --only name fails here, before anything
        self.only = list(only) if only else None
        self.num_shards = num_shards or exp.build.num_shards  # --num-shards, else build.num_shards
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """`make()` once per run for `key`."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def forget(self, key: Any) -> None:
        self._memo.pop(key, None)

    # what tasks share
    @property
    def base_spec(self) -> str:
        """The base model's backend spec; the tiny base model is made (or found) first."""
        from harness.stages.base import ensure_base_model

        return self.memo("base_spec", lambda: ensure_base_model(self.exp, self.runs_dir))

    @property
    def seed(self) -> list:
        from harness.stages.base import seed_records

        return self.memo("seed", lambda: seed_records(self.exp))

    def build_fingerprint(self, name: str) -> str:
        return self.memo(("build_fp", name), lambda: fingerprints.build_fingerprint(self.exp, name))

    # where things are
    @property
    def exp_dir(self) -> Path:
        return paths.exp_dir(self.exp, self.runs_dir)

    def build_dir(self, name: str) -> Path:
        return paths.build_dir(self.exp, name, self.runs_dir)

    def train_dir(self, training: Training) -> Path:
        return paths.train_dir(self.exp, training.key, self.runs_dir)

    def eval_dir(self, row: Row) -> Path:
        return paths.eval_dir(self.exp, row.eval_key, self.runs_dir)

    def model_dir(self, row: Row) -> Path:
        return paths.row_model_dir(self.exp, row, self.runs_dir)

    # fingerprints as the plan predicts them (train and eval read the upstream outputs recorded now)
    def train_fingerprint(self, training: Training) -> str:
        return fingerprints.train_fingerprint(self.exp, training.key, self.runs_dir)

    def eval_fingerprint(self, row: Row) -> str:
        return fingerprints.eval_fingerprint(self.exp, row.eval_key, self.runs_dir)
