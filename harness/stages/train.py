"""The train stage: fine-tune the experiment's base model on every built dataset, one recipe for all.

For each dataset: read `build/<name>/dataset.jsonl`, assemble the training set the same way for
every dataset (`harness.training.data.assemble`: dedup, subsample to `train.n`, mix in the seed
set, system tags), and run the cached SFT stage (`harness.training.sft.train_stage`) into
`train/<name>/`. The stage's fingerprint is `paths.train_fingerprint`: the trainer's one rule
(`harness.training.sft.train_fingerprint`) on the experiment's config alone, so
`harness run --dry-run` predicts cache hits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from harness.core.errors import StageError
from harness.core.io import iter_jsonl
from harness.core.records import InstructionRecord
from harness.core.runs import StageOutcome, read_manifest
from harness.experiment import Experiment
from harness.stages import paths

log = logging.getLogger(__name__)


def read_dataset(exp: Experiment, name: str, runs_dir=None) -> list[InstructionRecord]:
    """The built dataset's records; a missing build is an error that names the command to run."""
    d = paths.build_dir(exp, name, runs_dir)
    path = d / "dataset.jsonl"
    manifest = read_manifest(d)
    if not path.is_file() or not manifest or not manifest.ok:
        raise StageError(f"dataset '{name}' is not built ({path} missing or unfinished)",
                         fix=f"run `harness build --config {exp.name} --only {name}` first")
    from harness.core.errors import InputError

    records = []
    for line, row in iter_jsonl(path):
        try:
            records.append(InstructionRecord.from_dict(row))
        except (ValueError, KeyError) as e:
            raise InputError(str(e), path=path, line=line, fix="rebuild the dataset with --force") from None
    return records


def seed_records(exp: Experiment) -> list[InstructionRecord]:
    from datasets_builders.seed import load_seed

    return load_seed(exp.seed_data)


def run(exp: Experiment, runs_dir=None, *, only: Sequence[str] | None = None, force: bool = False
        ) -> list[StageOutcome]:
    from harness.stages.base import ensure_base_model
    from harness.stages.plan import select
    from harness.training.data import assemble
    from harness.training.sft import train_stage

    names = select(exp, only)
    datasets = {name: read_dataset(exp, name, runs_dir) for name in names}  # all missing builds fail first
    base = ensure_base_model(exp, runs_dir)
    seed = seed_records(exp)
    outcomes = []
    for name in names:
        spec = exp.datasets[name]
        kind = "baseline" if spec.builder == "baseline" else "web"
        records = assemble(datasets[name], seed, exp.train, kind=kind, seed=exp.seed)
        log.info("train %s: %d records (%d in the dataset, %d seed)", name, len(records), len(datasets[name]), len(seed))
        outcomes.append(train_stage(paths.train_dir(exp, name, runs_dir), base_model=base, records=records,
                                    recipe=paths.row_recipe(exp, name), fingerprint=paths.train_fingerprint(exp, name),
                                    upstream={"build": paths.build_fingerprint(exp, name)}, force=force))
    return outcomes
