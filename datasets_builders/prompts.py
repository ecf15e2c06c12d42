"""Prompt templates, stored as package data in `harness/prompts/<name>.txt`.

Templates are `str.format` strings; their hashes enter the fingerprints of the stages that use
them, so editing a prompt reruns exactly what depends on it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from harness.core.errors import ConfigError
from harness.core.fingerprint import text_hash

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "harness" / "prompts"


@functools.cache
def load_prompt(name: str) -> str:
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"no prompt template '{name}' in {PROMPTS_DIR}", fix="check the package installation")
    return path.read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    return load_prompt(name).format(**values)


def prompt_hashes(names: Iterable[str]) -> dict[str, str]:
    return {n: text_hash(load_prompt(n)) for n in sorted(names)}
