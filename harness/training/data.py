"""Assemble the training set of one row the same way for every row: the fairness rules.

Both papers fine-tune on (web-derived data + the seed set), tag each example with a system
message saying where it came from, and compare datasets at an equal number of examples. Here, for
every row (baselines included) unless its dataset's `assembly` opts out:

1. dedup the dataset by content id (first occurrence kept, order kept);
2. tag it (`shared`, `without_seed`; not `as_published`) when `train.tags`: records get
   `train.web_tag`, or `train.seed_tag` when the builder marked them as seed in
   `provenance["origin"]`;
3. screen it (`fits`: the trainer's own screening, records longer than the context dropped) BEFORE
   subsampling, so that the row trains on exactly N dataset records whenever N survive;
4. subsample to N with a fixed seed: a seeded permutation's first N, so that a smaller N is a
   subset of a larger one (a scaling curve adds data, it does not redraw it). When rows share
   their instructions (`instructions_from`), the permutation is over the instructions they all
   have, so every row of the group trains on the same instructions;
5. mix in the seed set with `train.seed_tag` (`shared` and `train.mix_seed` only).

The seed records are never subsampled (they are the same for every row) and a seed record that
also appears in the dataset is kept once. The result is shuffled with the same seed so seed and
web examples are interleaved. Light module: no torch.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from harness.core.records import InstructionRecord, dedup_records, with_system_tag


class Train(Protocol):
    """What assembly reads of the experiment's `train:` section (`harness.experiment.Train`), named
    here so that training imports only core."""

    tags: bool
    seed_tag: str
    web_tag: str
    mix_seed: bool


ASSEMBLY_VERSION = 2  # 2: one assembly for every row, screening before subsampling, nested subsamples
ASSEMBLIES = ("shared", "without_seed", "as_published")


def origin(record: InstructionRecord, default: str = "web") -> str:
    """ "web" or "seed": the builder's provenance when it says so, else `default`."""
    o = record.provenance.get("origin") if record.provenance else None
    return o if o in ("web", "seed") else default


def instruction(record: InstructionRecord) -> str:
    """The record's first user turn: what `instructions_from` matches on."""
    return next((m.content for m in record.messages if m.role == "user"), "")


@dataclasses.dataclass(frozen=True)
class Assembled:
    records: list[InstructionRecord]  # the training set, seed included
    stats: dict[str, Any]  # dataset_records, duplicates, screened_out, available, n_target, n_trained, seed


def candidates(
    records: Sequence[InstructionRecord],
    train: Train,
    *,
    assembly: str = "shared",
    fits: Callable[[InstructionRecord], bool] | None = None,
) -> tuple[list[InstructionRecord], dict[str, int]]:
    """The dataset's records a row may train on: deduped, tagged as the row trains them, screened."""
    if assembly not in ASSEMBLIES:
        raise ValueError(f"unknown assembly {assembly!r}; use one of {', '.join(ASSEMBLIES)}")
    data = dedup_records(records)
    tag = train.tags and assembly != "as_published"
    if tag:
        data = [with_system_tag(r, train.seed_tag if origin(r) == "seed" else train.web_tag) for r in data]
    kept = [r for r in data if fits is None or fits(r)]
    return kept, {
        "dataset_records": len(records),
        "duplicates": len(records) - len(data),
        "screened_out": len(data) - len(kept),
        "available": len(kept),
    }


def subsample(
    cands: Sequence[InstructionRecord], n: int | None, seed: int, *, pool: Collection[str] | None = None
) -> list[InstructionRecord]:
    """N of the candidates (file order kept): a seeded permutation's first N; with `pool`, N of the
    pool's instructions, each with the first candidate that has it."""
    rng = random.Random(seed)
    if pool is not None:
        first: dict[str, int] = {}
        for i, r in enumerate(cands):
            if instruction(r) in pool:
                first.setdefault(instruction(r), i)
        order = sorted(first)  # the same list for every row of the group
        rng.shuffle(order)
        keep = sorted(first[s] for s in (order if n is None else order[:n]))
        return [cands[i] for i in keep]
    if n is None or len(cands) <= n:
        return list(cands)
    order = list(range(len(cands)))
    rng.shuffle(order)
    return [cands[i] for i in sorted(order[:n])]


def mix_seed(
    data: Sequence[InstructionRecord], seed_records: Sequence[InstructionRecord], train: Train, *, seed: int
) -> list[InstructionRecord]:
    """The row's records plus the seed set (tagged as seed when `train.tags`), shuffled."""
    ids = {r.id for r in data}
    out = list(data)
    for s in dedup_records(seed_records):
        if s.id in ids:
            continue
        s = dataclasses.replace(s, provenance={**s.provenance, "origin": "seed"})
        out.append(with_system_tag(s, train.seed_tag) if train.tags else s)
    random.Random(seed).shuffle(out)
    return out


def assemble(
    records: Sequence[InstructionRecord],
    seed_records: Sequence[InstructionRecord],
    train: Train,
    *,
    assembly: str = "shared",
    n: int | None = None,
    seed: int = 0,
    fits: Callable[[InstructionRecord], bool] | None = None,
    pool: Collection[str] | None = None,
) -> Assembled:
    """The training set of one row: dedup, tag, screen, subsample to N, mix in the seed."""
    cands = candidates(records, train, assembly=assembly, fits=fits)
    return finish(cands, seed_records, train, assembly=assembly, n=n, seed=seed, pool=pool)


def finish(
    cands: tuple[list[InstructionRecord], dict[str, int]],
    seed_records: Sequence[InstructionRecord],
    train: Train,
    *,
    assembly: str,
    n: int | None,
    seed: int,
    pool: Collection[str] | None = None,
) -> Assembled:
    """`assemble` after `candidates`: subsample to N (from `pool`'s instructions), mix in the seed."""
    kept, stats = cands
    data = subsample(kept, n, seed, pool=pool)
    mixed = assembly == "shared" and train.mix_seed
    out = mix_seed(data, seed_records, train, seed=seed) if mixed else data
    stats = {
        **stats,
        "n_target": n,
        "n_trained": len(data),
        "seed_records": len(out) - len(data),
        "assembly": assembly,
    }
    if pool is not None:
        stats["shared_instructions"] = len(pool)
    return Assembled(out, stats)
