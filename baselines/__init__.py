"""Baseline datasets: public instruction sets loaded as published, one short module per source.

Each source module names where the data lives (`SOURCE`: a hub or GitHub repository, `REVISION`:
its pinned commit, `FILES`: the data files read from it, and optionally a small bundled demo file in
`baselines/data/`) and a pure `to_record(row) -> InstructionRecord` that raises `Skip(reason)` for
rows it cannot use. `baselines.loader` does the I/O (the repository's files through
`harness.core.sources`, or a local JSON, JSONL or Parquet file), dedup and sampling to N in bounded
memory, counting every skipped row by reason.

In an experiment: `builder: baseline, options: {loader: sharegpt, path: ..., n: ...}`. This module
is also the `baseline` entry of `harness.stages.builders.BUILDERS` (VERSION, PROMPTS, Options, build).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from harness.core.records import InstructionRecord
from harness.core.registry import lookup


class BuildContext(Protocol):
    """What a baseline reads of the build stage's context (`datasets_builders.context.BuildContext`),
    named here because baselines never import a builder module."""

    options: Any
    log: Any  # the step log, counting the rows each step keeps and drops
    seed: int
    seed_records: Sequence[InstructionRecord]


VERSION = 1
PROMPTS: tuple[str, ...] = ()
# loader name -> its source module: the one place a new baseline is registered
LOADERS: dict[str, str] = {
    name: f"baselines.{name}"
    for name in ("sharegpt", "openorca", "alpaca_gpt4", "self_instruct", "evol_instruct", "oasst")
}


@dataclasses.dataclass(frozen=True)
class Options:
    loader: str  # required: which public dataset (see LOADERS)
    path: str | None = None  # "hub", a local copy of the hub repository (a directory), a local file, or None:
    #                          the bundled demo file if any, else the hub
    revision: str | None = None  # overrides the module's pinned revision (a commit)
    n: int | None = None  # sample this many rows (fixed seed); train.n also cuts every dataset
    files: str | list[str] | None = (
        None  # the repository's data files to read (globs), instead of the module's FILES
    )


def source_module(loader: str):
    return lookup(LOADERS, loader, what="baseline loader")


def validate(options: Options) -> None:
    """Fail before any work on an unknown loader (the experiment is checked when it is planned)."""
    source_module(options.loader)


def fingerprint_extra(options: Options) -> dict[str, Any]:
    """What besides the options decides a hub-read dataset: the repository, its commit and the files read
    (a pin moved in the source module reruns the dataset). Local files enter through their options."""
    from baselines.loader import reads_hub

    mod = source_module(options.loader)
    if not reads_hub(mod, options.path):
        return {}
    return {
        "source": mod.SOURCE,
        "revision": options.revision or mod.REVISION,
        "files": options.files or mod.FILES,
    }


def build(ctx: BuildContext) -> list[InstructionRecord]:
    from baselines.loader import load

    o: Options = ctx.options
    return load(
        source_module(o.loader),
        ctx.log,
        path=o.path,
        revision=o.revision,
        n=o.n,
        seed=ctx.seed,
        seed_records=ctx.seed_records,
        files=o.files,
    )
