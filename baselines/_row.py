"""Helpers every source module's pure row mapping uses: the Skip signal and record assembly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.records import InstructionRecord, Message


class Skip(Exception):
    """A row the mapping cannot use; the reason is counted and written to drops.jsonl."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def text(row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Skip(f"missing_{key}" if value is None else f"bad_{key}")
    value = value.strip()
    if required and not value:
        raise Skip(f"empty_{key}")
    return value


def record(
    source: str, instruction: str, response: str, *, system: str = "", **provenance: Any
) -> InstructionRecord:
    msgs = ((Message("system", system),) if system else ()) + (
        Message("user", instruction),
        Message("assistant", response),
    )
    return InstructionRecord(msgs, source, {"origin": "baseline", "dataset": source, **provenance})
