"""The plan of an experiment: its stage graph (`harness.stages.graph`), every stage in dependency
order with its directory, fingerprint and whether a finished manifest with that fingerprint is
already there (a cache hit); and `select`, the datasets `--only` names.

Datasets are built once; each training (a dataset at one N) and each evaluated row (a training's
checkpoint under one eval-tag variant) is a stage of its own (`harness.stages.rows`).

Computing the plan touches no model: fingerprints derive from the config alone. Computing it first
is also what validates an experiment completely (builder options, baseline loaders, judges, paths)
before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.config import did_you_mean
from harness.experiment import Experiment
from harness.stages.graph import Task, graph


def plan(exp: Experiment, runs_dir=None, *, only: Sequence[str] | None = None) -> list[Task]:
    """The stage graph without the report: what `harness status` and the capacity plan read."""
    from harness.stages.context import Run

    return graph(Run(exp, runs_dir, only=only), report=False)


def select(exp: Experiment, only: Sequence[str] | None) -> list[str]:
    """The datasets `--only` names (all when None), with a did-you-mean for unknown names."""
    if not only:
        return list(exp.datasets)
    from harness.core.errors import ConfigError

    for n in only:
        if n not in exp.datasets:
            raise ConfigError(
                f"--only: '{n}' is not a dataset of experiment '{exp.name}'",
                fix=did_you_mean(n, list(exp.datasets), otherwise=f"datasets: {', '.join(exp.datasets)}"),
            )
    return [n for n in exp.datasets if n in only]
