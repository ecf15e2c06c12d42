"""The shared baseline loader: stream a source's rows, map each with its pure `to_record`, dedup,
sample to N with a fixed seed, in bounded memory. Every skipped row is counted by reason (and
written to drops.jsonl); a source that gives nothing, or far less than asked, fails with its counts.

Where rows come from (`options.path`): `hub` - the source module's repository (`SOURCE`) at its
pinned `REVISION`, resolved to files by `harness.core.sources` (the Hub, or the `HARNESS_HUB_MIRROR`
copy) and read from the data files its `FILES` patterns name, never through a loading script; a
directory - a local copy laid out like that repository, read by the same code; a file (JSON list,
JSONL[.gz], Parquet); none - the bundled demo file when the source has one (a warning says so), the
experiment's seed set for `oasst`, else the hub.

Sampling is bottom-k on a seeded hash of each record's id: the N records with the smallest hashes,
so the same records are chosen on every run whatever the file order, holding N records (not the
source) in memory. Without N every record is kept, in file order.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from baselines._row import Skip
from harness.core import sources
from harness.core.bloom import BloomFilter
from harness.core.errors import ConfigError, InputError
from harness.core.records import InstructionRecord

log = logging.getLogger(__name__)

# fewer records than this share of what was asked fails the build (a wrong file, split or schema)
MIN_SHARE_OF_N = 0.5


def iter_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(row id for drop records, row) from a local file; a malformed JSON line yields row None."""
    if not path.is_file():
        raise ConfigError(f"baseline file not found: {path}", fix="set options.path to an existing file")
    name = path.name
    if name.endswith(".parquet"):
        yield from _parquet_rows(path)
    elif name.endswith(sources.JSONL_SUFFIXES):
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
    for lineno, row in sources.iter_json_lines(str(path), key="options.path"):
        yield f"{path.name}:{lineno}", row


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    # a JSON list is parsed whole (several times the file's size in memory); JSONL and Parquet stream
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(
            f"malformed JSON ({e.msg})",
            path=path,
            line=e.lineno,
            fix="the file must be one JSON list of rows (or use JSONL)",
        ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise InputError("expected a JSON list of rows", path=path)
    for i, row in enumerate(data):
        yield f"{path.name}[{i}]", row


def source_files(module: Any, directory: Path, files: str | list[str] | None) -> list[Path]:
    """The data files of a repository copy that the source reads (a script is never one of them)."""
    patterns = files or module.FILES
    try:
        return sources.match_files(
            directory, patterns, key="options.files" if files else f"{module.__name__}.FILES"
        )
    except ConfigError:
        scripts = sorted(p.name for p in directory.glob("*.py"))
        if scripts:
            raise ConfigError(
                f"{directory} holds a loading script ({', '.join(scripts)}) and no data file matching "
                f"{patterns}; scripts are not run (datasets >= 4 refuses them)",
                fix=f"use the source's data files: path: hub reads {module.SOURCE}",
            ) from None
        raise


def resolve(
    module: Any, path: str | None, revision: str | None, files: str | list[str] | None
) -> tuple[list[Path], dict[str, Any]]:
    """The files to read and what to record about where they came from."""
    if path == "hub" or (path is not None and Path(path).expanduser().is_dir()):
        if path == "hub":
            if not getattr(module, "SOURCE", None):
                raise ConfigError(
                    f"{module.__name__} has no hub source", fix="set options.path to a local file"
                )
            where = sources.repo_dir(
                module.SOURCE,
                key="options.path",
                revision=revision or module.REVISION,
                allow_patterns=_as_list(files or module.FILES),
            )
        else:
            where = sources.repo_dir(str(path), key="options.path")
        return source_files(module, where.directory, files), where.describe()
    if path is None:
        return [module.DEMO_FILE], {"source": f"bundled:{module.DEMO_FILE.name}", "commit": None}
    p = Path(path).expanduser()
    return [p], {"source": str(p), "commit": None}


def _as_list(x: str | list[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def _sample_key(seed: int, record_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{record_id}".encode(), digest_size=8).digest(), "big")


def reads_hub(module: Any, path: str | None) -> bool:
    """Whether the source's rows come from its repository: `path: hub`, or no path where the source
    has neither a bundled demo file nor the seed set to fall back on."""
    return path == "hub" or (
        path is None and getattr(module, "DEMO_FILE", None) is None and not getattr(module, "USE_SEED", False)
    )


def _rows(
    module: Any,
    path: str | None,
    revision: str | None,
    files: str | list[str] | None,
    seed_records: Sequence[InstructionRecord],
) -> tuple[Iterator[tuple[str, Any]], dict[str, Any]]:
    """The source's (row id, row) stream and where it comes from (source, commit)."""
    demo = getattr(module, "DEMO_FILE", None)
    if path is None and demo is not None:
        log.warning(
            "%s: no options.path, so the bundled demo file is used (%s); set path: hub for the real dataset",
            module.__name__,
            demo.name,
        )
    if path is None and demo is None and getattr(module, "USE_SEED", False):
        return ((r.id, r.to_dict()) for r in seed_records), {"source": "seed_data", "commit": None}
    file_list, origin = resolve(module, "hub" if reads_hub(module, path) else path, revision, files)
    return (row for f in file_list for row in iter_rows(f)), origin


class BottomK:
    """The n records with the smallest seeded hash of their id (all of them when n is None), the
    first of a repeated id kept; holds at most n records. The choice is exact; which passed-over rows
    were duplicates rather than not sampled is counted through a Bloom filter (fixed size, a ~1e-3
    chance of counting a unique row as a duplicate, never of choosing differently)."""

    def __init__(self, n: int | None, seed: int, capacity: int = 4_000_000):
        self.n, self.seed = n, seed
        self.kept: dict[str, tuple[int, InstructionRecord]] = {}  # id -> (file position, record)
        self._heap: list[tuple[int, int, str]] = []  # (-sample key, -position, id): the largest key on top
        self._passed = BloomFilter(capacity) if n is not None else None
        self.duplicates: list[str] = []
        self.not_sampled = 0

    def offer(self, pos: int, rec: InstructionRecord) -> None:
        if rec.id in self.kept:
            self.duplicates.append(rec.id)
            return
        if self.n is None:
            self.kept[rec.id] = (pos, rec)
            return
        key = _sample_key(self.seed, rec.id)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, (-key, -pos, rec.id))
            self.kept[rec.id] = (pos, rec)
            return
        if key < -self._heap[0][0]:  # a repeat of a passed-over id never gets here: the top only falls
            _, _, out_id = heapq.heapreplace(self._heap, (-key, -pos, rec.id))
            del self.kept[out_id]
            self._passed.add(out_id.encode())
            self.kept[rec.id] = (pos, rec)
            self.not_sampled += 1
        elif self._passed.add(rec.id.encode()):
            self.not_sampled += 1
        else:
            self.duplicates.append(rec.id)

    def records(self) -> list[InstructionRecord]:
        return [rec for _, rec in sorted(self.kept.values(), key=lambda pr: pr[0])]


def load(
    module: Any,
    steplog: Any,
    *,
    path: str | None,
    revision: str | None,
    n: int | None,
    seed: int,
    seed_records: Sequence[InstructionRecord] = (),
    files: str | list[str] | None = None,
) -> list[InstructionRecord]:
    """Map, dedup and sample one source's rows (steps load, dedup, sample, each counted)."""
    rows, origin = _rows(module, path, revision, files, seed_records)
    if isinstance(getattr(steplog, "sources", None), list):  # the manifest records where the rows came from
        steplog.sources.append(origin)
    load_drops: Counter[str] = Counter()
    sample = BottomK(n, seed)
    n_mapped = 0
    with steplog.step("load") as s:
        for pos, (row_id, row) in enumerate(rows):
            try:
                if not isinstance(row, dict):
                    raise Skip("malformed_row")
                rec = module.to_record(row)
            except Skip as skip:
                s.drop(skip.reason, row_id)
                load_drops[skip.reason] += 1
                continue
            s.keep()
            n_mapped += 1
            sample.offer(pos, rec)
    with steplog.step("dedup") as s:
        for rid in sample.duplicates:
            s.drop("duplicate", rid)
        s.keep(n_mapped - len(sample.duplicates))
    with steplog.step("sample") as s:
        s.keep(len(sample.kept))
        for _ in range(sample.not_sampled):
            s.drop("not_sampled", "", write=False)
    out = sample.records()
    check_yield(module, origin, len(out), n, n_mapped, load_drops)
    return out


def check_yield(
    module: Any, origin: dict[str, Any], got: int, n: int | None, mapped: int, drops: Counter[str]
) -> None:
    """Fail when a source gives nothing, or less than MIN_SHARE_OF_N of the N asked for."""
    if got > 0 and (n is None or got >= n * MIN_SHARE_OF_N):
        if n is not None and got < n:
            log.warning(
                "%s: %d records where %d were asked (the source has no more)", module.__name__, got, n
            )
        return
    total = mapped + sum(drops.values())
    reasons = ", ".join(f"{k}={v}" for k, v in drops.most_common(4)) or (
        "no rows at all" if mapped == 0 else "none dropped"
    )
    if total == 0:
        cause = "the files hold no rows (wrong file pattern or split?)"
    elif mapped == 0:
        cause = "no row has the fields this loader reads (wrong schema or another release of the dataset?)"
    else:
        cause = "the source is smaller than asked (another split or file?)"
    raise InputError(
        f"{module.__name__.split('.')[-1]}: {got} records from {total} rows"
        + (f" where {n} were asked" if n else "")
        + f" ({reasons}): {cause}",
        path=origin.get("source"),
        fix="check options.path / options.files against the dataset's card; "
        "drops.jsonl lists every dropped row with its reason",
    )
