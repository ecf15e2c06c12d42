"""Baseline datasets: public instruction sets loaded as published, one short module per source.

Each source module names where the data lives (a pinned hub id and revision, and optionally a
small bundled demo file in `baselines/data/`) and a pure `to_record(row) -> InstructionRecord`
that raises `Skip(reason)` for rows it cannot use. `baselines.loader` does the I/O (JSON, JSONL,
Parquet, hub), dedup and sampling to N, counting every skipped row by reason.

In an experiment: `builder: baseline, options: {loader: sharegpt, path: ..., n: ...}`. This module
is also the `baseline` entry of `datasets_builders.BUILDERS` (VERSION, PROMPTS, Options, build).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from harness.core.records import InstructionRecord
from harness.core.registry import lookup

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

VERSION = 1
PROMPTS: tuple[str, ...] = ()
# loader name -> its source module: the one place a new baseline is registered
LOADERS: dict[str, str] = {name: f"baselines.{name}" for name in
                           ("sharegpt", "openorca", "alpaca_gpt4", "self_instruct", "evol_instruct", "oasst")}


@dataclasses.dataclass(frozen=True)
class Options:
    loader: str  # required: which public dataset (see LOADERS)
    path: str | None = None  # "hub", a local file, or None: the bundled demo file if any, else the hub
    revision: str | None = None  # overrides the module's pinned revision
    n: int | None = None  # sample this many rows (fixed seed); train.n also cuts every dataset


def source_module(loader: str):
    return lookup(LOADERS, loader, what="baseline loader")


def validate(options: Options) -> None:
    """Fail before any work on an unknown loader (the experiment is checked when it is planned)."""
    source_module(options.loader)


def build(ctx: BuildContext) -> list[InstructionRecord]:
    from baselines.loader import load

    o: Options = ctx.options
    return load(source_module(o.loader), ctx.log, path=o.path, revision=o.revision, n=o.n, seed=ctx.seed,
                seed_records=ctx.seed_records)
