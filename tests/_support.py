"""Helpers the tests import (conftest.py holds fixtures): the project root and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

PROJECT_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def run_harness(*args: str, timeout: float = 600, env: dict[str, str] | None = None, **kwargs):
    """Run the real `harness` CLI in a subprocess (`python -m harness.cli`)."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT_ROOT, env=full_env, **kwargs)


def write_prompts(path: Path, n: int, *, seed: int = 0) -> Path:
    """`n` instruction prompts (from stdlib docstrings) as a JSONL file."""
    from harness.backends.tiny_model import sample_prompts

    path.write_text("".join(json.dumps(p) + "\n" for p in sample_prompts(n, seed=seed)), encoding="utf-8")
    return path


def engine_starts(build_dir: Path) -> dict[str, int]:
    """Engine starts per model over the build manifests under `build_dir` (one per dataset)."""
    starts: dict[str, int] = {}
    for manifest in sorted(build_dir.glob("*/manifest.json")):
        stats = json.loads(manifest.read_text())["stats"]
        assert "engine_starts" in stats, manifest
        for label, c in stats["engines"].items():
            starts[label] = starts.get(label, 0) + c["starts"]
    return starts


def substage_models(build_dir: Path, backend: str = "hf") -> set[str]:
    """The backend specs of the sub-stage models (backward, seed model, ...) the builds used."""
    models = set()
    for manifest in build_dir.glob("*/manifest.json"):
        for sub in json.loads(manifest.read_text())["stats"].get("substages", {}).values():
            models.add(f"{backend}:{Path(sub['directory']) / 'model'}")
    return models
