"""A sharded build: where each of a dataset's K shards writes (its directory, its own request cache,
its fingerprint), and the merge that joins the finished shards into the dataset's build directory
with the fingerprint an unsharded build has (`harness.stages.build` builds each shard)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import StageError
from harness.core.fingerprint import fingerprint
from harness.core.io import atomic_open, read_records, write_jsonl
from harness.core.records import InstructionRecord, dedup_records, in_id_order
from harness.core.runs import StageOutcome, StageResult, read_manifest, run_stage
from harness.experiment import Experiment
from harness.stages import fingerprints, paths
from harness.stages.base import ensure_base_model, seed_records
from harness.stages.builders import builder_module
from harness.stages.cards import write_dataset_card

SHARD_VERSION = 2  # 2: shards partition the filtered corpus; Humpback iterates in the merge


def shard_dir(exp: Experiment, name: str, runs_dir, shard_index: int, num_shards: int) -> Path:
    return paths.build_dir(exp, name, runs_dir) / "shards" / f"{shard_index:05d}-of-{num_shards:05d}"


def shard_cache(exp: Experiment, name: str, runs_dir, shard_index: int, num_shards: int) -> Path:
    """A shard's own request cache (one writer per file, however the shards are scheduled): beside the
    experiment's, outside the shard's directory so that a rerun of a failed shard resumes from it;
    the merge folds it into the experiment's cache. Where, not what: in no fingerprint."""
    return (
        paths.request_cache(exp, runs_dir).parent
        / "shards"
        / f"{name}-{shard_index:05d}-of-{num_shards:05d}.sqlite"
    )


def shard_fingerprint(exp: Experiment, name: str, shard_index: int, num_shards: int, runs_dir=None) -> str:
    return fingerprint(
        "build-shard",
        version=SHARD_VERSION,
        config={"shard": shard_index, "of": num_shards},
        upstream={"build": fingerprints.build_stage_fingerprint(exp, name, runs_dir)},
    )


def merge_shards(
    exp: Experiment, name: str, runs_dir=None, *, num_shards: int, force: bool = False
) -> StageOutcome:
    """Join the K finished shards of one dataset into its build directory (fingerprint as unsharded)."""
    from harness.stages.build import (  # it builds the shards
        _prompts_used,
        make_context,
    )

    if num_shards < 2:
        raise StageError("--merge needs --num-shards K (the K the shards were built with)")
    shards = [shard_dir(exp, name, runs_dir, i, num_shards) for i in range(num_shards)]
    manifests = [read_manifest(s) for s in shards]
    missing = [
        str(s)
        for i, (s, m) in enumerate(zip(shards, manifests))
        if m is None or not m.ok or m.fingerprint != shard_fingerprint(exp, name, i, num_shards, runs_dir)
    ]
    if missing:
        raise StageError(
            f"{name}: {len(missing)} of {num_shards} shards are not finished: {', '.join(missing[:3])}",
            fix="build them with --num-shards K --shard-index i before --merge",
        )

    from harness.backends.cache import merge_caches

    shard_caches = [shard_cache(exp, name, runs_dir, i, num_shards) for i in range(num_shards)]

    def body(d: Path) -> StageResult:
        merged: list[InstructionRecord] = []
        for s in shards:
            merged += read_records(s / "dataset.jsonl")
        ctx = make_context(
            exp, name, d, runs_dir, base_spec=ensure_base_model(exp, runs_dir), seed=seed_records(exp)
        )
        try:
            with ctx.log.step("merge_dedup") as st:
                merged = dedup_records(merged, st, "duplicate_record")
            finish = getattr(builder_module(exp.datasets[name].builder), "merge", None)
            if finish is not None:  # Humpback: the iterations' models are trained here, once
                merged = finish(ctx, shards, merged)
        finally:
            ctx.close_generators()
            ctx.log.close()
        _join_drops(d, [s / "drops.jsonl" for s in shards])
        merged = in_id_order(merged)
        write_jsonl(d / "dataset.jsonl", merged)
        merge_caches(
            paths.request_cache(exp, runs_dir), shard_caches
        )  # the merge is the file's one writer here
        return StageResult(
            outputs=["dataset.jsonl", "drops.jsonl"],
            stats=_merged_stats(ctx, merged, [m.stats for m in manifests], [s.name for s in shards]),
        )

    outcome = run_stage(
        paths.build_dir(exp, name, runs_dir),
        stage="build",
        body=body,
        force=force,
        fingerprint=fingerprints.build_stage_fingerprint(exp, name, runs_dir),
        config={"merged_shards": num_shards, "prompts": _prompts_used(exp, name)},
        upstream={s.name: m.fingerprint for s, m in zip(shards, manifests)},
    )
    if not outcome.skipped:  # folded into the experiment's cache
        for c in shard_caches:
            c.unlink(missing_ok=True)
    write_dataset_card(exp, name, runs_dir)
    return outcome


def _join_drops(d: Path, shard_drops: Sequence[Path]) -> None:
    """drops.jsonl of a merge: the shards' drops, then the merge's own."""
    own = d / "drops.jsonl.partial"
    with atomic_open(d / "drops.jsonl") as out:
        for part in [*shard_drops, own]:
            if part.is_file():
                with open(part, encoding="utf-8") as f:
                    shutil.copyfileobj(f, out)
    own.unlink(missing_ok=True)


def _merged_stats(
    ctx, merged: Sequence[InstructionRecord], shard_stats: Sequence[Any], shard_names: Sequence[str]
) -> dict[str, Any]:
    """The merge's stats: every step's counts added over the shards, then the merge's own steps."""
    from harness.stages.build import PARSE_FAILURE_KEYS, _stats

    stats = _stats(ctx.log, merged, ctx.trained)
    stats["shards"] = {k: dict(v.steps) for k, v in zip(shard_names, shard_stats)}
    stats["steps"] = {**_sum_steps([dict(v.steps) for v in shard_stats]), **stats["steps"]}
    stats["completion_tokens"] += sum(v.completion_tokens for v in shard_stats)
    stats["prompt_tokens"] += sum(v.prompt_tokens for v in shard_stats)
    stats["parse_failures"] = {
        k: stats["parse_failures"].get(k, 0) + sum(v.parse_failures.get(k, 0) for v in shard_stats)
        for k in PARSE_FAILURE_KEYS
    }
    stats["summary"] = [
        f"{k} (all shards): seen {v['seen']}, kept {v['kept']}, dropped {sum(v['dropped'].values())}"
        for k, v in stats["steps"].items()
    ]
    return stats


def _sum_steps(step_dicts: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-step counts added over shards (drop reasons added reason by reason)."""
    total: dict[str, dict[str, Any]] = {}
    for steps in step_dicts:
        for name, s in steps.items():
            t = total.setdefault(
                name,
                {
                    "seen": 0,
                    "kept": 0,
                    "dropped": {},
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "wall_s": 0.0,
                },
            )
            for k in ("seen", "kept", "prompt_tokens", "completion_tokens", "wall_s"):
                t[k] += s.get(k, 0)
            for reason, n in s.get("dropped", {}).items():
                t["dropped"][reason] = t["dropped"].get(reason, 0) + n
    return total
