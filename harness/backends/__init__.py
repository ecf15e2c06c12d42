"""Model backends behind one Generator interface: `hf`, `vllm`, `openai`, and a request cache.

`load_generator("hf:/path/to/model")` returns a ready Generator; `cache=PATH` wraps it in the
sqlite request cache. Backend modules are imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import ChatRequest, Generator, SamplingParams
from harness.backends.spec import BACKENDS, ModelSpec, allowing_logprobs, backend_class, parse_spec

__all__ = [
    "ChatRequest",
    "Generator",
    "SamplingParams",
    "ModelSpec",
    "parse_spec",
    "load_generator",
    "allowing_logprobs",
    "BACKENDS",
]


def load_generator(
    spec: str | ModelSpec,
    *,
    cache: str | Path | None = None,
    cache_fallback: str | Path | None = None,
    **options: Any,
) -> Generator:
    """Create the backend a spec names (looked up in `BACKENDS`); options a backend lacks are ignored.
    `cache` wraps it in the request cache; `cache_fallback` is a cache only read on a miss (a shard's
    cache writes its own file and reads the experiment's).
    Local engines come from the per-process pool (`harness.backends.engines`): generators of the
    same model and engine options share one engine, and `close()` releases it."""
    ms = parse_spec(spec) if isinstance(spec, str) else spec
    gen: Generator = backend_class(ms.backend)(ms, **options)
    if cache is not None:
        from harness.backends.cache import CachedGenerator

        gen = CachedGenerator(gen, cache, fallback=cache_fallback)
    return gen
