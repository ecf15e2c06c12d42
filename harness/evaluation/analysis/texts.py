"""Load the texts to analyse from a dataset JSONL, an alpaca_eval outputs JSON or a built dataset directory.

A `TextSet` holds one text per record (the assistant answer or the user prompt, picked by `field`)
and the instruction it answers, which is what pairs two sets that answer the same prompts. Empty
texts are dropped and counted; a record that lacks the field is an error naming file and line.
Subsampling is by a seeded hash of the instruction, so sets that answer the same prompts keep the
same prompts when both are cut to N.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.core.io import iter_jsonl, read_json
from harness.core.records import InstructionRecord

FIELDS = ("output", "response", "instruction")
_FORMATS = (
    "a dataset JSONL (records with 'messages', or rows with 'instruction' and 'output'), "
    "an alpaca_eval outputs JSON (a list of {instruction, output, ...}), "
    "or a built dataset directory holding dataset.jsonl"
)


@dataclasses.dataclass(frozen=True)
class TextSet:
    """The texts of one dataset or model, each with the instruction it belongs to."""

    name: str
    texts: tuple[str, ...]
    instructions: tuple[str, ...]
    path: str = ""
    field: str = "output"
    dropped_empty: int = 0
    subsampled_from: int | None = None  # the size before subsampling, if it was cut

    def __len__(self) -> int:
        return len(self.texts)

    def subsample(self, n: int, seed: int) -> TextSet:
        """Keep n texts chosen by a seeded hash of their instruction (unchanged when n >= len)."""
        if n >= len(self):
            return self
        keep = subsample_indices(self.instructions, n, seed)
        return dataclasses.replace(
            self,
            texts=tuple(self.texts[i] for i in keep),
            instructions=tuple(self.instructions[i] for i in keep),
            subsampled_from=self.subsampled_from or len(self),
        )


def subsample_indices(instructions: Sequence[str], n: int, seed: int) -> list[int]:
    """Indices of n items, in their original order, picked by a seeded hash of the instruction.

    Hashing the instruction rather than drawing positions means two sets answering the same
    prompts keep the same prompts, so they stay pairable after being cut.
    """
    if n >= len(instructions):
        return list(range(len(instructions)))

    def rank(i: int) -> tuple[bytes, int]:
        return hashlib.sha256(f"{seed}\x00{instructions[i]}".encode()).digest()[:8], i

    return sorted(sorted(range(len(instructions)), key=rank)[:n])


def _canonical_field(field: str) -> str:
    if field not in FIELDS:
        raise InputError(f"unknown field {field!r}", fix=f"use one of {', '.join(FIELDS)}")
    return "output" if field == "response" else field


def _pick(
    row: Mapping[str, Any], field: str, path: Path, line: int | None, index: int | None
) -> tuple[str, str]:
    """(instruction, text) of one row; a missing or non-string field names the file and line/index."""
    where = f"record [{index}]: " if index is not None else ""
    if "messages" in row:
        try:
            rec = InstructionRecord.from_dict(row)
        except (ValueError, StopIteration) as e:
            raise InputError(f"{where}{e}", path=path, line=line, fix=_FORMATS) from None
        if not any(m.role == "user" for m in rec.messages):
            raise InputError(f"{where}no user message", path=path, line=line)
        if field == "output" and not any(m.role == "assistant" for m in rec.messages):
            raise InputError(
                f"{where}no assistant message to analyse",
                path=path,
                line=line,
                fix="use --field instruction, or give records with an assistant answer",
            )
        return rec.instruction, rec.instruction if field == "instruction" else rec.response
    for key in ("instruction", field):
        if key not in row:
            raise InputError(f"{where}missing field {key!r}", path=path, line=line, fix=_FORMATS)
        if not isinstance(row[key], str):
            # alpaca_eval files hold null outputs for failed generations; treat those as empty
            if row[key] is None:
                continue
            raise InputError(
                f"{where}field {key!r} must be a string, got {type(row[key]).__name__}", path=path, line=line
            )
    return row["instruction"] or "", row[field] or ""


def load_text_set(path: str | Path, field: str = "output", name: str | None = None) -> TextSet:
    """Read one set of texts from a file or a built dataset directory."""
    field = _canonical_field(field)
    path = Path(path)
    if path.is_dir():
        if not (path / "dataset.jsonl").exists():
            raise InputError("directory has no dataset.jsonl", path=path, fix=_FORMATS)
        default_name, path = path.name, path / "dataset.jsonl"
    else:
        default_name = path.name.split(".")[0]
    pairs: list[tuple[str, str]] = []
    if path.suffix == ".json":
        data = read_json(path)
        if not isinstance(data, list):
            raise InputError(
                f"expected a JSON list of records, got {type(data).__name__}", path=path, fix=_FORMATS
            )
        for i, row in enumerate(data):
            if not isinstance(row, Mapping):
                raise InputError(f"record [{i}] is not an object", path=path)
            pairs.append(_pick(row, field, path, None, i))
    else:
        pairs = [_pick(row, field, path, line, None) for line, row in iter_jsonl(path)]
    kept = [(ins, text) for ins, text in pairs if text.strip()]
    if not kept:
        raise InputError(f"no non-empty {field} texts ({len(pairs)} records)", path=path)
    return TextSet(
        name=name or default_name,
        texts=tuple(t for _, t in kept),
        instructions=tuple(i for i, _ in kept),
        path=str(path),
        field=field,
        dropped_empty=len(pairs) - len(kept),
    )


def unique_names(sets: Sequence[TextSet]) -> list[TextSet]:
    """Rename sets that share a name (two files called dataset.jsonl) as name, name#2, ..."""
    seen: dict[str, int] = {}
    out = []
    for s in sets:
        seen[s.name] = seen.get(s.name, 0) + 1
        out.append(s if seen[s.name] == 1 else dataclasses.replace(s, name=f"{s.name}#{seen[s.name]}"))
    return out
