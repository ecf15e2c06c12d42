"""The training job: the chat template to train with, the records that fit it, written to disk.

`write_job` is the first step of the train stage. Given the base model's weights (a local
directory or hub id; callers resolve a backend spec with `harness.backends.spec.resolve_base_model`),
it picks the chat template (`choose_template`), screens the records with it (`screen`), and writes what `fit` reads,
in this process or in every rank of an `accelerate launch`:

- `train_job.json`: base model path, recipe, training template, inference template, the steps at
  which the model is saved besides the end (`train.checkpoints`);
- `train.jsonl`: the kept records; `drops.jsonl`: every dropped record with its reason.

The loss is on assistant tokens only (TRL's `assistant_only_loss=True`), which needs
`{% generation %}` markers in the template. Screening tokenizes each record the way TRL does: a
record without an assistant turn, or longer than `recipe.max_length` (dropped, or truncated when
`recipe.overlong` is "truncate" and dropped anyway if no assistant token survives), is a counted
drop, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import from_dict, to_dict
from harness.core.errors import ConfigError, InputError
from harness.core.io import read_json, write_json, write_jsonl
from harness.core.records import InstructionRecord
from harness.training.recipe import Recipe

log = logging.getLogger(__name__)

JOB_FILE = "train_job.json"


def choose_template(tokenizer: Any, recipe: Recipe) -> tuple[str, str, str]:
    """(training template, inference template to save, which) for assistant-only loss.

    - `recipe.chat_template` "harness" or "llama2": that template of `harness.core.chat` for both.
    - a tokenizer without a template (a base model such as Llama-2-7b-hf) under "auto":
      `harness.core.chat.CHAT_TEMPLATE` for both.
    - a template with generation markers: used as is.
    - a template without markers (most chat models): TRL's training variant of it for training
      (for the families TRL knows), the original saved for inference. A template TRL cannot patch
      is an error naming the fix.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    from harness.core.chat import CHAT_TEMPLATE, NAMED_TEMPLATES

    current = getattr(tokenizer, "chat_template", None)
    if recipe.chat_template in NAMED_TEMPLATES:
        named = NAMED_TEMPLATES[recipe.chat_template]
        return named, named, recipe.chat_template
    if not current:
        return CHAT_TEMPLATE, CHAT_TEMPLATE, "harness"
    if recipe.chat_template != "auto":
        raise ConfigError(
            f"recipe key 'chat_template' is {recipe.chat_template!r}",
            fix=f"use auto or one of {', '.join(NAMED_TEMPLATES)}",
        )
    if has_generation_markers(current):
        return current, current, "model"
    try:
        patched = get_training_chat_template(tokenizer)
    except Exception as e:  # TRL raises for template families it has no training variant of
        raise ConfigError(
            f"the chat template of {getattr(tokenizer, 'name_or_path', '?')} has no "
            f"{{% generation %}} markers and TRL cannot patch it ({e})",
            fix="set the recipe key chat_template=harness to train with the harness template",
        ) from None
    return patched or current, current, "model+trl-training-variant"


def screen(
    records: Sequence[InstructionRecord], tokenizer: Any, template: str, recipe: Recipe
) -> tuple[list[InstructionRecord], list[dict[str, Any]], dict[str, int]]:
    """Kept records, drops ({id, reason, tokens}), counts: the same tokenization TRL applies."""
    kept: list[InstructionRecord] = []
    drops: list[dict[str, Any]] = []
    counts = {
        "records_in": len(records),
        "dropped_no_assistant": 0,
        "dropped_too_long": 0,
        "truncated": 0,
        "dropped_no_assistant_after_truncation": 0,
        "tokens": 0,
        "assistant_tokens": 0,
    }

    def drop(record: InstructionRecord, count: str, reason: str, tokens: int | None = None) -> None:
        counts[count] += 1
        drops.append(
            {"id": record.id, "reason": reason, **({"tokens": tokens} if tokens is not None else {})}
        )

    for r in records:
        if not any(m.role == "assistant" for m in r.messages):
            drop(r, "dropped_no_assistant", "no_assistant_turn")
            continue
        out = tokenizer.apply_chat_template(
            [m.to_dict() for m in r.messages],
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        if not any(mask):
            drop(r, "dropped_no_assistant", "no_assistant_tokens", len(ids))
            continue
        if len(ids) > recipe.max_length:
            if recipe.overlong == "drop":
                drop(r, "dropped_too_long", "too_long", len(ids))
                continue
            ids, mask = ids[: recipe.max_length], mask[: recipe.max_length]
            if not any(mask):
                drop(
                    r,
                    "dropped_no_assistant_after_truncation",
                    "no_assistant_tokens_after_truncation",
                    len(ids),
                )
                continue
            counts["truncated"] += 1
        counts["tokens"] += len(ids)
        counts["assistant_tokens"] += sum(1 for b in mask if b)
        kept.append(r)
    counts["records_kept"] = len(kept)
    return kept, drops, counts


def screener(base_path: str, recipe: Recipe) -> Callable[[InstructionRecord], bool]:
    """fits(record): whether `screen` keeps the record under the training template of the base model
    at `base_path` (a local directory or hub id). The train stage screens each dataset with it before
    subsampling, so N counts trainable records."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    template = choose_template(tokenizer, recipe)[0]
    return lambda record: bool(screen([record], tokenizer, template, recipe)[0])


def write_job(
    directory: Path,
    base_path: str,
    records: Sequence[InstructionRecord],
    recipe: Recipe,
    save_at_steps: Sequence[int] = (),
) -> dict[str, Any]:
    """Screen `records` and write the job into `directory` for the base model at `base_path` (a
    local directory or hub id); returns the screening stats.
    `save_at_steps`: optimizer steps at which `fit` saves the model too (`steps/<k>/`)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    train_template, inference_template, template_kind = choose_template(tokenizer, recipe)
    kept, drops, counts = screen(records, tokenizer, train_template, recipe)
    write_jsonl(directory / "drops.jsonl", drops)
    write_jsonl(directory / "train.jsonl", [r.to_dict() for r in kept])
    if not kept:
        raise InputError(
            f"no trainable records: {counts['records_in']} given, {counts['dropped_no_assistant']} "
            f"without an assistant turn, {counts['dropped_too_long']} longer than max_length "
            f"{recipe.max_length}; see {directory / 'drops.jsonl'}",
            fix="check the dataset (each record needs an assistant message), or raise "
            "max_length / set overlong=truncate",
        )
    for reason in ("dropped_no_assistant", "dropped_too_long", "truncated"):
        if counts[reason]:
            log.warning(
                "%s: %d of %d records %s",
                directory.name,
                counts[reason],
                len(records),
                reason.replace("_", " "),
            )
    write_json(
        directory / JOB_FILE,
        {
            "base_model": base_path,
            "recipe": to_dict(recipe),
            "train_template": train_template,
            "inference_template": inference_template,
            "save_at_steps": sorted(save_at_steps),
        },
    )
    # the share of the trained tokens that carry loss (assistant tokens), from the screened records
    share = round(counts["assistant_tokens"] / max(1, counts["tokens"]), 4)
    return {**counts, "loss_token_share": share, "template": template_kind}


def read_job(directory: Path) -> tuple[dict[str, Any], Recipe]:
    """The job `write_job` wrote, with its recipe as a `Recipe`."""
    job = read_json(directory / JOB_FILE)
    return job, from_dict(Recipe, dict(job["recipe"]))
