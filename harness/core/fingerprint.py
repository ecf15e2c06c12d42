"""Fingerprints: a hash of everything that determines a stage's output.

A stage's fingerprint covers its config, its upstream stages' fingerprints, the hashes of the
prompt templates it uses, and a version number bumped by hand when the stage's semantics change.
Paths, concurrency, retries and log levels are left out on purpose: they do not change results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def text_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def fingerprint(
    stage: str,
    *,
    version: int,
    config: Any = None,
    upstream: Mapping[str, str] | None = None,
    prompts: Mapping[str, str] | None = None,
    extra: Sequence[Any] = (),
) -> str:
    """Hash of a stage's determinants; `prompts` maps template names to their text."""
    payload = {
        "stage": stage,
        "version": version,
        "config": config,
        "upstream": dict(sorted((upstream or {}).items())),
        "prompts": {k: text_hash(v) for k, v in sorted((prompts or {}).items())},
        "extra": list(extra),
    }
    return text_hash(canonical_json(payload), length=20)
