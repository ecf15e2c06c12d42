"""The unlabelled corpus, streamed: read, clean, filter by length, dedup, shard.

Sources: `stdlib` (docstrings of the installed standard library, the offline demo corpus), a JSONL
(optionally .gz) or Parquet file with a configurable text field, a folder of such files (nested, as
downloaded), `hub:<id>[@commit]` (the repository's data files, or - Dolma - the data-file URLs its
URL list names, each streamed over HTTP and gunzipped as it arrives; `harness.core.sources`), or `control:<task>` (the positive control's answers without
their instructions, `harness.core.tasks`). Nothing holds the whole corpus: documents flow one at a time
and the dedup state is two fixed-size Bloom filters, so memory stays flat however long the corpus
is (a false positive drops a unique document as a duplicate with probability ~1e-3).

Steps per document, each drop counted with its reason: malformed row -> clean (unicode NFC, no
control characters, collapsed blank lines and spaces) -> [cut into header-led segments, with a
header filter: the Humpback setting, `datasets_builders/segments.py`] -> length in characters -> length in tokens
(when `corpus.max_tokens` is set: documents that do not fit the context are dropped, as in the
back-and-forth paper) -> exact duplicate (normalised text) -> near duplicate (MinHash of word
5-grams, LSH bands). Sharding comes last: every shard reads, filters and deduplicates the whole
stream (cheap next to generation) and keeps the documents whose id hashes to `shard_index` modulo
`num_shards`, so the shards partition exactly the documents an unsharded build uses.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.core import sources
from harness.core.bloom import BloomFilter
from harness.core.errors import ConfigError, InputError
from harness.core.records import Document

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+", re.UNICODE)

# Dedup state is sized for this many kept documents; beyond it the false-positive rate grows
# slowly (it never errs the other way: a real duplicate is always caught).
DEDUP_CAPACITY = 4_000_000
NUM_PERM = 32
SHINGLE = 5


# ---------------------------------------------------------------- cleaning
def clean_text(text: str) -> str:
    """Normalise a document without changing its words: NFC, no control characters, one space
    between words, at most one blank line between paragraphs, no trailing spaces."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def normalised_key(text: str) -> bytes:
    """Exact-duplicate key: case and whitespace do not make a document new."""
    return hashlib.blake2b(" ".join(text.lower().split()).encode("utf-8"), digest_size=16).digest()


