"""Instruction back-and-forth translation (Nguyen et al. 2024, arXiv 2408.04614).

Algorithm (one round, as in the paper):

1. backward model M_yx: the base model fine-tuned on (response -> instruction) seed pairs
   (a shared sub-stage, the same model Humpback uses);
2. backtranslate: M_yx writes an instruction for each corpus document (T=1.0, top-p 0.9);
3. filter: M0 (the base fine-tuned on the seed) rates each (instruction, document) pair on the
   5-point rubric and pairs scoring 5 are kept;
4. rewrite: an aligned model rewrites each kept document given its instruction - improve it,
   stay close to it, answer as an assistant, add no facts - with the output inside
   `[RES]...[/RES]`; a missing tag drops the pair (the paper) or keeps the whole output.

The paper's ablations are the `variant` option: `filtering` (steps 1-3), `rewriting` (1, 2, 4),
`filtering+rewriting` (all, the default). The paper's rewriter is Llama-2-70B-chat; the default
here is `@seed_model` so the offline demo runs; paper configs set `rewriter` to a chat model spec.
Deviations for tiny models are options: `score_mode: logprobs`, `missing_res: keep_output`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from datasets_builders import common
from harness.core.config import temperature_field, top_p_field
from harness.core.records import InstructionRecord

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS = ("curation_rubric", "curation_logprob_suffix", "rewrite")


@dataclasses.dataclass(frozen=True)
class Options:
    variant: Literal["filtering+rewriting", "filtering", "rewriting"] = "filtering+rewriting"
    backward_model: str = "@backward"
    judge: str = "@seed_model"
    rewriter: str = "@seed_model"
    threshold: float = common.score_threshold(5.0)  # keep score 5
    score_mode: Literal["text", "logprobs"] = "text"
    logprobs_k: int = common.at_least_one(20)
    missing_res: Literal["drop", "keep_output"] = "drop"
    temperature: float = temperature_field(1.0)  # the paper's sampling for data generation
    top_p: float = top_p_field(0.9)
    # curation replies sampled at temperature/top_p (the back-and-forth paper's data generation), else greedy
    score_sampling: bool = common.late_option(False)
    # what the backward model reads (in training and at use): the raw text as the user turn, or the
    # text inside the backtranslation prompt (harness/prompts/backtranslation.txt, the papers' structure)
    backtranslation_input: Literal["raw", "prompt"] = common.late_option("raw")
    # an output cut by the generation cap (finish reason "length"): by_content (the cap is not looked at:
    # a rewrite needs a closed [RES] block unless missing_res keep_output, a distilled answer is kept),
    # drop (dropped as `truncated`, rewrites and answers alike) or keep (kept; a cut rewrite keeps what
    # follows [RES]); either way the step counts its truncated outputs (`truncated_outputs`)
    truncated: Literal["by_content", "drop", "keep"] = common.late_option("by_content")
    instruction_max_tokens: int | None = common.at_least_one(
        None
    )  # None: the experiment's decoding.max_tokens
    score_max_tokens: int | None = common.at_least_one(None)
    rewrite_max_tokens: int | None = common.at_least_one(None)


def validate(o: Options) -> None:
    common.check_scoring(o)


def build(ctx: BuildContext) -> list[InstructionRecord]:
    o: Options = ctx.options
    pairs = common.self_augment(ctx, o, source="back_and_forth")
    if o.variant in ("filtering", "filtering+rewriting"):
        pairs = common.curate_with(ctx, o, pairs, model=o.judge)
    if o.variant in ("rewriting", "filtering+rewriting"):
        pairs = common.rewrite(
            ctx,
            pairs,
            model=o.rewriter,
            missing_res=o.missing_res,
            truncated=o.truncated,
            params=common.sampling(o, ctx.decoding, max_tokens=o.rewrite_max_tokens),
        )
    return [common.with_provenance(p, variant=o.variant) for p in pairs]
