"""`harness publish --config EXP --only NAME --to ORG/NAME`: push a built dataset (or, with --model, the
model trained on it) to the Hugging Face Hub with its card, through `huggingface_hub`.

What is pushed is what `huggingface-cli upload` would push from the directory: the dataset's
`README.md` card, `dataset.jsonl`, `drops.jsonl` and `manifest.json`; or the model directory with
its card. The card is rewritten from the manifests first. `--dry-run` lists the files and pushes
nothing. The token is huggingface_hub's own (`HF_TOKEN` or `huggingface-cli login`).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

from harness.commands._experiment import add_experiment_arguments, load

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
DATASET_FILES = ("README.md", "dataset.jsonl", "drops.jsonl", "manifest.json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p, overrides=False)
    p.add_argument("--only", required=True, metavar="NAME", help="the dataset (or the model trained on it)")
    p.add_argument("--to", required=True, metavar="ORG/NAME", help="the Hub repository to create or update")
    p.add_argument(
        "--model", action="store_true", help="push the model trained on the dataset, not the dataset"
    )
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", action="store_true", help="list what would be pushed; push nothing")


def prepare(exp, name: str, *, model: bool, runs_dir=None) -> tuple[Path, str, list[str]]:
    """(folder, repo type, files to push) for one dataset or model, its card written; errors before any push."""
    from harness.core.errors import StageError
    from harness.stages import cards, paths
    from harness.stages.plan import select

    select(exp, [name])  # an unknown name: did-you-mean
    if model:
        folder = paths.trained_model_dir(exp, name, runs_dir)
        metrics = paths.eval_dir(exp, name, runs_dir) / "metrics.json"
        from harness.core.io import read_json

        card = cards.write_model_card(
            exp, name, runs_dir, metrics=read_json(metrics) if metrics.is_file() else None
        )
        if card is None:
            raise StageError(
                f"no trained model for '{name}' ({folder})",
                fix=f"run `{shlex.join(['harness', 'train', '--config', exp.name, '--only', name])}` first",
            )
        return (
            folder,
            "model",
            sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
        )
    folder = paths.build_dir(exp, name, runs_dir)
    if cards.write_dataset_card(exp, name, runs_dir) is None:
        raise StageError(
            f"dataset '{name}' is not built ({folder})",
            fix=f"run `{shlex.join(['harness', 'build', '--config', exp.name, '--only', name])}` first",
        )
    return folder, "dataset", [f for f in DATASET_FILES if (folder / f).is_file()]


def push(folder: Path, repo_type: str, files: list[str], repo_id: str, *, private: bool) -> str:
    """Create the repository (if needed) and upload the files in one commit; returns its URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from harness.core.errors import StageError

    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type=repo_type,
            allow_patterns=files,
            commit_message=f"harness publish: {folder.name}",
        )
    except OfflineModeIsEnabled:
        raise StageError(
            f"cannot push to {repo_id}: huggingface_hub is in offline mode (HF_HUB_OFFLINE)",
            fix="unset HF_HUB_OFFLINE on a machine with network access",
        ) from None
    except (HfHubHTTPError, OSError) as e:
        raise StageError(
            f"push to {repo_id} failed: {str(e).splitlines()[0]}",
            fix="check the network and your token (huggingface-cli login or HF_TOKEN)",
        ) from None
    return str(url)


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import ConfigError

    if not REPO_ID.match(args.to):
        raise ConfigError(
            f"--to {args.to!r} is not a Hub repository id", fix="use ORG/NAME, e.g. my-lab/demo-humpback"
        )
    exp = load(args)
    folder, repo_type, files = prepare(exp, args.only, model=args.model, runs_dir=args.runs_dir)
    print(f"publish: {repo_type} {folder} -> {args.to}: {', '.join(files)}")
    if args.dry_run:
        print("publish: dry run; nothing pushed")
        return 0
    url = push(folder, repo_type, files, args.to, private=args.private)
    print(f"publish: pushed {len(files)} files to {url}")
    return 0
