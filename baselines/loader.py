"""The shared baseline loader: read a source's rows, map each with its pure `to_record`, dedup,
sample to N with a fixed seed. Every skipped row is counted by reason (and written to drops.jsonl).

Where rows come from: `path: hub` - the pinned hub dataset (online, or offline with a warm
`datasets` cache); `path: FILE` (JSON list, JSONL[.gz], Parquet); no path - the source's bundled
demo file if it has one (a warning says so), the experiment's seed set for `oasst`, else the hub.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from baselines._row import Skip
from harness.core.errors import ConfigError, InputError
from harness.core.records import InstructionRecord, dedup_records

log = logging.getLogger(__name__)


def iter_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(row id for drop records, row) from a local file; a malformed JSON line yields row None."""
    if not path.is_file():
        raise ConfigError(f"baseline file not found: {path}", fix="set options.path to an existing file")
    name = path.name
    if name.endswith(".parquet"):
        yield from _parquet_rows(path)
    elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        yield from _jsonl_rows(path)
    elif name.endswith(".json"):
        yield from _json_rows(path)
    else:
        raise ConfigError(f"unsupported baseline file type: {name}", fix="use .json, .jsonl(.gz) or .parquet")


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield f"{path.name}:{n}", row


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield f"{path.name}:{lineno}", json.loads(line)
                except json.JSONDecodeError:
                    yield f"{path.name}:{lineno}", None


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON ({e.msg})", path=path, line=e.lineno,
                         fix="the file must be one JSON list of rows (or use JSONL)") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise InputError("expected a JSON list of rows", path=path)
    for i, row in enumerate(data):
        yield f"{path.name}[{i}]", row


def iter_hub(module: Any, revision: str | None) -> Iterator[tuple[str, Any]]:
    try:
        import datasets

        kwargs: dict[str, Any] = {"revision": revision or module.REVISION, "split": "train"}
        if getattr(module, "HUB_DATA_FILES", None):
            kwargs["data_files"] = module.HUB_DATA_FILES
        rows = datasets.load_dataset(module.HUB_ID, module.HUB_CONFIG, **kwargs)
    except Exception as e:
        raise ConfigError(f"cannot load hub:{module.HUB_ID} ({type(e).__name__}: {str(e).splitlines()[0]})",
                          fix="go online once (it is cached), or download the file and set options.path") from None
    for i, row in enumerate(rows):
        yield f"{module.HUB_ID}:{i}", row


def load(module: Any, steplog: Any, *, path: str | None, revision: str | None, n: int | None, seed: int,
         seed_records: Sequence[InstructionRecord] = ()) -> list[InstructionRecord]:
    """Map, dedup and sample one source's rows, each in a counted step."""
    if path == "hub":
        rows: Iterator[tuple[str, Any]] = iter_hub(module, revision)
    elif path is not None:
        rows = iter_rows(Path(path).expanduser())
    elif getattr(module, "DEMO_FILE", None) is not None:
        log.warning("%s: no options.path, so the bundled demo file is used (%s); set path: hub for the real "
                    "dataset", module.__name__, module.DEMO_FILE.name)
        rows = iter_rows(module.DEMO_FILE)
    elif getattr(module, "USE_SEED", False):
        rows = ((r.id, r.to_dict()) for r in seed_records)
    else:
        rows = iter_hub(module, revision)
    records: list[InstructionRecord] = []
    with steplog.step("load") as s:
        for row_id, row in rows:
            if not isinstance(row, dict):
                s.drop("malformed_row", row_id)
                continue
            try:
                rec = module.to_record(row)
            except Skip as skip:
                s.drop(skip.reason, row_id)
                continue
            s.keep()
            records.append(rec)
    with steplog.step("dedup") as s:
        unique = dedup_records(records, s)
    with steplog.step("sample") as s:
        if n is None or n >= len(unique):
            s.keep(len(unique))
            return unique
        chosen = set(random.Random(seed).sample(range(len(unique)), n))
        out = []
        for i, r in enumerate(unique):
            if i in chosen:
                s.keep()
                out.append(r)
            else:
                s.drop("not_sampled", r.id, write=False)
        return out
