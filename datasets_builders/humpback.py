"""Humpback: instruction backtranslation with self-curation (Li et al. 2023, arXiv 2308.06259).

Algorithm:

1. backward model M_yx: the base model fine-tuned on (response -> instruction) seed pairs;
2. self-augmentation: M_yx writes an instruction for each corpus document (T=0.7, top-p 0.9);
   the document is the response;
3. self-curation: M0 (the base fine-tuned on the seed) rates each pair on the 5-point rubric
   ("Score: N"); unparseable ratings are dropped and counted; pairs scoring >= `threshold` are
   kept (A5 = 4.5 by default; 3.5 gives A4);
4. iterate (`iterations`, 2 in the paper): M_{k+1} is the base trained on the seed (tagged "Answer
   in the style of an AI Assistant.") plus the curated pairs (tagged "Answer with knowledge from
   web search."), and it re-rates the augmented pairs. The dataset is the last curated set.
   `iterations: 0` skips curation: every backtranslated pair is kept (the paper's no-curation
   point of its quality-vs-quantity comparison); no M0 is trained or asked.

Sharded (`--num-shards K`): each shard backtranslates and M0-curates its documents; the merge
joins the shards and runs the later iterations once (train M1 on seed + all curated pairs, re-rate
every pair), so a K-shard build ends with the unsharded build's records.

Deviations are options: `score_mode: logprobs` for models that do not follow the output format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from datasets_builders import common
from harness.core.config import bounded, temperature_field, top_p_field
from harness.core.io import read_records, write_jsonl
from harness.core.records import InstructionRecord, dedup_records, in_id_order, with_system_tag

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 2  # 2: pairs in id order (a sharded build trains the same M1); shards generate, the merge trains
PROMPTS = ("curation_rubric", "curation_logprob_suffix")


@dataclasses.dataclass(frozen=True)
class Options:
    backward_model: str = "@backward"
    judge: str = "@seed_model"  # M0
    # curation rounds: M0, then M1 trained on seed + the M0-curated data; 0: no curation
    iterations: int = bounded(2, low=0)
    threshold: float = common.score_threshold(4.5)  # A5; 3.5 for A4
    score_mode: Literal["text", "logprobs"] = "text"
    logprobs_k: int = common.at_least_one(20)
    temperature: float = temperature_field(0.7)  # the paper's sampling for data generation
    top_p: float = top_p_field(0.9)
    # curation replies sampled at temperature/top_p (the back-and-forth paper's data generation), else greedy
    score_sampling: bool = common.late_option(False)
    # what the backward model reads (in training and at use): the raw text as the user turn, or the
    # text inside the backtranslation prompt (harness/prompts/backtranslation.txt, the papers' structure)
    backtranslation_input: Literal["raw", "prompt"] = common.late_option("raw")
    instruction_max_tokens: int | None = common.at_least_one(
        None
    )  # None: the experiment's decoding.max_tokens
    score_max_tokens: int | None = common.at_least_one(None)


AUGMENTED = "augmented.jsonl"  # a shard's backtranslated pairs, which the merge re-rates with M1, M2, ...


def validate(o: Options) -> None:
    common.check_scoring(o)


def build(ctx: BuildContext) -> list[InstructionRecord]:
    """Unsharded: the whole algorithm. In a shard (`--num-shards K`): generation only (steps 2-3 on
    the shard's documents); `merge` then trains each iteration's model once, on the merged set."""
    o: Options = ctx.options
    augmented = in_id_order(common.self_augment(ctx, o, source="humpback"))
    if o.iterations == 0:  # no curation: the augmented pairs are the dataset (a shard's too)
        return [common.with_provenance(r, curation="none") for r in augmented]
    curated = common.curate_with(ctx, o, augmented, model=o.judge, step="curate_m0")
    if ctx.num_shards > 1:
        write_jsonl(ctx.workdir / AUGMENTED, augmented)
        return curated
    return iterate(ctx, augmented, curated)


def merge(
    ctx: BuildContext, shard_dirs: Sequence[Path], records: list[InstructionRecord]
) -> list[InstructionRecord]:
    """The K shards' M0-curated `records` and augmented pairs joined, then the remaining iterations
    exactly as an unsharded build runs them (the same training set, so the same M1)."""
    if ctx.options.iterations == 0:  # no curation: the shards' pairs are the dataset
        return in_id_order(records)
    augmented = []
    for d in shard_dirs:
        augmented += read_records(Path(d) / AUGMENTED)
    return iterate(ctx, in_id_order(dedup_records(augmented)), in_id_order(records))


def iterate(
    ctx: BuildContext, augmented: list[InstructionRecord], curated: list[InstructionRecord]
) -> list[InstructionRecord]:
    """Iterations 1..: M_k = the base trained on seed + the last curated set; M_k re-rates every pair."""
    o: Options = ctx.options
    # M_k is trained from M0's base: the experiment's, or the one `judge: @seed_model:<spec>` names
    base = o.judge.partition(":")[2] if o.judge.startswith("@seed_model:") else "@base"
    for k in range(1, o.iterations):
        judge = ctx.train(f"humpback_m{k}", self_training_set(ctx, curated), base=base)
        curated = common.curate_with(ctx, o, augmented, model=judge, step=f"curate_m{k}")
    return [common.with_provenance(r, iteration=o.iterations - 1) for r in curated]


def self_training_set(ctx: BuildContext, curated: list[InstructionRecord]) -> list[InstructionRecord]:
    """Seed + curated data with the paper's two system tags (M_{k+1}'s training set)."""
    return [with_system_tag(r, ctx.seed_tag) for r in ctx.seed_records] + [
        with_system_tag(r, ctx.web_tag) for r in curated
    ]
