"""Model backends behind one Generator interface: `hf`, `vllm`, `openai`, and a request cache.

`load_generator("hf:/path/to/model")` returns a ready Generator; `cache=PATH` wraps it in the
sqlite request cache. Backend modules are imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import ChatRequest, Generator, SamplingParams
from harness.backends.spec import BACKENDS, ModelSpec, is_local, parse_spec, resolve_local_model

__all__ = ["ChatRequest", "Generator", "SamplingParams", "ModelSpec", "parse_spec", "load_generator", "BACKENDS"]


def load_generator(spec: str | ModelSpec, *, cache: str | Path | None = None, **options: Any) -> Generator:
    """Create the backend a spec names; unknown options are ignored by backends that lack them."""
    ms = parse_spec(spec) if isinstance(spec, str) else spec
    if ms.backend in ("hf", "vllm") and is_local(ms.model):
        resolve_local_model(ms.model)  # a clear error before any heavy import
    if ms.backend == "hf":
        from harness.backends.hf import HFGenerator

        gen: Generator = HFGenerator(ms, **options)
    elif ms.backend == "vllm":
        from harness.backends.vllm_backend import VLLMGenerator

        gen = VLLMGenerator(ms, **options)
    else:
        from harness.backends.openai_backend import OpenAIGenerator

        gen = OpenAIGenerator(ms, **options)
    if cache is not None:
        from harness.backends.cache import CachedGenerator

        gen = CachedGenerator(gen, cache)
    return gen
