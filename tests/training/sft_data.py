"""Records for the trainer tests: real (instruction, response) pairs from stdlib docstrings."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from harness.backends.spec import resolve_base_model
from harness.core.records import InstructionRecord, Message, content_id
from harness.core.runs import StageOutcome
from harness.core.stdlib_text import iter_stdlib_docstrings
from harness.training.recipe import Recipe
from harness.training.sft import train_fingerprint, train_stage


def make_records(n: int, *, offset: int = 0, max_chars: int = 300) -> list[InstructionRecord]:
    """`n` records: every 5th has a system tag, every 7th has two user/assistant turns."""
    docs = list(itertools.islice(iter_stdlib_docstrings(min_chars=80), offset, offset + n))
    out = []
    for i, (name, doc) in enumerate(docs):
        msgs = [Message("user", f"Explain {name}."), Message("assistant", doc[:max_chars])]
        if i % 5 == 0:
            msgs.insert(0, Message("system", "Answer in the style of an AI Assistant."))
        if i % 7 == 0:
            msgs += [
                Message("user", "Shorter, please."),
                Message("assistant", doc.splitlines()[0][:80] or name),
            ]
        out.append(InstructionRecord(tuple(msgs), "test", {"origin": "seed" if i % 5 == 0 else "web"}))
    return out


def write_records(path: Path, records: list[InstructionRecord]) -> Path:
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    return path


def train(
    directory: Path,
    model: str | Path,
    records: Sequence[InstructionRecord],
    recipe: Recipe,
    *,
    force: bool = False,
) -> StageOutcome:
    """`train_stage` keyed by the one fingerprint rule as a stand-alone caller keys it: the base model
    as given (a spec such as hf:/path, resolved to its weights' path for the trainer, as
    `harness train --model` does), and the records' ids as the upstream."""
    upstream = {"records": content_id(*(r.id for r in records))}
    fp = train_fingerprint(recipe, base=str(model), upstream=upstream)
    return train_stage(
        Path(directory),
        base_model=resolve_base_model(str(model)),
        model_name=str(model),
        records=records,
        recipe=recipe,
        fingerprint=fp,
        upstream=upstream,
        force=force,
    )
