"""The shared SFT recipe: one frozen dataclass, identical for every dataset of an experiment.

Shipped recipes live in `harness/configs/recipes/<name>.yaml`; an experiment's `train:` section
names one (`recipe: tiny`) and may override any field. Light module: no torch, no trl.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from harness.core.config import bounded, find_named_file, from_dict, load_yaml
from harness.core.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "configs" / "recipes"
# The experiment trackers of transformers' `report_to` (none: no tracker). The harness logs each
# row's eval metrics to the same trackers (harness.training.tracking).
TRACKERS = (
    "none",
    "tensorboard",
    "wandb",
    "trackio",
    "mlflow",
    "comet_ml",
    "clearml",
    "aim",
    "dvclive",
    "neptune",
    "swanlab",
    "azure_ml",
    "dagshub",
    "flyte",
    "codecarbon",
)


@dataclasses.dataclass(frozen=True)
class LoraOptions:
    r: int = bounded(16, low=1)
    alpha: int = bounded(32, low=1)
    dropout: float = bounded(0.05, low=0, high=1, high_open=True)
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    load_in_4bit: bool = False  # QLoRA (needs bitsandbytes and a GPU)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of the shared SFT run. Defaults follow the papers (7B setting)."""

    name: str = "custom"
    learning_rate: float = bounded(1e-5, low=0, low_open=True, fix="a learning rate > 0, e.g. 1e-5")
    lr_scheduler: str = "cosine"
    # the learning rate the schedule ends at (Humpback: linear decay to 9e-6); None: the scheduler's own
    # end (0 for linear and cosine). Set, it needs lr_scheduler linear or cosine (`lr_schedule`).
    final_learning_rate: float | None = bounded(None, low=0, low_open=True)
    warmup_ratio: float = bounded(0.03, low=0, high=1, high_open=True)
    weight_decay: float = bounded(0.1, low=0)
    dropout: float = bounded(0.1, low=0, high=1, high_open=True)
    per_device_batch_size: int = bounded(4, low=1)
    gradient_accumulation_steps: int = bounded(
        8, low=1
    )  # effective batch = per_device * accumulation * processes = 32
    num_epochs: float = bounded(2.0, low=0, low_open=True)
    max_steps: int = bounded(
        -1, low=-1, fix="-1 (train num_epochs) or a number of steps >= 1"
    )  # > 0 overrides num_epochs
    max_length: int = bounded(2048, low=8)
    overlong: Literal["truncate", "drop"] = "drop"
    packing: bool = False
    padding_free: bool = False
    gradient_checkpointing: bool = False
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    lora: LoraOptions | None = None
    seed: int = 0
    num_processes: int = bounded(1, low=1)  # in all: num_processes / num_machines per node
    # nodes of one SLURM job, one `accelerate launch` each (harness.training.launch); the global batch
    # depends on num_processes only, so this is where a run goes, not what it learns
    num_machines: int = bounded(1, low=1)
    accelerate_config: str | None = None  # a named file in configs/accelerate/ or a path (FSDP, ZeRO-3)
    # auto: the model's template if it has {% generation %} markers, else TRL's training variant of it;
    # a tokenizer without a template (a base model) gets the harness template. harness: always ours;
    # llama2: Llama-2's [INST] format (harness.core.chat.LLAMA2_CHAT_TEMPLATE), the papers' format.
    chat_template: Literal["auto", "harness", "llama2"] = "auto"
    save_steps: int = bounded(200, low=1)
    save_total_limit: int = bounded(2, low=1)
    logging_steps: int = bounded(5, low=1)
    # where the trainer's logs also go (transformers' report_to: tensorboard, wandb, trackio, ...);
    # a name or a list. Files of local trackers go to train/<name>/tracking/.
    report_to: tuple[str, ...] | str = ()


# Fields that change how fast or where a run goes, not what it learns: kept out of fingerprints.
NON_SEMANTIC_FIELDS = (
    "name",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "accelerate_config",
    "gradient_checkpointing",
    "report_to",
    "num_machines",
)
# Fields added after results were published: kept out of fingerprints at their default, so the trained
# models from before them keep theirs.
LATE_FIELDS = {"final_learning_rate": None}
FINAL_LR_SCHEDULERS = ("linear", "cosine")


