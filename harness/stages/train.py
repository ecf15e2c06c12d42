"""The train stage: fine-tune the experiment's base model on every built dataset, one recipe for all.

For each training (`harness.stages.rows.trainings`: a dataset at one N): read
`build/<name>/dataset.jsonl`, assemble the training set the same way for every row
(`harness.training.data.assemble`: dedup, tag, screen with the trainer's rule, subsample to N,
mix in the seed set), and run the cached SFT stage (`harness.training.sft.train_stage`) into
`train/<key>/`, saving the models at `train.checkpoints` too. The stage's fingerprint is `fingerprints.train_fingerprint`: the trainer's one rule
(`harness.training.sft.train_fingerprint`) on the experiment's config alone, so
`harness run --dry-run` predicts cache hits.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import StageError
from harness.core.io import read_records
from harness.core.records import InstructionRecord
from harness.core.runs import StageOutcome, changed_output, finished, read_manifest
from harness.experiment import Experiment
from harness.stages import fingerprints, paths
from harness.stages.cards import write_model_card

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task
    from harness.stages.rows import Training
    from harness.training.data import Assembled

log = logging.getLogger(__name__)


def read_dataset(exp: Experiment, name: str, runs_dir=None) -> list[InstructionRecord]:
    """The built dataset's records; a missing build is an error that names the command to run."""
    d = paths.build_dir(exp, name, runs_dir)
    path = d / "dataset.jsonl"
    manifest = read_manifest(d)
    rebuild = f"run `{shlex.join(['harness', 'build', '--config', exp.name, '--only', name])}` first"
    if not path.is_file() or not manifest or not manifest.ok:
        raise StageError(f"dataset '{name}' is not built ({path} missing or unfinished)", fix=rebuild)
    if changed_output(d, manifest) is not None:
        raise StageError(f"dataset '{name}' changed since it was built ({path})", fix=rebuild)
    return read_records(path, fix="rebuild the dataset with --force")


def _metrics(exp: Experiment, key: str, runs_dir=None) -> dict | None:
    """The final model's eval metrics when it was evaluated already (a cached rerun keeps them in its
    card): the first evaluated row of training `key` without a checkpoint step."""
    from harness.core.io import read_json
    from harness.stages.rows import evaluated

    for r in evaluated(exp):
        p = paths.eval_dir(exp, r.eval_key, runs_dir) / "metrics.json"
        if r.training.key == key and r.step is None and p.is_file():
            return read_json(p)
    return None


def run(
    exp: Experiment,
    runs_dir=None,
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    progress: Any = None,
) -> list[StageOutcome]:
    """Train every training of the selected datasets (`rows.trainings`), cached by fingerprint;
    `progress(what, done, total)` hears each training step."""
    from harness.stages.context import Run
    from harness.stages.rows import instruction_group, trainings

    r = Run(exp, runs_dir, only=only)
    todo = trainings(exp, r.names)
    sets = training_sets(r)
    for n in exp.datasets:  # a missing build fails before any training
        if any(n in instruction_group(exp, t.dataset) for t in todo):
            sets.datasets[n]  # noqa: B018 (reads it)
    return [train_one(r, t, force=force, progress=progress) for t in todo]


def training_sets(run: Run) -> TrainingSets:
    """The run's TrainingSets: datasets read once, screened once per assembly."""
    from harness.backends.spec import resolve_base_model

    def make() -> TrainingSets:
        base_path = resolve_base_model(
            run.base_spec
        )  # the manifests name the spec; the trainer gets the path
        return TrainingSets(run.exp, _Datasets(run.exp, run.runs_dir), run.seed, base_path)

    return run.memo("training_sets", make)


