"""The leaderboard's rows: the one place an experiment is expanded into trainings and evaluations.

A dataset gives one training per N (`datasets.<name>.sizes`, else its `n`, else `train.n`); a
training gives one model per listed checkpoint step (`train.checkpoints`) plus the final model;
a model gives one evaluation per eval-tag variant (`eval.tag_variants`, else `eval.tags`). Each
(dataset, N, checkpoint, eval tags) is a `Row`. With `train.select_checkpoint: best_on_eval`, each
training with more than one model row adds a `selected` row (`<name>@selected`) that the report
fills from the best of them, over checkpoints and eval-tag variants: it has no stage of its own.

Names: `<dataset>`, plus `@<N>` when the dataset has sizes, `@step<k>` for a checkpoint (or
`@selected`), and `[tags=<v>]` when tag variants are configured. Without any of these the rows and
their directories are named by the dataset alone, as before rows existed.

Used by the plan, the train, eval and analysis stages, the report, `paths` (directories) and
`fingerprints`. Pure: reads the experiment only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.core.errors import ConfigError
from harness.experiment import Experiment


@dataclasses.dataclass(frozen=True)
class Training:
    """One fine-tuning run: a dataset at one N, with its assembly."""

    dataset: str
    n: int | None  # the number of dataset records it trains on (None: all of them)
    sized: bool  # the dataset has `sizes`: N is part of the name
    assembly: str
    steps: tuple[int, ...] = ()  # checkpoint steps saved besides the final model

    @property
    def key(self) -> str:
        """The train stage's directory name: `train/<key>/`."""
        return f"{self.dataset}@{self.n}" if self.sized else self.dataset


@dataclasses.dataclass(frozen=True)
class Row:
    """One evaluated model of the leaderboard."""

    training: Training
    step: int | None = None  # a checkpoint step; None: the final model
    eval_tags: str = "none"  # none | seed | web | both
    variant: bool = False  # tag variants are configured: the tags are part of the name
    selected: bool = False  # the checkpoint selected by train.select_checkpoint=best_on_eval (report only)

    @property
    def dataset(self) -> str:
        return self.training.dataset

    @property
    def n(self) -> int | None:
        return self.training.n

    @property
    def model_key(self) -> str:
        step = "@selected" if self.selected else f"@step{self.step}" if self.step is not None else ""
        return self.training.key + step

    @property
    def name(self) -> str:
        """The display name, the leaderboard's `dataset` cell."""
        return self.model_key + (f"[tags={self.eval_tags}]" if self.variant else "")

    @property
    def eval_key(self) -> str:
        """The eval stage's directory name: `eval/<key>/` (the name without brackets)."""
        return self.model_key + (f".tags-{self.eval_tags}" if self.variant else "")


def trainings(exp: Experiment, only: Sequence[str] | None = None) -> list[Training]:
    """Every fine-tuning run of the experiment, in dataset order (`only`: these datasets)."""
    out = []
    for name, ds in exp.datasets.items():
        if only and name not in only:
            continue
        sizes = ds.sizes or (ds.n if ds.n is not None else exp.train.n,)
        out += [
            Training(name, n, bool(ds.sizes), ds.assembly, tuple(sorted(exp.train.checkpoints)))
            for n in sizes
        ]
    return out


def eval_tags_of(exp: Experiment, training: Training) -> tuple[list[str], bool]:
    """The eval-tag variants of a training's models, and whether they are part of the names. A model
    trained without tags (`as_published`, or `train.tags: false`) is prompted without them."""
    variants = list(exp.eval.tag_variants)
    untagged = training.assembly == "as_published" or not exp.train.tags
    if untagged:
        return ["none"], bool(variants)
    return (variants, True) if variants else ([exp.eval.tags], False)


def rows(exp: Experiment, only: Sequence[str] | None = None, *, selected: bool = True) -> list[Row]:
    """Every row of the leaderboard: per training, per checkpoint (final last), per eval variant;
    then the selected rows (when `selected` and the experiment selects on the eval)."""
    out: list[Row] = []
    for t in trainings(exp, only):
        tags, variant = eval_tags_of(exp, t)
        models = [Row(t, step, v, variant) for step in (*t.steps, None) for v in tags]
        out += models
        if selected and exp.train.select_checkpoint == "best_on_eval" and len(models) > 1:
            out.append(Row(t, None, tags[0], False, selected=True))
    return out


def evaluated(exp: Experiment, only: Sequence[str] | None = None) -> list[Row]:
    """The rows that have an eval stage (all but the selected ones)."""
    return rows(exp, only, selected=False)


def primary(exp: Experiment) -> dict[str, Row]:
    """Per dataset, the row that stands for it in the analysis: its first training's final model
    under the first eval variant."""
    out: dict[str, Row] = {}
    for r in evaluated(exp):
        if r.step is None and r.dataset not in out:
            out[r.dataset] = r
    return out


def candidates(exp: Experiment, row: Row) -> list[Row]:
    """The evaluated rows a selected row chooses from: its training's checkpoints and final model,
    under every eval-tag variant (the back-and-forth paper reports the better of two tags)."""
    return [r for r in evaluated(exp, [row.dataset]) if r.training == row.training]


def training(exp: Experiment, key: str) -> Training:
    """The training with this key (a dataset name when the dataset has no sizes)."""
    for t in trainings(exp):
        if t.key == key:
            return t
    raise ConfigError(
        f"'{key}' is not a training of experiment '{exp.name}'",
        fix=f"use one of {', '.join(t.key for t in trainings(exp))}",
    )


def row(exp: Experiment, key: str) -> Row:
    """The evaluated row with this eval key (or display name)."""
    for r in evaluated(exp):
        if key in (r.eval_key, r.name):
            return r
    raise ConfigError(
        f"'{key}' is not a row of experiment '{exp.name}'",
        fix=f"use one of {', '.join(r.name for r in evaluated(exp))}",
    )


def instruction_group(exp: Experiment, dataset: str) -> list[str]:
    """The datasets that train on the same instructions as `dataset` (linked by instructions_from,
    in either direction), itself included, in the experiment's order; [dataset] when unlinked."""
    links = {n: ds.instructions_from for n, ds in exp.datasets.items()}
    group = {dataset}
    changed = True
    while changed:
        changed = False
        for a, b in links.items():
            if b is not None and (a in group) != (b in group):
                group |= {a, b}
                changed = True
    return [n for n in exp.datasets if n in group]
