"""A sqlite request cache that wraps any Generator.

Each request is keyed by the model's identity, the messages, every sampling parameter and the
seed. Results are committed as each request finishes, so a run killed even with SIGKILL loses
nothing it had finished, and the rerun asks the backend only for what is missing. Sampled requests
without a seed are not reproducible and so are never cached.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.backends.base import ChatRequest, Generator, ResultCallback
from harness.core.fingerprint import canonical_json
from harness.core.records import Generation

log = logging.getLogger(__name__)


def request_key(identity: dict[str, Any], request: ChatRequest) -> str | None:
    if not request.params.greedy and request.params.seed is None:
        return None
    import hashlib

    payload = {"model": identity, "messages": [m.to_dict() for m in request.messages],
               "params": request.params.to_dict()}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


class CachedGenerator:
    """Serves cached requests, sends the rest to `inner`, stores each result as it arrives."""

    def __init__(self, inner: Generator, path: str | Path):
        self.inner = inner
        self.name = inner.name
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._identity: dict[str, Any] | None = None
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

    def _get(self, key: str) -> Generation | None:
        row = self._db.execute("SELECT value FROM generations WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        d = json.loads(row[0])
        if d.get("top_logprobs") is not None:
            d["top_logprobs"] = tuple((t["token"], t["logprob"]) for t in d["top_logprobs"])
        return Generation(**d)

    def _put(self, key: str, gen: Generation) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO generations (key, value) VALUES (?, ?)",
                             (key, json.dumps(gen.to_dict(), ensure_ascii=False)))

    def generate(self, requests: Sequence[ChatRequest], on_result: ResultCallback | None = None) -> list[Generation]:
        ident = self.identity()
        keys = [request_key(ident, r) for r in requests]
        results: list[Generation | None] = [None] * len(requests)
        todo: list[int] = []
        for i, (req, key) in enumerate(zip(requests, keys)):
            hit = self._get(key) if key else None
            if hit is not None:
                # the cached text may have been made for another request id with the same content
                hit = Generation(**{**hit.__dict__, "id": req.id})
                results[i] = hit
                self.hits += 1
                if on_result:
                    on_result(i, hit)
            else:
                todo.append(i)
        self.misses += len(todo)
        if todo:
            log.info("cache: %d hit(s), %d to generate", len(requests) - len(todo), len(todo))

            def store(j: int, gen: Generation) -> None:
                i = todo[j]
                results[i] = gen
                if keys[i]:
                    self._put(keys[i], gen)
                if on_result:
                    on_result(i, gen)

            self.inner.generate([requests[i] for i in todo], on_result=store)
        missing = [requests[i].id for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"backend {self.name} returned no result for {len(missing)} request(s), e.g. {missing[:3]}")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._db.close()
        self.inner.close()
