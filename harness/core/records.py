"""Record schema: small frozen dataclasses with content-hash ids, stored as JSONL one per line.

Ids are hashes of the content (not of the position or the run), so the same record has the same id
in every run and on every machine. Provenance (source document, scores, raw judge text, rewrites,
drop reasons) rides along on the record so any training example can be traced to its origin.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from harness.core.errors import InputError

ROLES = ("system", "user", "assistant")


def content_id(*parts: Any, length: int = 16) -> str:
    """A stable hex id of JSON-serialisable content."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclasses.dataclass(frozen=True)
class Message:
    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def messages_from(raw: Any, *, where: str = "messages") -> tuple[Message, ...]:
    """Validate a JSON list of {"role", "content"} objects into Messages."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ValueError(f"'{where}' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"'{where}[{i}]' needs the fields 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ValueError(f"'{where}[{i}].role' is {m['role']!r}; use one of {', '.join(ROLES)}")
        if not isinstance(m["content"], str):
            raise ValueError(f"'{where}[{i}].content' must be a string")
        out.append(Message(m["role"], m["content"]))
    return tuple(out)


def _msgs_json(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [m.to_dict() for m in messages]


@dataclasses.dataclass(frozen=True)
class Document:
    """An unlabelled text from a corpus (a web page, a docstring)."""

    text: str
    source: str = ""
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def id(self) -> str:
        return content_id("doc", self.text)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "source": self.source, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Document:
        return cls(text=d["text"], source=d.get("source", ""), meta=d.get("meta") or {})


def provenance_of(value: Any) -> dict[str, Any]:
    """A row's provenance as a dict: the JSON string records are written with, or a mapping (older files)."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"provenance must be a JSON object, got {type(value).__name__}")
    return dict(value or {})


@dataclasses.dataclass(frozen=True)
class InstructionRecord:
    """One training example: a conversation, where it came from, and how it was made."""

    messages: tuple[Message, ...]
    source: str
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def id(self) -> str:
        return content_id("rec", _msgs_json(self.messages))

    @property
    def instruction(self) -> str:
        return next(m.content for m in self.messages if m.role == "user")

    @property
    def response(self) -> str:
        return next((m.content for m in self.messages if m.role == "assistant"), "")

    def to_dict(self) -> dict[str, Any]:
        """The record as one JSONL row. Provenance is a JSON string: its fields differ between builders
        and baselines, and a column of one type keeps any mix of datasets loadable with
        `datasets.load_dataset("json", ...)` (read it back with `provenance_of`)."""
        return {
            "id": self.id,
            "messages": _msgs_json(self.messages),
            "source": self.source,
            "provenance": json.dumps(dict(self.provenance), ensure_ascii=False),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InstructionRecord:
        return cls(messages_from(d.get("messages")), d.get("source", ""), provenance_of(d.get("provenance")))


@dataclasses.dataclass(frozen=True)
class Generation:
    """A model's answer to one request: text, why it stopped, token counts, optional logprobs."""

    id: str
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    top_logprobs: tuple[tuple[str, float], ...] | None = None
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        # written out by hand: dataclasses.asdict was most of the cost of writing 100K outputs
        top = (
            None
            if self.top_logprobs is None
            else [{"token": t, "logprob": lp} for t, lp in self.top_logprobs]
        )
        return {
            "id": self.id,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "top_logprobs": top,
            "model": self.model,
        }

    @functools.cached_property
    def json(self) -> str:
        """`to_dict` as one JSON line, made once: the request cache stores it and `harness generate`
        writes it, so 100K results are serialised once, not twice."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def prompt_messages(
    row: Mapping[str, Any], *, path: object = None, line: int | None = None
) -> tuple[str, tuple[Message, ...]]:
    """Read one prompt row, `{"id", "messages"}` or `{"id", "instruction"}`, into (id, messages).

    A row without an id gets the content id of its messages, so reruns agree.
    """
    try:
        if "messages" in row:
            msgs = messages_from(row["messages"])
        elif "instruction" in row:
            if not isinstance(row["instruction"], str) or not row["instruction"].strip():
                raise ValueError("'instruction' must be a non-empty string")
            msgs = (Message("user", row["instruction"]),)
        else:
            raise ValueError("the row has neither 'messages' nor 'instruction'")
    except ValueError as e:
        raise InputError(
            str(e),
            path=path,
            line=line,
            fix='each line must be {"id": ..., "messages": [{"role": "user", "content": ...}]} '
            'or {"id": ..., "instruction": ...}',
        ) from None
    rid = row.get("id")
    if rid is None:
        rid = content_id("prompt", _msgs_json(msgs))
    return str(rid), msgs


def dedup_records(
    records: Sequence[InstructionRecord], step: Any = None, reason: str = "duplicate"
) -> list[InstructionRecord]:
    """Keep the first record of each content id, in order; `step` (a builder step log with keep()
    and drop(reason, id)), when given, counts every keep and drop."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r.id in seen:
            if step is not None:
                step.drop(reason, r.id)
            continue
        seen.add(r.id)
        if step is not None:
            step.keep()
        out.append(r)
    return out


def with_system_tag(record: InstructionRecord, tag: str) -> InstructionRecord:
    """The record with `tag` as its system message (an existing system message is replaced, so a
    record is never tagged twice); the tag is noted in its provenance."""
    rest = tuple(m for m in record.messages if m.role != "system")
    prov = {**record.provenance, "tag": tag}
    return dataclasses.replace(record, messages=(Message("system", tag), *rest), provenance=prov)


def in_id_order(records: Sequence[InstructionRecord]) -> list[InstructionRecord]:
    """Records sorted by content id: a canonical order that does not depend on how a corpus was
    sharded (a sharded build's dataset.jsonl equals the unsharded one's)."""
    return sorted(records, key=lambda r: r.id)
