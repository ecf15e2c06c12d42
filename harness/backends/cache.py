"""A sqlite request cache that wraps any Generator.

Each request is keyed by the model's identity, the messages, every sampling parameter and the
seed. Results are committed as each request finishes, so a run killed even with SIGKILL loses
nothing it had finished, and the rerun asks the backend only for what is missing. Sampled requests
without a seed are not reproducible and so are never cached.

On a local disk the database runs in WAL mode (fast commits, readers never block). WAL needs
shared memory between its users, which a network filesystem (NFS, Lustre, GPFS, CIFS, ...) cannot
give processes on different hosts, and SQLite documents it as unsafe there: on such a filesystem
(found in /proc/mounts, or forced with HARNESS_CACHE_JOURNAL=delete) the cache uses a rollback
journal (journal_mode=DELETE, synchronous=FULL, a long busy timeout), whose file locks are what
NFS and Lustre do support. Beyond that, the jobs of a sharded build never share a file: each shard
writes its own cache (`shard_cache_path`) and the merge folds them into the experiment's
(`merge_caches`), one writer per file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends.base import ChatRequest, Generator, ResultCallback, SamplingParams
from harness.core.errors import ConfigError, InputError
from harness.core.fingerprint import canonical_json
from harness.core.records import Generation

log = logging.getLogger(__name__)


class _Keys:
    """Request keys for one model: sha256 of the canonical JSON of {"messages", "model" (the identity),
    "params" (every sampling parameter)}; None for a sampled request without a seed. The identity's
    and each distinct sampling setting's JSON are made once and the payload assembled around them
    (the bytes `canonical_json` gives for the whole payload, so keys match older caches)."""

    def __init__(self, identity: dict[str, Any]):
        self._model = canonical_json(identity)
        self._params: dict[SamplingParams, str] = {}

    def __call__(self, request: ChatRequest) -> str | None:
        p = request.params
        if not p.greedy and p.seed is None:
            return None
        params = self._params.get(p)
        if params is None:
            params = self._params[p] = canonical_json(p.to_dict())
        messages = canonical_json([{"content": m.content, "role": m.role} for m in request.messages])
        return hashlib.sha256(
            f'{{"messages":{messages},"model":{self._model},"params":{params}}}'.encode()
        ).hexdigest()


class _Store:
    """The callback the wrapped backend reports to: stores each result (several that finish together
    in one transaction) before passing it on, so a kill loses nothing that was reported."""

    def __init__(
        self,
        cache: CachedGenerator,
        todo: list[int],
        keys: list[str | None],
        results: list[Generation | None],
        on_result: ResultCallback | None,
    ):
        self.cache, self.todo, self.keys, self.results, self.on_result = cache, todo, keys, results, on_result

    def __call__(self, j: int, gen: Generation) -> None:
        self.many([(j, gen)])

    def many(self, items: Sequence[tuple[int, Generation]]) -> None:
        rows = []
        for j, gen in items:
            i = self.todo[j]
            self.results[i] = gen
            if self.keys[i]:
                rows.append((self.keys[i], gen.json))
        self.cache._put_many(rows)
        if self.on_result:
            for j, gen in items:
                self.on_result(self.todo[j], gen)


def check_cache_file(path: Path) -> None:
    """A request cache path must be a new file or an SQLite database (never, say, a results file)."""
    if path.is_dir():
        raise ConfigError(
            f"request cache {path} is a directory", fix="pass a file path, e.g. runs/cache/requests.sqlite"
        )
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise ConfigError(
                    f"request cache {path} is not an SQLite database",
                    fix=f"pass a new path or an existing request cache (nothing was written to it); "
                    f"if it is a damaged cache, {RECOVER}",
                )


RECOVER = "delete it: only cached model requests are lost, and they are recomputed on the next run"


def damaged(path: Path, error: Exception) -> InputError:
    """The one-line error for a request cache SQLite cannot read (truncated, overwritten)."""
    return InputError(f"the request cache is damaged ({error})", path=path, fix=RECOVER)


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """A damaged file ("file is not a database", "database disk image is malformed"), not a locked
    database, a full disk or an I/O error (sqlite3.OperationalError)."""
    return not isinstance(error, sqlite3.OperationalError)


JOURNAL_ENV = "HARNESS_CACHE_JOURNAL"  # auto (default), wal or delete
# filesystem types (the third field of /proc/mounts) that several hosts mount at once
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "cifs",
        "smb3",
        "smbfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "panfs",
        "afs",
        "ocfs2",
        "gfs2",
        "fuse.juicefs",
        "fuse.weka",
        "wekafs",
    }
)
BUSY_TIMEOUT_S = 600.0  # rollback journal: a writer waits for another host's transaction, never fails at once


def filesystem_type(path: Path, mounts: str | None = None) -> str:
    """The type of the filesystem holding `path` (the longest mount point above it in /proc/mounts,
    or in `mounts`, text in that format); "" where unknown (no /proc)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    target = Path(os.path.abspath(path))
    best, kind = -1, ""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = Path(parts[1].replace("\\040", " ").replace("\\011", "\t"))
        if (target == point or point in target.parents) and len(point.parts) > best:
            best, kind = len(point.parts), parts[2]
    return kind


def journal_mode(path: Path, mounts: str | None = None, env: dict[str, str] | None = None) -> str:
    """ "wal" on a local filesystem, "delete" (a rollback journal) on a network one or when
    HARNESS_CACHE_JOURNAL=delete says so."""
    forced = (os.environ if env is None else env).get(JOURNAL_ENV, "auto").strip().lower()
    if forced in ("wal", "delete"):
        return forced
    if forced not in ("", "auto"):
        raise ConfigError(f"{JOURNAL_ENV}={forced!r}", fix="use auto, wal or delete")
    return "delete" if filesystem_type(path, mounts) in NETWORK_FILESYSTEMS else "wal"