# ---------------------------------------------------------------- bounded dedup state
def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) whose LSH S-curve turns at about `threshold` Jaccard similarity."""
    best = min(
        ((b, num_perm // b) for b in range(1, num_perm + 1) if num_perm % b == 0),
        key=lambda br: abs((1 / br[0]) ** (1 / br[1]) - threshold),
    )
    return best


class NearDuplicates:
    """MinHash + LSH over word 5-grams with the band keys in a Bloom filter (bounded memory)."""

    _P = (1 << 31) - 1

    def __init__(self, threshold: float = 0.8, capacity: int = DEDUP_CAPACITY, seed: int = 0):
        import numpy as np

        self.bands, self.rows = lsh_shape(threshold)
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, self._P, size=NUM_PERM, dtype=np.uint64)
        self.b = rng.integers(0, self._P, size=NUM_PERM, dtype=np.uint64)
        self.seen = BloomFilter(capacity * self.bands)

    def signature(self, text: str):
        import numpy as np

        words = _WORD.findall(text.lower())
        n = max(1, len(words) - SHINGLE + 1)
        shingles = {" ".join(words[i : i + SHINGLE]) for i in range(n)} or {""}
        x = np.fromiter(
            (zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64, count=len(shingles)
        )
        # a < 2^31 and x < 2^32, so a * x + b fits in 64 bits
        return ((np.outer(self.a, x) + self.b[:, None]) % self._P).min(axis=1)

    def band_keys(self, text: str) -> list[bytes]:
        sig = self.signature(text)
        return [bytes([i]) + sig[i * self.rows : (i + 1) * self.rows].tobytes() for i in range(self.bands)]

    def check_and_add(self, text: str) -> bool:
        """True when `text` is a near duplicate of a document added before; else remember it."""
        keys = self.band_keys(text)
        if any(k in self.seen for k in keys):
            return True
        for k in keys:
            self.seen.add(k)
        return False


# ---------------------------------------------------------------- sources
def iter_source(
    source: str,
    text_field: str = "text",
    *,
    data_files: str | None = None,
    url_list: str | None = None,
    origins: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[str, str | None, str]]:
    """(row id, text or None if malformed, provenance source) for every row of a corpus source;
    `data_files` (a glob; `*` crosses folders) picks the files of a hub repository or a local
    directory, or filters the URLs of `url_list` (a file of the source listing data-file URLs).
    Where the rows came from (source, commit) is appended to `origins` when given."""
    if source == "stdlib":
        from harness.core.stdlib_text import iter_stdlib_docstrings

        for name, doc in iter_stdlib_docstrings():
            yield f"stdlib:{name}", doc, "stdlib"
        return
    if source.startswith("control:"):
        from harness.core import tasks

        task = tasks.task_of_source(source, key="corpus.source", invertible=True)
        for row_id, text in tasks.corpus_texts(task):
            yield row_id, text, source
        return
    path = Path(source).expanduser()
    if sources.is_remote(source) or path.is_dir():
        yield from _iter_repository(source, text_field, data_files, url_list, origins)
        return
    if not path.is_file():
        raise ConfigError(
            f"corpus.source: file not found: {source}",
            fix="use stdlib, a JSONL/Parquet path or folder, or hub:<dataset id>[@commit]",
        )
    if origins is not None:
        origins.append({"source": source, "commit": None})
    yield from _iter_file(str(path), text_field)


def _iter_repository(
    source: str,
    text_field: str,
    data_files: str | None,
    url_list: str | None,
    origins: list[dict[str, Any]] | None,
) -> Iterator[tuple[str, str | None, str]]:
    """A hub repository (or a local copy of one, or a folder of downloaded files): the files its URL
    list names, streamed, or its data files."""
    where = sources.repo_dir(
        source,
        key="corpus.source",
        allow_patterns=[url_list] if url_list else ([data_files] if data_files else None),
    )
    if origins is not None:
        origins.append(where.describe())
    listing = where.directory / url_list if url_list else None
    if listing is not None and not listing.is_file():
        if sources.is_remote(source):
            raise ConfigError(
                f"corpus.url_list: {source} has no file {url_list}",
                fix="name one of the repository's URL lists (Dolma: urls/v1.txt, urls/v1_6.txt, ...)",
            )
        log.info("corpus.source: %s has no %s; reading its data files (a downloaded copy)", source, url_list)
        listing = None
    if listing is not None:
        urls = sources.read_url_list(listing, data_files)
        if not urls:
            raise ConfigError(
                f"corpus.data_files: no URL in {url_list} matches {data_files!r}",
                fix="check the pattern against the list (Dolma v1's Common Crawl head: '*cc_en_head*')",
            )
        for url in urls:
            yield from _iter_file(url, text_field)
        return
    for f in sources.match_files(where.directory, data_files or "*", key="corpus.data_files"):
        if f.name.endswith((".parquet", *sources.JSONL_SUFFIXES)):
            yield from _iter_file(str(f), text_field)


def _iter_file(location: str, text_field: str) -> Iterator[tuple[str, str | None, str]]:
    name = location.rsplit("/", 1)[-1]
    if name.endswith(".parquet"):
        yield from _iter_parquet(Path(location), text_field)
    elif name.endswith(sources.JSONL_SUFFIXES):
        yield from _iter_jsonl(location, text_field)
    else:
        raise ConfigError(
            f"corpus.source: unsupported file type: {name}", fix="use .jsonl, .jsonl.gz, .json.gz or .parquet"
        )


def _iter_jsonl(location: str, text_field: str) -> Iterator[tuple[str, str | None, str]]:
    name = location.rsplit("/", 1)[-1]
    for lineno, row in sources.iter_json_lines(location, key="corpus.source"):
        text = row.get(text_field) if isinstance(row, dict) else None
        rid = row.get("id") if isinstance(row, dict) else None
        yield (
            str(rid) if rid is not None else f"{name}:{lineno}",
            text if isinstance(text, str) else None,
            location,
        )


def _iter_parquet(path: Path, text_field: str) -> Iterator[tuple[str, str | None, str]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if text_field not in pf.schema_arrow.names:
        raise InputError(
            f"no column '{text_field}'",
            path=path,
            fix=f"set corpus.text_field to one of {', '.join(pf.schema_arrow.names)}",
        )
    n = 0
    for batch in pf.iter_batches(columns=[text_field], batch_size=1024):
        for text in batch.column(0).to_pylist():
            n += 1
            yield f"{path.name}:{n}", text if isinstance(text, str) else None, str(path)


# ---------------------------------------------------------------- the pipeline
def iter_documents(
    corpus: Any,
    stats: Any,
    *,
    num_shards: int = 1,
    shard_index: int = 0,
    count_tokens: Callable[[str], int] | None = None,
    capacity: int = DEDUP_CAPACITY,
    rows: Iterable[tuple[str, str | None, str]] | None = None,
    origins: list[dict[str, Any]] | None = None,
) -> Iterator[Document]:
    """Clean, filtered, deduplicated documents of this shard, streamed, counting into `stats`
    (a StepStats: keep / drop(reason, id)). Stops after `corpus.max_documents` kept documents.
    With `corpus.segment: headers` each row is cut into header-led segments first, and each
    segment is a document. `rows` replaces the configured source (benchmarks feed synthetic documents)."""
    if not 0 <= shard_index < num_shards:
        raise ConfigError(f"--shard-index {shard_index} is outside 0..{num_shards - 1}")
    exact = BloomFilter(capacity) if corpus.dedup in ("exact", "near") else None
    near = NearDuplicates(corpus.near_dup_threshold, capacity) if corpus.dedup == "near" else None
    kept = 0
    if rows is None:
        rows = iter_source(
            corpus.source,
            corpus.text_field,
            data_files=getattr(corpus, "data_files", None),
            url_list=getattr(corpus, "url_list", None),
            origins=origins,
        )
    for doc, reason in _candidates(rows, corpus):
        if corpus.max_documents is not None and kept >= corpus.max_documents:
            break
        if reason is None:
            reason = _length_reason(doc.text, corpus, count_tokens)
        if reason is None and exact is not None and not exact.add(normalised_key(doc.text)):
            reason = "exact_duplicate"
        if reason is None and near is not None and near.check_and_add(doc.text):
            reason = "near_duplicate"
        if reason is not None:
            stats.drop(reason, doc.id, row=doc.meta.get("row"))
            continue
        kept += 1
        # every shard filters and deduplicates the whole stream, then keeps its share: the K shards
        # together hold exactly the documents of the unsharded build (max_documents included)
        if num_shards > 1 and int(doc.id[:8], 16) % num_shards != shard_index:
            stats.count("other_shards")
            continue
        stats.keep()
        yield doc


def _candidates(
    rows: Iterable[tuple[str, str | None, str]], corpus: Any
) -> Iterator[tuple[Document, str | None]]:
    """(document, drop reason or None) for each cleaned row, or each segment of it when segmenting."""
    mode = getattr(corpus, "segment", "none")
    header_filter = getattr(corpus, "header_filter", False)
    for row_id, raw, source in rows:
        if raw is None:
            yield Document("", source=source, meta={"row": row_id}), "malformed_row"
            continue
        text = clean_text(raw)
        if mode == "none":
            yield Document(text, source=source, meta={"row": row_id}), None
            continue
        from datasets_builders.segments import header_problem, segments

        for i, (header, piece) in enumerate(segments(text)):
            meta = {"row": row_id, "segment": i, "header": header}
            yield Document(piece, source=source, meta=meta), header_problem(header) if header_filter else None


def _length_reason(text: str, corpus: Any, count_tokens: Callable[[str], int] | None) -> str | None:
    if not text:
        return "empty"
    if len(text) < corpus.min_chars:
        return "too_short"
    if corpus.max_chars is not None and len(text) > corpus.max_chars:
        return "too_long"
    if corpus.max_tokens is not None and count_tokens is not None and count_tokens(text) > corpus.max_tokens:
        return "too_many_tokens"
    return None
