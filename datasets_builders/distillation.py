"""Distillation: an aligned model answers the instructions directly (the back-and-forth paper's control).

Nguyen et al. 2024 (arXiv 2408.04614) compare rewritten web responses with responses an aligned
model writes from scratch for the same instructions. With `instructions_from: corpus` (default)
the instructions are made exactly as back_and_forth makes them - backtranslate the corpus with
the backward model, then (when `filter`) keep pairs the judge scores >= threshold - with the same
sampling settings and per-request seeds, so the request cache serves them and the two datasets
share their instructions. With a path (JSONL of `{"instruction"}` or `{"messages"}` rows) any
instruction pool is answered.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from datasets_builders import common
from harness.core.config import temperature_field, top_p_field
from harness.core.errors import ConfigError
from harness.core.records import InstructionRecord, Message

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS = ("curation_rubric", "curation_logprob_suffix")


@dataclasses.dataclass(frozen=True)
class Options:
    teacher: str = "@seed_model"  # the paper: Llama-2-70B-chat
    instructions_from: str = "corpus"  # or a JSONL path of instructions
    backward_model: str = "@backward"
    judge: str = "@seed_model"
    filter: bool = True
    threshold: float = common.score_threshold(5.0)
    score_mode: Literal["text", "logprobs"] = "text"
    logprobs_k: int = common.at_least_one(20)
    temperature: float = temperature_field(1.0)  # must match back_and_forth's to share its instructions
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
    instruction_max_tokens: int | None = common.at_least_one(None)
    score_max_tokens: int | None = common.at_least_one(None)
    answer_max_tokens: int | None = common.at_least_one(None)


def validate(o: Options) -> None:
    common.check_scoring(o)


def build(ctx: BuildContext) -> list[InstructionRecord]:
    o: Options = ctx.options
    if o.instructions_from == "corpus":
        pool = common.self_augment(ctx, o, source="distillation")
        if o.filter:
            pool = common.curate_with(ctx, o, pool, model=o.judge)
    else:
        pool = read_instructions(ctx, Path(o.instructions_from))
    return common.answer(
        ctx,
        pool,
        model=o.teacher,
        truncated=o.truncated,
        params=common.sampling(o, ctx.decoding, max_tokens=o.answer_max_tokens),
    )


def read_instructions(ctx: BuildContext, path: Path) -> list[InstructionRecord]:
    """An instruction pool from a file; rows without a usable instruction are dropped and counted."""
    from harness.core.io import iter_jsonl

    if not path.is_file():
        raise ConfigError(
            f"datasets.{ctx.name}.options.instructions_from: file not found: {path}",
            fix="use 'corpus' or a JSONL file of {\"instruction\": ...} rows",
        )
    out = []
    with ctx.log.step("instructions") as s:
        for lineno, row in iter_jsonl(path):
            text = row.get("instruction")
            if text is None and isinstance(row.get("messages"), list):
                text = next(
                    (
                        m.get("content")
                        for m in row["messages"]
                        if isinstance(m, dict) and m.get("role") == "user"
                    ),
                    None,
                )
            if not isinstance(text, str) or not text.strip():
                s.drop("no_instruction", f"{path.name}:{lineno}")
                continue
            s.keep()
            out.append(
                InstructionRecord(
                    (Message("user", text.strip()), Message("assistant", "")),
                    "distillation",
                    {"origin": "web", "instruction": text.strip(), "pool": str(path), "pool_line": lineno},
                )
            )
    return out
