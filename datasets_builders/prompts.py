"""Prompt templates: shipped as package data in `harness/prompts/<name>.txt`, each replaceable by a
file of the experiment's (`prompts: {<name>: <path>}`), for example a copy of a paper's own wording.

Templates are `str.format` strings. A replacement must use the same placeholders as the shipped
template (checked when the experiment loads). The hash of the template a build uses - shipped or
replaced - enters its dataset's fingerprint and manifest, so changing a prompt reruns exactly what
depends on it.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.core.errors import ConfigError
from harness.core.fingerprint import text_hash

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "harness" / "prompts"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))


@functools.cache
def load_prompt(name: str) -> str:
    """The shipped template `name`."""
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(
            f"no prompt template '{name}' in {PROMPTS_DIR}", fix="check the package installation"
        )
    return path.read_text(encoding="utf-8")


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def check_override(name: str, path: str, *, where: str) -> str:
    """The text of a replacement template, after checking it can stand in for the shipped one."""
    from harness.core.config import did_you_mean

    names = shipped_names()
    if name not in names:
        raise ConfigError(
            f"{where}: 'prompts.{name}' is not a prompt template",
            fix=did_you_mean(name, names, otherwise=f"templates: {', '.join(names)}"),
        )
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"{where}: 'prompts.{name}' is {path!r}, which does not exist",
            fix=f"give a text file with the placeholders of harness/prompts/{name}.txt",
        )
    text = p.read_text(encoding="utf-8")
    try:
        got = placeholders(text)
    except ValueError as e:  # an unmatched brace
        raise ConfigError(
            f"{where}: 'prompts.{name}' ({path}) is not a str.format template: {e}",
            fix="write literal braces as {{ and }}",
        ) from None
    want = placeholders(load_prompt(name))
    if got != want:
        raise ConfigError(
            f"{where}: 'prompts.{name}' ({path}) has placeholders {sorted(got)}, the template needs "
            f"{sorted(want)}",
            fix=f"use exactly {', '.join('{' + w + '}' for w in sorted(want))}",
        )
    return text


def resolve(names: Iterable[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """name -> template text for the templates a builder uses, replacements applied."""
    overrides = overrides or {}
    return {
        n: (Path(overrides[n]).expanduser().read_text(encoding="utf-8") if n in overrides else load_prompt(n))
        for n in sorted(names)
    }


def prompt_hashes(names: Iterable[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    return {n: text_hash(text) for n, text in resolve(names, overrides).items()}


def prompt_record(
    names: Iterable[str], overrides: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """What a build manifest records of its prompts: each template's file and hash."""
    overrides = overrides or {}
    return {
        n: {
            "file": str(Path(overrides[n]).expanduser().resolve())
            if n in overrides
            else f"harness/prompts/{n}.txt",
            "hash": h,
        }
        for n, h in prompt_hashes(names, overrides).items()
    }
