"""Shared arguments of the experiment-level commands: `--config PATH_OR_SHIPPED_NAME`, `--runs-dir DIR`,
and dotted `key=value` overrides, taken the same way by build, train, eval, analyze, run, report, check;
and the argument checks several commands share (positive integers, dtypes, a writable output place)."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def add_experiment_arguments(
    p: argparse.ArgumentParser, *, required: bool = True, overrides: bool = True
) -> None:
    p.add_argument(
        "--config",
        required=required,
        metavar="PATH_OR_NAME",
        help="experiment YAML path or shipped name (demo, paper-7b, paper-70b)",
    )
    p.add_argument(
        "--runs-dir", default=None, metavar="DIR", help="runs root (default: $HARNESS_RUNS_DIR or ./runs)"
    )
    if overrides:
        p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.n=64")


def load(args: argparse.Namespace):
    from harness.experiment import load_experiment

    return load_experiment(args.config, getattr(args, "overrides", None) or ())


@contextlib.contextmanager
def one_runner(exp, args: argparse.Namespace, *, shard: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold the experiment's runner lock for the block (`harness.core.lock`), after a bad `--only` has
    failed (nothing is written before the error). `shard` (index, count): a shard of a sharded build,
    which runs beside the experiment's other shards."""
    from harness.core.lock import runner_lock
    from harness.stages import paths
    from harness.stages.plan import select

    select(exp, getattr(args, "only", None))
    directory, command = paths.exp_dir(exp, args.runs_dir), getattr(args, "command_line", "harness")
    if shard is None:
        with runner_lock(directory, command):
            yield
        return
    index, count = shard
    with (
        runner_lock(directory, command, shared=True),
        runner_lock(directory, command, name=f"runner.shard-{index:05d}-of-{count:05d}.lock"),
    ):
        yield


DTYPES = ("auto", "float32", "bfloat16", "float16")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (0 would load the model and then fail)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def require_writable_dir(directory: Path, *, what: str, fix: str) -> None:
    """Create `directory` if needed and prove a file can be written there, before any model loads
    (a read-only or full location fails now, not after the work)."""
    from harness.core.errors import ConfigError

    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{what} cannot be written ({e.strerror})", fix=fix) from None


def require_place_for(directory: Path, *, what: str, fix: str) -> None:
    """Without creating anything (a dry run writes nothing): `directory` is a directory, or can be made
    one (its nearest existing ancestor is a directory), this process can write into."""
    from harness.core.errors import ConfigError

    directory = Path(directory).absolute()
    existing = next(p for p in (directory, *directory.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        where = "" if existing == directory else f": {existing} is a file"
        raise ConfigError(f"{what} {directory} is not a directory{where}", fix=fix)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {directory} cannot be written ({existing} is read-only)", fix=fix)


def require_runs_and_results(args: argparse.Namespace, *, results: bool) -> None:
    """The runs root (`--runs-dir`, $HARNESS_RUNS_DIR or ./runs) and, when the command writes a
    report, `--results-dir` can be written: checked before any work (and by `--dry-run`)."""
    from harness.core.runs import runs_root

    require_place_for(
        runs_root(args.runs_dir),
        what="runs directory",
        fix="point --runs-dir (or $HARNESS_RUNS_DIR) at a directory you can write to",
    )
    if results:
        require_place_for(
            Path(args.results_dir),
            what="--results-dir",
            fix="pass --results-dir a directory you can write to",
        )