def _open_db(path: Path) -> sqlite3.Connection:
    """The cache's database, checked (`PRAGMA quick_check`: the pages and b-trees) before it is used."""
    mode = journal_mode(path)
    db = sqlite3.connect(
        path,
        check_same_thread=False,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_S if mode == "delete" else 5.0,
    )
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems[:2]))
        if mode == "delete":
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=FULL")
        else:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # checkpoint the WAL every ~40 MB, not every 4 MB: random keys touch many index pages per
            # commit, and frequent checkpoints halved the insert rate of a 100K-request run
            db.execute("PRAGMA wal_autocheckpoint=10000")
        db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    except sqlite3.DatabaseError as e:
        db.close()
        raise damaged(path, e) if is_damage(e) else e from None
    return db


def _select(db: sqlite3.Connection, path: Path, keys: Sequence[str]) -> dict[str, str]:
    """Stored values of those keys that are in `db` (looked up a few hundred at a time)."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        sql = f"SELECT key, value FROM generations WHERE key IN ({','.join('?' * len(part))})"
        try:
            found.update(db.execute(sql, part).fetchall())
        except sqlite3.DatabaseError as e:  # damaged while this run reads it
            raise damaged(path, e) if is_damage(e) else e from None
    return found


def merge_caches(dest: Path, sources: Sequence[Path]) -> int:
    """Fold the request caches `sources` (a sharded build's, one per shard) into `dest` in one
    transaction; a key already in `dest` keeps its value (the same request gives the same bytes).
    Returns the number of rows added."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    check_cache_file(dest)
    db = _open_db(dest)
    added = 0
    try:
        for src in (s for s in map(Path, sources) if s.is_file()):
            check_cache_file(src)
            before = db.total_changes
            db.execute("ATTACH DATABASE ? AS src", (str(src),))
            try:
                db.execute("BEGIN")
                db.execute(
                    "INSERT OR IGNORE INTO main.generations (key, value) SELECT key, value FROM src.generations"
                )
                db.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise damaged(src, e) if is_damage(e) else e from None
            finally:
                db.execute("DETACH DATABASE src")
            added += db.total_changes - before
            log.debug("cache: folded %s into %s", src, dest)
    finally:
        db.close()
    return added


class CachedGenerator:
    """Serves cached requests, sends the rest to `inner`, stores each result as it arrives."""

    def __init__(self, inner: Generator, path: str | Path, fallback: str | Path | None = None):
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_cache_file(self.path)
        self._lock = threading.Lock()
        self._db = _open_db(self.path)
        # a cache read on a miss and never written (a shard's own cache sits over the experiment's)
        self._fallback = None
        if (
            fallback is not None
            and Path(fallback).is_file()
            and Path(fallback).resolve() != self.path.resolve()
        ):
            check_cache_file(Path(fallback))
            self._fallback = _open_db(Path(fallback))
            self._fallback_path = Path(fallback)
        self._identity: dict[str, Any] | None = None
        self._keys: _Keys | None = None
        self.hits = 0
        self.misses = 0

    @property
    def load_s(self) -> float:
        """Seconds the wrapped backend spent loading its model lazily (0 if it never needed to)."""
        return float(getattr(self.inner, "load_s", 0.0))

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = self.inner.identity()
        return self._identity

    def _get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """Stored values of those keys that are in the cache, or else in the fallback."""
        found = _select(self._db, self.path, keys)
        if self._fallback is not None:
            found.update(_select(self._fallback, self._fallback_path, [k for k in keys if k not in found]))
        return found

    @staticmethod
    def _decode(value: str, request_id: str) -> Generation:
        d = json.loads(value)
        if d.get("top_logprobs") is not None:
            d["top_logprobs"] = tuple((t["token"], t["logprob"]) for t in d["top_logprobs"])
        # the cached text may have been made for another request id with the same content
        d["id"] = request_id
        return Generation(**d)

    def _put_many(self, rows: Sequence[tuple[str, str]]) -> None:
        try:
            self._insert(rows)
        except sqlite3.DatabaseError as e:  # damaged while this run writes it
            raise damaged(self.path, e) if is_damage(e) else e from None

    def _insert(self, rows: Sequence[tuple[str, str]]) -> None:
        if not rows:
            return
        with self._lock:
            if len(rows) == 1:
                self._db.execute("INSERT OR REPLACE INTO generations (key, value) VALUES (?, ?)", rows[0])
                return
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO generations (key, value) VALUES (?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def generate(
        self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None
    ) -> list[Generation]:
        if self._keys is None:
            self._keys = _Keys(self.identity())
        keys = [self._keys(r) for r in requests]
        stored = self._get_many([k for k in keys if k])
        results: list[Generation | None] = [None] * len(requests)
        todo: list[int] = []
        for i, (req, key) in enumerate(zip(requests, keys)):
            value = stored.get(key) if key else None
            if value is not None:
                hit = self._decode(value, req.id)
                results[i] = hit
                self.hits += 1
                if on_result:
                    on_result(i, hit)
            else:
                todo.append(i)
        del stored
        self.misses += len(todo)
        if todo:
            log.info("cache: %d hit(s), %d to generate", len(requests) - len(todo), len(todo))
            self.inner.generate(
                [requests[i] for i in todo], on_result=_Store(self, todo, keys, results, on_result)
            )
        missing = [requests[i].id for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(
                f"backend {self.name} returned no result for {len(missing)} request(s), e.g. {missing[:3]}"
            )
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._db.close()
        if self._fallback is not None:
            self._fallback.close()
        self.inner.close()
