"""The experiment file's schema: what one experiment names, as frozen dataclasses.

An experiment names a base model, decoding defaults and (as the harness grows) the datasets to
build, the training recipe and the evaluation protocol. `load_experiment` accepts a path or the
name of a shipped file in `harness/configs/`, plus dotted `key=value` overrides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from harness.core.config import load_config
from harness.core.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "configs"


@dataclasses.dataclass(frozen=True)
class Decoding:
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 256
    seed: int | None = 0


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    base_model: str
    seed: int = 0
    description: str = ""
    decoding: Decoding = Decoding()


def shipped_configs() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    shipped = SHIPPED_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    import difflib

    names = shipped_configs()
    close = difflib.get_close_matches(name_or_path, names, n=1)
    raise ConfigError(f"no experiment file '{name_or_path}'",
                      fix=f"did you mean '{close[0]}'?" if close else f"shipped experiments: {', '.join(names) or 'none'}")


def load_experiment(name_or_path: str, overrides: Sequence[str] = ()) -> Experiment:
    return load_config(Experiment, resolve_config_path(name_or_path), overrides)
