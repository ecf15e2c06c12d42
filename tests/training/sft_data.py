"""Records for the trainer tests: real (instruction, response) pairs from stdlib docstrings."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from harness.core.records import InstructionRecord, Message
from harness.core.stdlib_text import iter_stdlib_docstrings


def make_records(n: int, *, offset: int = 0, max_chars: int = 300) -> list[InstructionRecord]:
    """`n` records: every 5th has a system tag, every 7th has two user/assistant turns."""
    docs = list(itertools.islice(iter_stdlib_docstrings(min_chars=80), offset, offset + n))
    out = []
    for i, (name, doc) in enumerate(docs):
        msgs = [Message("user", f"Explain {name}."), Message("assistant", doc[:max_chars])]
        if i % 5 == 0:
            msgs.insert(0, Message("system", "Answer in the style of an AI Assistant."))
        if i % 7 == 0:
            msgs += [Message("user", "Shorter, please."), Message("assistant", doc.splitlines()[0][:80] or name)]
        out.append(InstructionRecord(tuple(msgs), "test", {"origin": "seed" if i % 5 == 0 else "web"}))
    return out


def write_records(path: Path, records: list[InstructionRecord]) -> Path:
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    return path
