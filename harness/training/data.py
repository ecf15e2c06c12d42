"""Assemble the training set of one dataset the same way for every dataset: the fairness rules.

Both papers fine-tune on (web-derived data + the seed set), tag each example with a system
message saying where it came from, and compare datasets at an equal number of examples. Here:

1. dedup the dataset by content id (first occurrence kept, order kept);
2. subsample it to `train.n` with a fixed seed (every dataset gets the same N);
3. mix in the seed set when `train.mix_seed` (baselines only when `train.tag_baselines`: a public
   baseline such as ShareGPT is compared as published, not with our seed set added, unless asked);
4. add system tags when `train.tags`: seed records get `train.seed_tag`, web-derived records get
   `train.web_tag`. A record's origin comes from `provenance["origin"]` ("web" / "seed") when the
   builder set it, else from `kind` (records of a "seed" dataset are seed, the rest web-derived).
   Baseline records are tagged only when `train.tag_baselines`.

The seed records are never subsampled (they are the same for every dataset) and a seed record
that also appears in the dataset is kept once. The result is shuffled with the same seed so seed
and web examples are interleaved. Light module: no torch.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from harness.core.records import InstructionRecord, dedup_records, with_system_tag

if TYPE_CHECKING:
    from harness.experiment import Train

Kind = Literal["web", "seed", "baseline"]


def origin(record: InstructionRecord, default: str) -> str:
    """"web" or "seed": the builder's provenance when it says so, else `default`."""
    o = record.provenance.get("origin") if record.provenance else None
    return o if o in ("web", "seed") else default


def assemble(records: Sequence[InstructionRecord], seed_records: Sequence[InstructionRecord], train: Train, *,
             kind: Kind, seed: int) -> list[InstructionRecord]:
    """The training set of one dataset: dedup, subsample to `train.n`, mix in the seed, tag."""
    rng = random.Random(seed)
    data = dedup_records(records)
    if train.n is not None and len(data) > train.n:
        keep = sorted(rng.sample(range(len(data)), train.n))  # sorted: keep the file's order
        data = [data[i] for i in keep]
    tag = train.tags and (kind != "baseline" or train.tag_baselines)
    default_origin = "seed" if kind == "seed" else "web"
    out = []
    for r in data:
        if tag:
            r = with_system_tag(r, train.seed_tag if origin(r, default_origin) == "seed" else train.web_tag)
        out.append(r)
    mix = train.mix_seed and kind != "seed" and (kind != "baseline" or train.tag_baselines)
    if mix:
        ids = {r.id for r in data}
        for s in dedup_records(seed_records):
            if s.id in ids:
                continue
            s = dataclasses.replace(s, provenance={**s.provenance, "origin": "seed"})
            out.append(with_system_tag(s, train.seed_tag) if train.tags else s)
        rng.shuffle(out)
    return out
