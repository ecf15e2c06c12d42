"""`harness build --config EXPERIMENT [--only NAME ...] [--force] [--num-shards K --shard-index i] [--merge]`.

Builds (or loads, for baselines) every dataset the experiment lists into
`runs/<experiment>/build/<name>/` and prints one summary per dataset and one line per step: seen,
kept, dropped by reason, tokens generated, wall time.
"""

from __future__ import annotations

import argparse

from harness.commands._experiment import add_experiment_arguments, load, one_runner


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument("--only", action="append", metavar="NAME", help="build this dataset only (repeatable)")
    p.add_argument(
        "--force", action="store_true", help="rebuild even when cached (sub-stage models stay cached)"
    )
    p.add_argument("--num-shards", type=int, default=1, metavar="K", help="split the corpus into K shards")
    p.add_argument("--shard-index", type=int, default=0, metavar="I", help="build shard I of K (0-based)")
    p.add_argument("--merge", action="store_true", help="join the K finished shards of each dataset")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.core.errors import ConfigError
    from harness.stages import build

    if args.num_shards < 1:
        raise ConfigError(
            f"--num-shards is {args.num_shards}; it must be at least 1", fix="--num-shards K with K >= 1"
        )
    if not 0 <= args.shard_index < args.num_shards:
        raise ConfigError(
            f"--shard-index {args.shard_index} must be in 0..{args.num_shards - 1}",
            fix=f"one of 0..{args.num_shards - 1} for --num-shards {args.num_shards}",
        )
    exp = load(args)
    console = Console()
    shard = (args.shard_index, args.num_shards) if args.num_shards > 1 and not args.merge else None
    with one_runner(exp, args, shard=shard):
        outcomes = build.run(
            exp,
            args.runs_dir,
            only=args.only,
            force=args.force,
            num_shards=args.num_shards,
            shard_index=args.shard_index,
            merge=args.merge,
        )
    for outcome in outcomes:
        name = (
            outcome.directory.name
            if args.num_shards == 1 or args.merge
            else outcome.directory.parent.parent.name
        )
        for line in build.summary_lines(name, outcome):
            console.print(line, highlight=False, markup=False)
    return 0