def lr_schedule(recipe: Recipe) -> tuple[str, dict[str, Any]]:
    """transformers' `lr_scheduler_type` and its kwargs for the recipe: with `final_learning_rate`,
    linear decay to it is the polynomial schedule of power 1 ending at it, cosine is
    `cosine_with_min_lr`."""
    final = recipe.final_learning_rate
    if final is None:
        return recipe.lr_scheduler, {}
    if recipe.lr_scheduler == "linear":
        return "polynomial", {"lr_end": final, "power": 1.0}
    return "cosine_with_min_lr", {"min_lr": final}


def recipe_path(name_or_path: str) -> Path:
    return find_named_file(name_or_path, RECIPES_DIR, what="recipe")


def load_recipe(
    name_or_path: str = "tiny",
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    lines: Mapping[str, int] | None = None,
    prefix: str = "",
) -> Recipe:
    """A shipped or local recipe file, with field overrides (already parsed values) on top."""
    path = recipe_path(name_or_path)
    data, file_lines = load_yaml(path)
    data.setdefault("name", path.stem)
    if overrides:
        recipe = from_dict(Recipe, {**data, **dict(overrides)}, source=source, lines=lines, prefix=prefix)
    else:
        recipe, source, prefix = from_dict(Recipe, data, source=str(path), lines=file_lines), str(path), ""
    return check_recipe(recipe, source, prefix)


def check_recipe(recipe: Recipe, source: str | None, prefix: str = "") -> Recipe:
    """What field ranges cannot say: max_steps 0 would train half an epoch in transformers and report
    "1 steps"."""
    if recipe.max_steps == 0:
        raise ConfigError(
            f"{source}: '{prefix}max_steps' is 0; it must be -1 (train num_epochs) or >= 1",
            fix=f"set {prefix}max_steps=-1 or a number of steps",
        )
    if recipe.num_processes % recipe.num_machines:
        raise ConfigError(
            f"{source}: '{prefix}num_processes' is {recipe.num_processes}, which does not split evenly "
            f"over '{prefix}num_machines'={recipe.num_machines}",
            fix=f"set {prefix}num_processes to a multiple of {recipe.num_machines} (processes in all)",
        )
    final = recipe.final_learning_rate
    if final is not None and recipe.lr_scheduler not in FINAL_LR_SCHEDULERS:
        raise ConfigError(
            f"{source}: '{prefix}final_learning_rate' is set, but '{prefix}lr_scheduler' is "
            f"{recipe.lr_scheduler!r}",
            fix=f"use lr_scheduler {' or '.join(FINAL_LR_SCHEDULERS)}, or final_learning_rate=null",
        )
    if final is not None and final >= recipe.learning_rate:
        raise ConfigError(
            f"{source}: '{prefix}final_learning_rate' ({final:g}) is not below "
            f"'{prefix}learning_rate' ({recipe.learning_rate:g})",
            fix="a final learning rate below the peak, e.g. 9e-6 for 1e-5",
        )
    trackers = (recipe.report_to,) if isinstance(recipe.report_to, str) else tuple(recipe.report_to)
    for t in trackers:
        if t not in TRACKERS:
            from harness.core.config import did_you_mean

            raise ConfigError(
                f"{source}: '{prefix}report_to' names {t!r}, not a tracker transformers knows",
                fix=did_you_mean(t, TRACKERS, otherwise=f"one of {', '.join(TRACKERS)}"),
            )
    return dataclasses.replace(recipe, report_to=tuple(dict.fromkeys(t for t in trackers if t != "none")))


def semantic_dict(recipe: Recipe) -> dict[str, Any]:
    from harness.core.config import to_dict

    d = to_dict(recipe)
    for k in NON_SEMANTIC_FIELDS:
        d.pop(k, None)
    for k, default in LATE_FIELDS.items():
        if d.get(k) == default:
            d.pop(k, None)
    return d
