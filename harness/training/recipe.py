"""The shared SFT recipe: one frozen dataclass, identical for every dataset of an experiment.

Shipped recipes live in `harness/configs/recipes/<name>.yaml`; an experiment's `train:` section
names one (`recipe: tiny`) and may override any field. Light module: no torch, no trl.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from harness.core.config import find_named_file, from_dict, load_yaml

RECIPES_DIR = Path(__file__).resolve().parents[1] / "configs" / "recipes"


@dataclasses.dataclass(frozen=True)
class LoraOptions:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    load_in_4bit: bool = False  # QLoRA (needs bitsandbytes and a GPU)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of the shared SFT run. Defaults follow the papers (7B setting)."""

    name: str = "custom"
    learning_rate: float = 1e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.1
    dropout: float = 0.1
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 8  # effective batch = per_device * accumulation * processes = 32
    num_epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides num_epochs
    max_length: int = 2048
    overlong: Literal["truncate", "drop"] = "drop"
    packing: bool = False
    padding_free: bool = False
    gradient_checkpointing: bool = False
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    lora: LoraOptions | None = None
    seed: int = 0
    num_processes: int = 1
    accelerate_config: str | None = None  # a named file in configs/accelerate/ or a path (FSDP, ZeRO-3)
    # auto: the model's template if it has {% generation %} markers, else TRL's training variant of it;
    # a tokenizer without a template (a base model) gets the harness template. harness: always ours.
    chat_template: Literal["auto", "harness"] = "auto"
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 5


# Fields that change how fast or where a run goes, not what it learns: kept out of fingerprints.
NON_SEMANTIC_FIELDS = ("name", "save_steps", "save_total_limit", "logging_steps", "accelerate_config",
                       "gradient_checkpointing")


def recipe_path(name_or_path: str) -> Path:
    return find_named_file(name_or_path, RECIPES_DIR, what="recipe")


def load_recipe(name_or_path: str = "tiny", overrides: Mapping[str, Any] | None = None, *,
                source: str | None = None, lines: Mapping[str, int] | None = None, prefix: str = "") -> Recipe:
    """A shipped or local recipe file, with field overrides (already parsed values) on top."""
    path = recipe_path(name_or_path)
    data, file_lines = load_yaml(path)
    data.setdefault("name", path.stem)
    if overrides:
        merged = {**data, **dict(overrides)}
        return from_dict(Recipe, merged, source=source, lines=lines, prefix=prefix)
    return from_dict(Recipe, data, source=str(path), lines=file_lines)


def semantic_dict(recipe: Recipe) -> dict[str, Any]:
    from harness.core.config import to_dict

    d = to_dict(recipe)
    for k in NON_SEMANTIC_FIELDS:
        d.pop(k, None)
    return d