def train_one(run: Run, t: Training, *, force: bool = False, progress: Any = None) -> StageOutcome:
    """The train stage of one training: assemble its set, fine-tune (cached), write the model card."""
    from harness.backends.engines import release_idle
    from harness.training.sft import train_stage

    exp, runs_dir = run.exp, run.runs_dir
    fp = run.train_fingerprint(t)
    done = None if force else finished(run.train_dir(t), fp)
    if done is not None:  # cached: no dataset read, no tokenizer loaded (a graph task in its own process)
        write_model_card(exp, t.key, runs_dir, metrics=_metrics(exp, t.key, runs_dir))
        return StageOutcome(run.train_dir(t), fp, True, done)
    sets = training_sets(run)
    assembled = sets.assemble(t)
    log.info(
        "train %s: %d records (%d of %d dataset records after screening, N=%s, %d seed; assembly %s)",
        t.key,
        len(assembled.records),
        assembled.stats["n_trained"],
        assembled.stats["available"],
        t.n,
        assembled.stats["seed_records"],
        t.assembly,
    )
    outcome = train_stage(
        run.train_dir(t),
        base_model=sets.base_path,
        model_name=run.base_spec,
        before_fit=lambda: release_idle(gpu_only=True),
        records=assembled,
        recipe=fingerprints.row_recipe(exp, t.dataset),
        fingerprint=fp,
        upstream={
            "build": run.build_fingerprint(t.dataset),
            "dataset": fingerprints.dataset_hash(exp, t.dataset, runs_dir),
        },
        force=force,
        save_at_steps=t.steps,
        progress=(lambda d, n: progress("steps", d, n)) if progress else None,
    )
    write_model_card(exp, t.key, runs_dir, metrics=_metrics(exp, t.key, runs_dir))
    return outcome


class _Datasets(dict):
    """The built datasets' records, each read when first asked for."""

    def __init__(self, exp: Experiment, runs_dir) -> None:
        super().__init__()
        self.exp, self.runs_dir = exp, runs_dir

    def __missing__(self, name: str) -> list[InstructionRecord]:
        self[name] = records = read_dataset(self.exp, name, self.runs_dir)
        return records


# the stage graph (harness.stages.graph)
def tasks(run: Run) -> list[Task]:
    from harness.core.runs import is_done
    from harness.stages import base
    from harness.stages.graph import Task
    from harness.stages.rows import instruction_group, trainings

    out = []
    for t in trainings(run.exp, run.names):
        d, fp = run.train_dir(t), run.train_fingerprint(t)
        needs = (*base.needs(run), *(f"build/{n}" for n in instruction_group(run.exp, t.dataset)))
        out.append(
            Task(
                "train",
                t.key,
                d,
                fp,
                is_done(d, fp),
                needs=needs,
                writes=("model/", *(f"steps/{k}/" for k in t.steps)),
                item=t,
            )
        )
    return out


def execute(run: Run, task: Task, *, force: bool = False, progress: Any = None) -> StageOutcome:
    return train_one(run, task.item, force=force, progress=progress)


class TrainingSets:
    """Each training's set, screened with the trainer's own rule before subsampling; the datasets
    linked by `instructions_from` subsample from the instructions they all have."""

    def __init__(
        self,
        exp: Experiment,
        datasets: dict[str, list[InstructionRecord]],
        seed: list[InstructionRecord],
        base_path: str,
    ) -> None:
        self.exp, self.datasets, self.seed, self.base_path = exp, datasets, seed, base_path
        self._cands: dict[tuple[str, str], tuple[list[InstructionRecord], dict[str, int]]] = {}
        self._fits: Any = None

    def fits(self, record: InstructionRecord) -> bool:
        if self._fits is None:
            from harness.training.job import screener

            self._fits = screener(self.base_path, self.exp.train.recipe)
        return self._fits(record)

    def candidates(self, dataset: str, assembly: str) -> tuple[list[InstructionRecord], dict[str, int]]:
        from harness.training.data import candidates

        key = (dataset, assembly)
        if key not in self._cands:
            self._cands[key] = candidates(
                self.datasets[dataset], self.exp.train, assembly=assembly, fits=self.fits
            )
        return self._cands[key]

    def assemble(self, t: Training) -> Assembled:
        from harness.stages.rows import instruction_group
        from harness.training.data import finish, instruction

        pool = None
        group = instruction_group(self.exp, t.dataset)
        if len(group) > 1:
            sets = [
                {instruction(r) for r in self.candidates(n, self.exp.datasets[n].assembly)[0]} for n in group
            ]
            pool = set.intersection(*sets)
        return finish(
            self.candidates(t.dataset, t.assembly),
            self.seed,
            self.exp.train,
            assembly=t.assembly,
            n=t.n,
            seed=self.exp.seed,
            pool=pool,
        )


def summary(outcome: StageOutcome) -> str:
    """One line of counts for a finished (or cached) training."""
    s = outcome.manifest.stats
    loss = f", loss {s.final_loss:.3f}" if s.final_loss is not None else ""
    return f"{s.steps or 0} steps, {s.tokens_seen or 0:,} tokens{loss}"
