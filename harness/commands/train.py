"""`harness train`: fine-tune with the shared SFT recipe.

Two forms:

- `harness train --config EXPERIMENT [--only NAME ...] [--force] [--runs-dir DIR] [key=value ...]`
  trains the experiment's base model on each built dataset (overrides are experiment keys, e.g.
  train.learning_rate=2e-5 or train.num_processes=2);
- `harness train --model SPEC_OR_PATH --data dataset.jsonl --output DIR [--recipe tiny] [--force]
  [key=value ...]` trains one model on one JSONL of InstructionRecords (overrides are recipe keys,
  e.g. max_steps=100 lora.r=8).

Prints one summary line per trained model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    e = p.add_argument_group("experiment form")
    e.add_argument("--config", metavar="PATH_OR_NAME", help="experiment YAML path or shipped name")
    e.add_argument(
        "--only", action="append", metavar="DATASET", help="train on this dataset only (repeatable)"
    )
    e.add_argument(
        "--runs-dir", default=None, metavar="DIR", help="runs root (default: $HARNESS_RUNS_DIR or ./runs)"
    )
    s = p.add_argument_group("single-run form")
    s.add_argument("--model", metavar="SPEC_OR_PATH", help="base model: a directory, a hub id, or hf:/path")
    s.add_argument("--data", type=Path, metavar="JSONL", help="training records (InstructionRecord lines)")
    s.add_argument("--output", type=Path, metavar="DIR", help="run directory (model/ goes inside)")
    s.add_argument("--recipe", default="tiny", help="shipped recipe name or YAML path (default: tiny)")
    p.add_argument(
        "--num-processes",
        type=int,
        default=None,
        metavar="N",
        help="processes for accelerate launch (same as the override num_processes=N)",
    )
    p.add_argument("--force", action="store_true", help="retrain even when cached (discards checkpoints)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="experiment overrides (--config) or recipe overrides (--model)",
    )


def _summary(name: str, outcome: Any) -> str:
    s = outcome.manifest.stats

    def q(x: Any) -> Any:
        return "?" if x is None else x

    state = "cached" if outcome.skipped else "trained"
    return (
        f"train {name}: {state}; {q(s.records_kept)} records ({s.dropped} dropped, {s.truncated} truncated), "
        f"{q(s.tokens_seen)} tokens, {q(s.steps)} steps, final loss {q(s.final_loss)}, "
        f"{q(s.tokens_per_s)} tokens/s, {q(s.wall_time_s)} s -> {outcome.directory / 'model'}"
    )


def _single(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from harness.backends.spec import is_local, resolve_base_model
    from harness.core.config import from_dict, read_with_overrides
    from harness.core.errors import ConfigError, InputError
    from harness.core.io import file_sha256, iter_records
    from harness.training.recipe import Recipe, check_recipe, recipe_path
    from harness.training.sft import train_fingerprint, train_stage

    if not (args.data and args.output):
        raise ConfigError(
            "--model needs --data and --output", fix="harness train --model M --data D.jsonl --output DIR"
        )
    path = recipe_path(args.recipe)
    overrides = list(args.overrides)
    if args.num_processes:
        overrides.append(f"num_processes={args.num_processes}")
    data, lines = read_with_overrides(path, overrides)
    data.setdefault("name", path.stem)
    recipe = check_recipe(from_dict(Recipe, data, source=str(path), lines=lines), str(path))
    base = resolve_base_model(args.model)
    if is_local(base) and not Path(base).expanduser().is_dir():
        raise InputError(
            "base model directory not found",
            path=base,
            fix="pass a local model directory (hf:/path) or a hub id",
        )
    if not args.data.is_file():
        raise InputError("training data not found", path=args.data, fix="pass a JSONL of InstructionRecords")
    records = []
    for line, record in iter_records(args.data, fix=_RECORD_FIX):
        if problem := _conversation_problem(record):
            raise InputError(problem, path=args.data, line=line, fix=_RECORD_FIX)
        records.append(record)
    if not records:  # before train_stage creates the output directory
        raise InputError("--data holds no records: nothing to train on", path=args.data, fix=_RECORD_FIX)
    # the stand-alone run's records come from one file: its content hash is the upstream
    upstream = {"data": file_sha256(args.data)}
    outcome = train_stage(
        args.output,
        base_model=base,
        model_name=args.model,
        records=records,
        recipe=recipe,
        fingerprint=train_fingerprint(recipe, base=args.model, upstream=upstream),
        upstream=upstream,
        force=args.force,
    )
    return [(args.output.name, outcome)]


_RECORD_FIX = 'each line: {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}'


def _conversation_problem(record: Any) -> str | None:
    """What makes a record useless to train on: a conversation opened by the assistant (after any system
    message) or one whose every message is empty."""
    turns = [m for m in record.messages if m.role != "system"]
    if not any(m.content.strip() for m in record.messages):
        return "every message of the conversation is empty: nothing to train on"
    if turns and turns[0].role != "user":
        return f"the conversation starts with the {turns[0].role!r} role; a user turn must come first"
    return None


def _experiment(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from harness.commands._experiment import one_runner
    from harness.experiment import load_experiment
    from harness.stages import train

    overrides = list(args.overrides)
    if args.num_processes:
        overrides.append(f"train.num_processes={args.num_processes}")
    exp = load_experiment(args.config, overrides)
    with one_runner(exp, args):
        outcomes = train.run(exp, args.runs_dir, only=args.only, force=args.force)
    return [(o.directory.name, o) for o in outcomes]


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.core.errors import ConfigError

    if bool(args.config) == bool(args.model):
        raise ConfigError(
            "give either --config EXPERIMENT or --model/--data/--output",
            fix="harness train --config demo, or harness train --model hf:DIR --data D.jsonl --output OUT",
        )
    results = _experiment(args) if args.config else _single(args)
    console = Console(width=200)
    for name, outcome in results:
        console.print(_summary(name, outcome), highlight=False, soft_wrap=True)
    return 0
