"""Datasets of known quality for the positive control (`harness run --config control`).

Pairs of a known-answer task (`harness.core.tasks`), drawn from the task's `train` split (never
an eval, seed or corpus input), at a chosen quality:

- `clean`: every response is the correct answer;
- `noisy`: each response is, with probability `rate`, replaced by random vocabulary words;
- `shuffled`: the correct responses, each paired with another record's instruction;
- `seed_only`: the seed set itself as the dataset, so the row trains on the seed alone, tagged
  like every row's dataset (the control trains without mixing the seed in).

The expected order of the trained models is known (clean > noisy at a low rate > noisy at a high
rate > shuffled), which is what the control asserts. Every record says in its provenance whether
its response is correct, so a drop or a reordering can be traced.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, Literal

from harness.core import tasks
from harness.core.config import bounded
from harness.core.errors import ConfigError
from harness.core.records import InstructionRecord, Message

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS = ()


@dataclasses.dataclass(frozen=True)
class Options:
    task: str = "reverse"
    quality: Literal["clean", "noisy", "shuffled", "seed_only"] = "clean"
    rate: float = bounded(
        0.0, low=0, high=1, fix="a corruption rate in [0, 1]"
    )  # noisy: share of answers replaced
    n: int = bounded(2000, low=1)
    seed: int = 0  # which records are corrupted and how


def validate(opts: Options) -> None:
    tasks.get_task(opts.task, key="task")
    if opts.quality == "noisy" and opts.rate == 0:
        raise ConfigError(
            "quality 'noisy' with rate 0 is the clean dataset", fix="set rate in (0, 1], or quality: clean"
        )
    if opts.quality != "noisy" and opts.rate != 0:
        raise ConfigError(
            f"rate {opts.rate} is only read by quality 'noisy'", fix="drop rate, or set quality: noisy"
        )


def build(ctx: BuildContext) -> list[InstructionRecord]:
    o: Options = ctx.options
    task = tasks.get_task(o.task)
    with ctx.log.step("control") as s:
        if o.quality == "seed_only":
            for _ in ctx.seed_records:
                s.keep()
            return [
                dataclasses.replace(r, provenance={**r.provenance, "origin": "web"}) for r in ctx.seed_records
            ]
        pairs = tasks.examples(task, "train", o.n)
        rng = random.Random(f"control/{o.quality}/{o.rate}/{o.seed}")
        responses = [a for _, a in pairs]
        if o.quality == "noisy":
            responses = [tasks.corrupt(a, rng) if rng.random() < o.rate else a for a in responses]
        elif o.quality == "shuffled":
            responses = responses[1:] + responses[:1]  # a derangement: no response stays with its instruction
            rng.shuffle(order := list(range(len(pairs))))
            pairs, responses = [pairs[i] for i in order], [responses[i] for i in order]
        out = []
        for (ins, _), resp in zip(pairs, responses, strict=True):
            s.keep()
            out.append(
                InstructionRecord(
                    (Message("user", ins), Message("assistant", resp)),
                    f"control:{o.quality}",
                    {"origin": "web", "task": task.name, "correct": tasks.correct(task, ins, resp)},
                )
            )
        return out
