"""Instruction quality with a fixed responder (the back-and-forth paper's Figure 2, arXiv 2408.04614).

To compare the instructions of several datasets apart from their responses, keep each dataset's
instructions and have one fixed model answer every one of them; the rows that differ only in where
their instructions came from are then trained and evaluated like any other.

`instructions_from` names another dataset of the same experiment (built first; its build
fingerprint enters this one's); each distinct first user turn becomes one single-turn record,
answered by `responder` (the paper: Llama-2-70B-chat) with the back-and-forth paper's data-generation
sampling. In a shard (`--num-shards K`) each shard answers the instructions whose id falls in it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from datasets_builders import common
from harness.core.config import temperature_field, top_p_field
from harness.core.records import InstructionRecord, Message, content_id

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Options:
    instructions_from: str = ""  # a dataset of this experiment
    responder: str = "@seed_model"  # the paper: Llama-2-70B-chat
    temperature: float = temperature_field(1.0)
    top_p: float = top_p_field(0.9)
    answer_max_tokens: int | None = common.at_least_one(None)  # None: the experiment's decoding.max_tokens


def validate(o: Options) -> None:
    from harness.core.errors import ConfigError

    if not o.instructions_from:
        raise ConfigError(
            "'instructions_from' is not set", fix="name the dataset whose instructions are answered"
        )


def depends_on(o: Options) -> list[str]:
    """The datasets this builder reads (the stage builds them first and hands over their files)."""
    return [o.instructions_from]


def build(ctx: BuildContext) -> list[InstructionRecord]:
    o: Options = ctx.options
    pool = instruction_pool(
        ctx, ctx.input_records(o.instructions_from), source=f"fixed_responder:{o.instructions_from}"
    )
    return common.answer(
        ctx, pool, model=o.responder, params=common.sampling(o, ctx.decoding, max_tokens=o.answer_max_tokens)
    )


def instruction_pool(
    ctx: BuildContext, records: list[InstructionRecord], *, source: str
) -> list[InstructionRecord]:
    """One unanswered record per distinct instruction (this shard's share), a counted step."""
    seen: set[str] = set()
    out = []
    with ctx.log.step("instructions") as s:
        for r in records:
            text = r.instruction.strip()
            key = content_id("instruction", text)
            if not text:
                s.drop("no_instruction", r.id)
            elif key in seen:
                s.drop("duplicate_instruction", r.id)
            elif ctx.num_shards > 1 and int(key[:8], 16) % ctx.num_shards != ctx.shard_index:
                s.drop("other_shards", r.id, write=False)
            else:
                seen.add(key)
                s.keep()
                out.append(
                    InstructionRecord(
                        (Message("user", text), Message("assistant", "")),
                        source,
                        {
                            "origin": "fixed_responder",
                            "instruction": text,
                            "instruction_record": r.id,
                            "instruction_source": r.source,
                        },
                    )
                )
    return out
