"""The plan of an experiment: every stage in dependency order with its directory, fingerprint and
whether a finished manifest with that fingerprint is already there (a cache hit).

Datasets are built once; each training (a dataset at one N) and each evaluated row (a training's
checkpoint under one eval-tag variant) is a stage of its own (`harness.stages.rows`).

Computing the plan touches no model: fingerprints derive from the config alone. Computing it first
is also what validates an experiment completely (builder options, baseline loaders, judges, paths)
before any work starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from harness.core.config import did_you_mean
from harness.core.runs import is_done
from harness.experiment import Experiment
from harness.stages import paths

STAGES = ("base-model", "build", "train", "eval", "analysis", "report")


@dataclasses.dataclass(frozen=True)
class PlannedStage:
    stage: str
    dataset: str | None
    directory: Path
    fingerprint: str
    cached: bool

    @property
    def label(self) -> str:
        return f"{self.stage}/{self.dataset}" if self.dataset else self.stage


def plan(exp: Experiment, runs_dir=None, *, only: Sequence[str] | None = None) -> list[PlannedStage]:
    from harness.stages import analyze
    from harness.stages.base import base_fingerprint
    from harness.stages.rows import evaluated, trainings

    names = select(exp, only)
    out: list[PlannedStage] = []
    if exp.base_model.startswith("tiny:"):
        d = paths.base_model_dir(exp, runs_dir)
        fp = base_fingerprint(exp)
        out.append(PlannedStage("base-model", None, d, fp, is_done(d, fp)))
    keys = {"build": names, "train": [t.key for t in trainings(exp, names)],
            "eval": [r.eval_key for r in evaluated(exp, names)]}
    for stage, dir_fn, fp_fn in (("build", paths.build_dir, lambda e, n, _: paths.build_fingerprint(e, n)),
                                 ("train", paths.train_dir, paths.train_fingerprint),
                                 ("eval", paths.eval_dir, paths.eval_fingerprint)):
        for n in keys[stage]:
            d, fp = dir_fn(exp, n, runs_dir), fp_fn(exp, n, runs_dir)
            out.append(PlannedStage(stage, n, d, fp, is_done(d, fp)))
    if exp.analysis.enabled:
        d = paths.analysis_dir(exp, runs_dir)
        fp = analyze.analysis_fingerprint(exp, with_outputs=True, runs_dir=runs_dir)
        out.append(PlannedStage("analysis", None, d, fp, is_done(d, fp)))
    return out


def select(exp: Experiment, only: Sequence[str] | None) -> list[str]:
    """The datasets `--only` names (all when None), with a did-you-mean for unknown names."""
    if not only:
        return list(exp.datasets)
    from harness.core.errors import ConfigError

    for n in only:
        if n not in exp.datasets:
            raise ConfigError(f"--only: '{n}' is not a dataset of experiment '{exp.name}'",
                              fix=did_you_mean(n, list(exp.datasets), otherwise=f"datasets: {', '.join(exp.datasets)}"))
    return [n for n in exp.datasets if n in only]
