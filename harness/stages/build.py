"""The build stage: build or load every dataset an experiment lists.

For each dataset: validate its builder options, construct a `BuildContext` (seed set, corpus,
model references through the request cache, the shared trainer for sub-stage models), run the
builder, and write `build/<name>/dataset.jsonl`, `drops.jsonl` (every dropped item with its step
and reason) and `manifest.json` (fingerprint `fingerprints.build_fingerprint`, per-step counts, tokens,
wall time, parse failures, the sub-stage models used).

Sharding: with `num_shards > 1` each shard writes `build/<name>/shards/<i>-of-<K>/` from the
documents whose id falls in its shard (run them on separate machines or SLURM array tasks with a
shared runs directory); `merge=True` joins finished shards into `build/<name>/` with the same
fingerprint an unsharded build has, deduplicating records by id. Sharding splits generation, never
the algorithm: every shard filters and deduplicates the whole corpus stream and keeps its share
of the documents (so the shards partition the unsharded build's documents, `max_documents`
included), and a builder with a `merge(ctx, shard_dirs, records)` hook (Humpback) finishes in the
merge what needs every shard's output: its iteration models are trained once, on the merged set.
Records are written in id order, so a K-shard dataset.jsonl equals the unsharded one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import StageError
from harness.core.io import write_jsonl
from harness.core.records import InstructionRecord, dedup_records, in_id_order
from harness.core.runs import StageOutcome, StageResult, read_manifest, run_stage
from harness.experiment import Experiment
from harness.stages import fingerprints, paths
from harness.stages.base import base_identity, ensure_base_model, seed_records
from harness.stages.builders import builder_module, parse_options
from harness.stages.cards import write_dataset_card
from harness.stages.shards import merge_shards, shard_cache, shard_dir, shard_fingerprint

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task

log = logging.getLogger(__name__)
PARSE_FAILURE_KEYS = ("text_parse_failures", "logprob_failures", "missing_res", "unclosed_res")


def run(
    exp: Experiment,
    runs_dir=None,
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    num_shards: int = 1,
    shard_index: int = 0,
    merge: bool = False,
) -> list[StageOutcome]:
    """Build the selected datasets (all by default); returns one StageOutcome per dataset."""
    from harness.stages.plan import select

    names = with_inputs(exp, select(exp, only))
    for name in names:  # every options error before any work
        fingerprints.build_fingerprint(exp, name)
    if merge:
        return [merge_shards(exp, name, runs_dir, num_shards=num_shards, force=force) for name in names]
    base_spec = ensure_base_model(exp, runs_dir)
    seed = seed_records(exp)
    return [
        build_one(
            exp,
            name,
            runs_dir,
            base_spec=base_spec,
            seed=seed,
            force=force,
            num_shards=num_shards,
            shard_index=shard_index,
        )
        for name in names
    ]


def with_inputs(exp: Experiment, names: Sequence[str]) -> list[str]:
    """`names` and the datasets they read, each after what it reads (experiment order otherwise)."""
    out: list[str] = []

    def add(n: str) -> None:
        if n not in out:
            for dep in fingerprints.dataset_inputs(exp, n):
                add(dep)
            out.append(n)

    for n in [n for n in exp.datasets if n in names]:
        add(n)
    return out


def _inputs(exp: Experiment, name: str, runs_dir) -> dict[str, Path]:
    """The built files of the datasets `name` reads; each must be finished with its current fingerprint."""
    out = {}
    for dep in fingerprints.dataset_inputs(exp, name):
        d = paths.build_dir(exp, dep, runs_dir)
        m = read_manifest(d)
        if m is None or not m.ok or m.fingerprint != fingerprints.build_stage_fingerprint(exp, dep, runs_dir):
            raise StageError(
                f"{name} reads dataset {dep}, which is not built (or is out of date) in {d}",
                fix=f"build {dep} first (with --num-shards: build and --merge it first)",
            )
        out[dep] = d / "dataset.jsonl"
    return out


def make_context(
    exp: Experiment,
    name: str,
    workdir: Path,
    runs_dir,
    *,
    base_spec: str,
    seed: Sequence[InstructionRecord],
    num_shards: int = 1,
    shard_index: int = 0,
):
    """The BuildContext of one dataset: everything a builder may use, resolved from the experiment."""
    from datasets_builders.context import BuildContext
    from harness.experiment import helper_recipe
    from harness.training.recipe import semantic_dict

    cache = paths.request_cache(exp, runs_dir)
    own = shard_cache(exp, name, runs_dir, shard_index, num_shards) if num_shards > 1 else cache
    return BuildContext.from_experiment(
        exp,
        name,
        options=parse_options(
            exp.datasets[name].builder, exp.datasets[name].options, prefix=f"datasets.{name}.options."
        ),
        workdir=workdir,
        base_spec=base_spec,
        base_identity=base_identity(exp),
        seed_records=seed,
        cache_path=own,
        cache_fallback=cache if own != cache else None,
        shared_dir=paths.shared_dir(exp, runs_dir),
        train_fn=_trainer(exp),
        recipe_identity=semantic_dict(helper_recipe(exp)),
        num_shards=num_shards,
        shard_index=shard_index,
        inputs=_inputs(exp, name, runs_dir),
        count_tokens=_token_counter(exp, base_spec) if exp.corpus.max_tokens else None,
    )


def _trainer(exp: Experiment):
    """The shared SFT sub-stage with the helpers' recipe (the experiment's, with `helpers:`'s length;
    builders never import the trainer)."""
    from harness.experiment import helper_recipe

    recipe = helper_recipe(exp)

    def train_fn(directory: Path, *, base_model: str, records, upstream: dict[str, str]) -> StageOutcome:
        from harness.backends.engines import release_idle
        from harness.training.sft import train_fingerprint, train_stage

        # the sub-stage key in `upstream` already names the base model and the records;
        # `base_model` is the weights' path (the build context resolves the spec)
        fp = train_fingerprint(recipe, upstream=upstream)
        return train_stage(
            directory,
            base_model=base_model,
            records=records,
            recipe=recipe,
            fingerprint=fp,
            upstream=upstream,
            before_fit=lambda: release_idle(gpu_only=True),
        )

    return train_fn


def _token_counter(exp: Experiment, base_spec: str):
    from transformers import AutoTokenizer

    from harness.backends.spec import parse_spec

    tok = AutoTokenizer.from_pretrained(parse_spec(base_spec).model)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def build_one(
    exp: Experiment,
    name: str,
    runs_dir=None,
    *,
    base_spec: str,
    seed: Sequence[InstructionRecord],
    force: bool = False,
    num_shards: int = 1,
    shard_index: int = 0,
) -> StageOutcome:
    spec = exp.datasets[name]
    fp = fingerprints.build_stage_fingerprint(exp, name, runs_dir)
    directory = paths.build_dir(exp, name, runs_dir)
    if num_shards > 1:
        directory = shard_dir(exp, name, runs_dir, shard_index, num_shards)
        fp = shard_fingerprint(exp, name, shard_index, num_shards, runs_dir)

    def body(d: Path) -> StageResult:
        from harness.backends.engines import POOL, stats_delta

        engines0 = POOL.stats()
        ctx = make_context(
            exp,
            name,
            d,
            runs_dir,
            base_spec=base_spec,
            seed=seed,
            num_shards=num_shards,
            shard_index=shard_index,
        )

        try:
            records = builder_module(spec.builder).build(ctx)
            with ctx.log.step("final_dedup") as s:
                records = dedup_records(records, s, "duplicate_record")
        finally:
            ctx.close_generators()
            ctx.log.close()
        _finish_drops(d)
        records = in_id_order(records)
        write_jsonl(d / "dataset.jsonl", records)
        if not records:
            log.warning("%s: the dataset is empty; see %s", name, d / "drops.jsonl")
        # engine starts (and their seconds) this dataset caused; a model already loaded by an earlier step counts 0
        stats = {**_stats(ctx.log, records, ctx.trained), **stats_delta(engines0, POOL.stats())}
        return StageResult(outputs=["dataset.jsonl", "drops.jsonl"], stats=stats)

    config = {
        "builder": spec.builder,
        "options": dict(spec.options),
        "shard": [shard_index, num_shards],
        "prompts": _prompts_used(exp, name),
    }
    outcome = run_stage(directory, stage="build", fingerprint=fp, body=body, config=config, force=force)
    if num_shards == 1:
        write_dataset_card(exp, name, runs_dir)
    return outcome


def _prompts_used(exp: Experiment, name: str) -> dict[str, dict[str, str]]:
    """The manifest's record of the templates this dataset's builder used: file and hash of each."""
    from datasets_builders.common import prompts_used
    from datasets_builders.prompts import prompt_record

    spec = exp.datasets[name]
    return prompt_record(
        prompts_used(
            getattr(builder_module(spec.builder), "PROMPTS", ()), parse_options(spec.builder, spec.options)
        ),
        exp.prompts,
    )


def _finish_drops(d: Path) -> None:
    partial = d / "drops.jsonl.partial"
    if partial.is_file():
        os.replace(partial, d / "drops.jsonl")
    else:
        write_jsonl(d / "drops.jsonl", [])


def _stats(steplog, records: Sequence[InstructionRecord], trained: dict[str, Any]) -> dict[str, Any]:
    steps = steplog.to_dict()
    return {
        "records": len(records),
        "steps": steps,
        "summary": steplog.summaries(),
        "parse_failures": {k: sum(s.get(k, 0) for s in steps.values()) for k in PARSE_FAILURE_KEYS},
        "completion_tokens": sum(s["completion_tokens"] for s in steps.values()),
        "prompt_tokens": sum(s["prompt_tokens"] for s in steps.values()),
        "substages": trained,
        **({"sources": steplog.sources} if getattr(steplog, "sources", None) else {}),
    }


def summary_lines(name: str, outcome: StageOutcome) -> list[str]:
    """What the CLI prints for one dataset: a header and one line per step."""
    stats = outcome.manifest.stats
    state = "cached" if outcome.skipped else "built"
    pf_text = ", ".join(f"{k}={v}" for k, v in stats.parse_failures.items() if v) or "none"
    head = (
        f"build {name}: {state}; {stats.records} records, {stats.completion_tokens} tokens generated, "
        f"parse failures: {pf_text} -> {outcome.directory / 'dataset.jsonl'}"
    )
    return [head, *(f"  {line}" for line in stats.summary)]


# the stage graph (harness.stages.graph)
def tasks(run: Run) -> list[Task]:
    """One build task per dataset (and the datasets it reads), each after the builds it reads; with
    `run.num_shards` K > 1, K shard tasks and a merge task (the dataset's own) that needs them."""
    from harness.core.runs import is_done
    from harness.stages import base
    from harness.stages.graph import Task
    from harness.stages.rows import instruction_group

    out, k = [], run.num_shards
    grouped = {
        g for n in run.names for g in instruction_group(run.exp, n)
    }  # a training reads its group's builds
    for name in with_inputs(run.exp, sorted(grouped)):
        run.build_fingerprint(name)  # a builder's options error here, before any work
        fp, d = fingerprints.build_stage_fingerprint(run.exp, name, run.runs_dir), run.build_dir(name)
        needs = (*base.needs(run), *(f"build/{dep}" for dep in fingerprints.dataset_inputs(run.exp, name)))
        writes = ("dataset.jsonl", "drops.jsonl")
        if k > 1:
            shards = []
            for i in range(k):
                sd, sfp = (
                    shard_dir(run.exp, name, run.runs_dir, i, k),
                    shard_fingerprint(run.exp, name, i, k, run.runs_dir),
                )
                shards.append(
                    Task(
                        "build",
                        name,
                        sd,
                        sfp,
                        is_done(sd, sfp),
                        needs=needs,
                        writes=writes,
                        part=shard_part(i, k),
                        item=(i, k),
                    )
                )
            out += shards
            needs = tuple(s.id for s in shards)
        out.append(
            Task(
                "build",
                name,
                d,
                fp,
                is_done(d, fp),
                needs=needs,
                writes=writes,
                item=("merge", k) if k > 1 else None,
            )
        )
    return out


def shard_part(index: int, count: int) -> str:
    return f"shard-{index}-of-{count}"


def execute(run: Run, task: Task, *, force: bool = False, progress=None) -> StageOutcome:
    name = task.dataset
    if isinstance(task.item, tuple) and task.item[0] == "merge":
        return merge_shards(run.exp, name, run.runs_dir, num_shards=task.item[1], force=force)
    index, count = task.item or (0, 1)
    return build_one(
        run.exp,
        name,
        run.runs_dir,
        base_spec=run.base_spec,
        seed=run.seed,
        force=force,
        num_shards=count,
        shard_index=index,
    )


def summary(outcome: StageOutcome) -> str:
    """One line of counts for a finished (or cached) build."""
    s = outcome.manifest.stats
    dropped = sum(sum((step.get("dropped") or {}).values()) for step in s.steps.values())
    return f"{s.records:,} records, {s.completion_tokens:,} tokens generated, {dropped:,} dropped"
