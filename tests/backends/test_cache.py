"""The request cache's fast path keeps its contract: the same keys as `request_key` (so caches
written before stay valid), results that finish together stored together, hits served in order."""

from __future__ import annotations

import sqlite3

from harness.backends.base import ChatRequest, Results, SamplingParams
from harness.backends.cache import CachedGenerator, _Keys
from harness.core.records import Generation, Message

IDENTITY = {"backend": "hf", "path": "/m", "weights": "abc", "chat_template": "t"}


def _requests() -> list[ChatRequest]:
    params = [
        SamplingParams(),
        SamplingParams(temperature=0.7, top_p=0.9, seed=3, stop=("\n", "é")),
        SamplingParams(logprobs=5, max_tokens=1),
        SamplingParams(temperature=1.0),
    ]  # the last: no seed, no key
    msgs = [
        (Message("user", 'Say "hi" ✓'),),
        (Message("system", "Be brief."), Message("user", "Why?\n")),
        (Message("user", "ünïcode"), Message("assistant", "a"), Message("user", "b")),
    ]
    return [ChatRequest(f"r{i}-{j}", m, p) for i, p in enumerate(params) for j, m in enumerate(msgs)]


def request_key(identity: dict, request: ChatRequest) -> str | None:
    """The reference key: the canonical JSON of the whole payload, hashed (what caches were keyed by)."""
    import hashlib

    from harness.core.fingerprint import canonical_json

    if not request.params.greedy and request.params.seed is None:
        return None
    payload = {
        "model": identity,
        "messages": [m.to_dict() for m in request.messages],
        "params": request.params.to_dict(),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def test_fast_keys_are_the_reference_keys():
    keys = _Keys(IDENTITY)
    for r in _requests():
        assert keys(r) == request_key(IDENTITY, r)


class Batches:
    """Answers in batches of two through Results.set_many, counting calls (control flow only)."""

    name = "batches"

    def __init__(self):
        self.calls = 0

    def identity(self):
        return IDENTITY

    def generate(self, requests, on_result=None):
        self.calls += 1
        results = Results(len(requests), on_result)
        for s in range(0, len(requests), 2):
            results.set_many(
                [
                    (i, Generation(requests[i].id, f"text of {requests[i].id}", "stop", 3, 2))
                    for i in range(s, min(s + 2, len(requests)))
                ]
            )
        return results.done()

    def close(self):
        pass


def test_batches_are_stored_and_reported_and_served_from_cache(tmp_path):
    inner = Batches()
    cache = CachedGenerator(inner, tmp_path / "c.sqlite")
    reqs = _requests()
    seen: list[int] = []
    first = cache.generate(reqs, on_result=lambda i, g: seen.append(i))
    assert sorted(seen) == list(range(len(reqs))) and [g.id for g in first] == [r.id for r in reqs]
    with sqlite3.connect(tmp_path / "c.sqlite") as db:  # every keyed request is on disk
        assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == sum(
            request_key(IDENTITY, r) is not None for r in reqs
        )
    again = cache.generate(reqs)
    assert [g.text for g in again] == [g.text for g in first]
    assert cache.hits == 9 and cache.misses == len(reqs) + 3  # unseeded sampled requests never hit
    assert inner.calls == 2
    cache.close()
