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

Deviations are options: `score_mode: logprobs` for models that do not follow the output format.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from datasets_builders import common
from harness.core.config import temperature_field, top_p_field
from harness.core.records import InstructionRecord, with_system_tag

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS = ("curation_rubric", "curation_logprob_suffix")


@dataclasses.dataclass(frozen=True)
class Options:
    backward_model: str = "@backward"
    judge: str = "@seed_model"  # M0
    iterations: int = common.at_least_one(2)  # curation rounds: M0, then M1 trained on seed + the M0-curated data
    threshold: float = common.score_threshold(4.5)  # A5; 3.5 for A4
    score_mode: Literal["text", "logprobs"] = "text"
    logprobs_k: int = common.at_least_one(20)
    temperature: float = temperature_field(0.7)  # the paper's sampling for data generation
    top_p: float = top_p_field(0.9)
    instruction_max_tokens: int | None = common.at_least_one(None)  # None: the experiment's decoding.max_tokens
    score_max_tokens: int | None = common.at_least_one(None)


def build(ctx: BuildContext) -> list[InstructionRecord]:
    o: Options = ctx.options
    augmented = common.self_augment(ctx, o, source="humpback")
    judge, curated = o.judge, []
    for k in range(max(1, o.iterations)):
        curated = common.curate_with(ctx, o, augmented, model=judge, step=f"curate_m{k}")
        if k + 1 < o.iterations:
            judge = ctx.train(f"humpback_m{k + 1}", self_training_set(ctx, curated))
    return [common.with_provenance(r, iteration=max(1, o.iterations) - 1) for r in curated]


def self_training_set(ctx: BuildContext, curated: list[InstructionRecord]) -> list[InstructionRecord]:
    """Seed + curated data with the paper's two system tags (M_{k+1}'s training set)."""
    return [with_system_tag(r, ctx.seed_tag) for r in ctx.seed_records] + [with_system_tag(r, ctx.web_tag) for r in curated]
