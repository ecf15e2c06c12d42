"""The seed set: high-quality (instruction, response) pairs that start both papers' pipelines.

Both papers use 3,200 first turns of Open Assistant (English, the top-ranked reply). Here the
seed comes from one of:

- `bundled:demo` - 49 pairs written for this project (`harness/data/demo_seed.jsonl`);
- `control:<task>` - pairs of a known-answer task (`harness.core.tasks`, the positive control);
- a local JSONL path - InstructionRecord lines, or `{"instruction", "response"|"output"}` rows;
- `hub:OpenAssistant/oasst1[@commit]`, or a local copy of that repository - first turns, read
  from the train split's Parquet files (`harness.core.sources`: the Hub, or `HARNESS_HUB_MIRROR`).

The papers' rule: a conversation's root prompt in English with its rank-0 (best-ranked) assistant
reply, deleted messages left out; `load_seed` then draws `seed_data.n` (3,200 in both papers) with a
fixed seed, keeping the file order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, InputError
from harness.core.records import InstructionRecord, Message, messages_from, provenance_of

DATA_DIR = Path(__file__).resolve().parents[1] / "harness" / "data"
BUNDLED = {"demo": DATA_DIR / "demo_seed.jsonl"}
OASST_ID = "OpenAssistant/oasst1"
SAMPLE_SEED = 0


def load_seed(seed_data: Any) -> list[InstructionRecord]:
    """The seed records a `SeedData` names, capped to `seed_data.n` (fixed seed)."""
    source: str = seed_data.source
    if source.startswith("control:"):
        from harness.core import tasks

        task = tasks.task_of_source(source, key="seed_data.source")
        records = [
            _seed_record(ins, ans, {"task": task.name})
            for ins, ans in tasks.examples(task, "seed", tasks.SIZES["seed"])
        ]
    elif source.startswith("bundled:"):
        key = source.split(":", 1)[1]
        if key not in BUNDLED:
            raise ConfigError(
                f"seed_data.source: no bundled seed set '{key}'",
                fix=f"bundled sets: {', '.join('bundled:' + k for k in BUNDLED)}",
            )
        records = read_seed_file(BUNDLED[key])
    elif source.startswith("hub:") or Path(source).expanduser().is_dir():
        records = list(oasst_first_turns(source, language=seed_data.language))
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"seed_data.source: file not found: {source}",
                fix="use bundled:demo, hub:OpenAssistant/oasst1[@revision] or a JSONL path",
            )
        records = read_seed_file(path)
    if not records:
        raise InputError("the seed set is empty", path=source, fix="the seed needs at least one pair")
    return cap(records, seed_data.n, seed=SAMPLE_SEED)


def cap(records: list[InstructionRecord], n: int | None, *, seed: int) -> list[InstructionRecord]:
    """At most n records, drawn with a fixed seed, in their original order."""
    if n is None or n >= len(records):
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), n))
    return [records[i] for i in keep]


def _seed_record(
    instruction: str, response: str, extra: Mapping[str, Any] | None = None
) -> InstructionRecord:
    return InstructionRecord(
        (Message("user", instruction), Message("assistant", response)),
        "seed",
        {"origin": "seed", **dict(extra or {})},
    )


def read_seed_file(path: Path) -> list[InstructionRecord]:
    """InstructionRecord lines or {"instruction", "response"|"output"} rows; a bad line names its line."""
    from harness.core.io import iter_jsonl

    out = []
    for lineno, row in iter_jsonl(path):
        try:
            if "messages" in row:
                msgs = messages_from(row["messages"])
                rec = InstructionRecord(
                    msgs,
                    row.get("source") or "seed",
                    {"origin": "seed", **provenance_of(row.get("provenance"))},
                )
                rec.instruction  # noqa: B018 - raises StopIteration without a user turn
                if not rec.response:
                    raise ValueError("the conversation has no assistant turn")
            else:
                ins, resp = row.get("instruction"), row.get("response", row.get("output"))
                if (
                    not isinstance(ins, str)
                    or not ins.strip()
                    or not isinstance(resp, str)
                    or not resp.strip()
                ):
                    raise ValueError(
                        "needs non-empty string fields 'instruction' and 'response' (or 'output')"
                    )
                rec = _seed_record(ins, resp)
        except (ValueError, StopIteration) as e:
            raise InputError(
                str(e) or "the conversation has no user turn",
                path=path,
                line=lineno,
                fix='each line: {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} '
                'or {"instruction": ..., "response": ...}',
            ) from None
        out.append(rec)
    return out


OASST_FILES = ["data/train-*.parquet"]  # the repository's train split (its .jsonl.gz trees are not read)


def oasst_first_turns(ref: str, *, language: str = "en") -> Iterable[InstructionRecord]:
    """First turns of Open Assistant: a root prompt in `language` and its rank-0 assistant reply,
    from the train split's Parquet files of the hub repository or of a local copy of it."""
    import pyarrow.parquet as pq

    from harness.core import sources

    where = sources.repo_dir(ref, key="seed_data.source", allow_patterns=OASST_FILES)
    files = sources.match_files(where.directory, OASST_FILES, key="seed_data.source")

    def rows() -> Iterable[Mapping[str, Any]]:
        for f in files:
            pf = pq.ParquetFile(f)
            columns = [c for c in _OASST_COLUMNS if c in pf.schema_arrow.names]
            for batch in pf.iter_batches(batch_size=4096, columns=columns):
                yield from batch.to_pylist()

    return first_turns(rows(), language=language, source=str(where.ref))


_OASST_COLUMNS = ("message_id", "parent_id", "role", "lang", "rank", "text", "deleted")


def first_turns(
    rows: Iterable[Mapping[str, Any]], *, language: str = "en", source: str = OASST_ID
) -> list[InstructionRecord]:
    """Pure part of the oasst mapping: message-tree rows -> (root prompt, rank-0 reply) records."""
    prompts: dict[str, Mapping[str, Any]] = {}
    replies: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r.get("deleted"):  # withdrawn messages are not part of the released conversations
            continue
        if r.get("parent_id") is None and r.get("role") == "prompter" and r.get("lang") == language:
            prompts[r["message_id"]] = r
        elif r.get("role") == "assistant" and r.get("rank") == 0 and r.get("parent_id"):
            replies[r["parent_id"]] = r
    out = []
    for mid, p in prompts.items():
        reply = replies.get(mid)
        if reply and p.get("text", "").strip() and reply.get("text", "").strip():
            out.append(_seed_record(p["text"], reply["text"], {"message_id": mid, "source": source}))
    return out
