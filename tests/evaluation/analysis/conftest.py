"""Fixtures for the analysis tests: the real MiniLM embedder and the real AlpacaEval outputs, embedded once.

The embedding cache lives in pytest's cache directory (.pytest_cache, git-ignored), so the 2,415
real outputs are encoded once per checkout (about 3 minutes on 2 busy cores) and later sessions
read them back; without the cache plugin (-p no:cacheprovider) a temporary directory is used.
The cache-counter test uses its own empty cache, so it never depends on this one. Cached measures
(MAUVE, classifiers) are cleared at the start of each session: only the vectors carry over.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.evaluation.analysis.embeddings import Embedder, make_embedder
from harness.evaluation.analysis.texts import TextSet, load_text_set

MODELS = ("gpt4", "alpaca-7b", "llama-2-7b-chat-hf")


@pytest.fixture(scope="session")
def embedding_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("analysis-embeddings")) if cache is not None else tmp_path_factory.mktemp("emb")


@pytest.fixture(scope="session")
def embedder(embedding_cache: Path) -> Embedder:
    emb = make_embedder(cache_dir=embedding_cache)
    # vectors persist across sessions; measures do not, so every session tests the code as it is now
    emb.cache.clear_results()
    return emb


@pytest.fixture(scope="session")
def model_outputs(alpaca_eval_data: Path) -> Path:
    return alpaca_eval_data / "model_outputs"


@pytest.fixture(scope="session")
def real_sets(model_outputs: Path) -> dict[str, TextSet]:
    return {m: load_text_set(model_outputs / f"{m}.json") for m in MODELS}


@pytest.fixture(scope="session")
def real_embeddings(real_sets: dict[str, TextSet], embedder: Embedder) -> dict[str, np.ndarray]:
    return {m: embedder.embed(s.texts) for m, s in real_sets.items()}
