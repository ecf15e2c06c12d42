"""MAUVE between two sets of feature vectors (Pillutla et al. 2021), over several k-means seeds.

We call the `mauve-text` package's `compute_mauve(p_features=..., q_features=...)` on precomputed
features, with its default quantisation (PCA to 90 % of the variance, k-means into n/10 clusters,
5 restarts, 500 iterations). Which features matters more than anything else:

- the back-and-forth paper (Nguyen et al. 2024) computed MAUVE on GPT-2 features, the package's
  own default featurizer (gpt2-large, the last token's final hidden state, texts cut to 1,024
  tokens), with 10K texts a side. `features: lm:gpt2-large` (or any causal LM, `lm:/path`) selects
  that featurization here (`embeddings.CausalLMEncoder`); the paper configs use it;
- our offline default is sentence embeddings (all-MiniLM-L6-v2), labelled as such in every
  report. They are a different MAUVE: numbers on them are not comparable with the paper's.

Its only randomness is the k-means quantisation, so we run several seeds and report the mean,
the std and a seed-spread interval (mean ± 1.96 sd of one seed's value). Sampling noise, the
larger part at a few thousand texts, is what the noise floor (MAUVE between two random halves of
one set, `report.py`) shows beside every pair.

Read it with care: MAUVE quantises both sets into n/10 clusters and compares the histograms.
With a few hundred texts per set and sentence embeddings, the clusters follow topic, not style,
so two models answering the same prompts get MAUVE ~0.97-1.0 even when a linear classifier
tells them apart; on the AlpacaEval outputs it does not separate gpt4 from alpaca-7b. `mauve_warnings`
says so in the result rather than leaving a near-1 score to be read as "indistinguishable".
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError

if TYPE_CHECKING:
    import numpy as np

MIN_TEXTS = 20  # fewer gives 2 clusters: a number, but not a measurement
SMALL_SAMPLE = 1000  # below this the estimate is biased and noisy; the MAUVE paper uses 5,000 texts
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


@contextlib.contextmanager
def _quiet_faiss() -> Iterator[None]:
    """Silence C-level stderr while MAUVE clusters.

    faiss writes "WARNING clustering N points to K centroids" there once per seed, which floods
    the terminal; the same fact (too few texts per cluster) reaches the result as our
    small-sample warning.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def mauve_score(
    p: np.ndarray, q: np.ndarray, *, seeds: Sequence[int] = DEFAULT_SEEDS, num_buckets: int | str = "auto"
) -> dict[str, Any]:
    """MAUVE of P vs Q for each seed; mean, std (population), the values, and the cluster count."""
    import numpy as np

    n = min(len(p), len(q))
    if n < MIN_TEXTS:
        raise InputError(
            f"MAUVE: {n} texts in the smaller set, but it needs at least {MIN_TEXTS} per set",
            fix="give more texts",
        )
    import mauve

    values, buckets = [], None
    with _quiet_faiss():
        for s in seeds:
            out = mauve.compute_mauve(
                p_features=np.asarray(p, dtype=np.float32),
                q_features=np.asarray(q, dtype=np.float32),
                num_buckets=num_buckets,
                seed=int(s),
                verbose=False,
            )
            values.append(float(out.mauve))
            buckets = int(out.num_buckets)
    mean, std = float(np.mean(values)), float(np.std(values))
    return {
        "mean": mean,
        "std": std,
        "values": values,
        "seeds": list(seeds),
        "num_buckets": buckets,
        "n": [len(p), len(q)],
        "se": std,
        "ci": [max(0.0, mean - 1.96 * std), min(1.0, mean + 1.96 * std)],
        "interval": f"k-means seed spread over {len(values)} seeds: mean ± 1.96 sd",
    }


def mauve_warnings(mauve: dict[str, Any], separability: Mapping[str, dict[str, Any]]) -> list[str]:
    """Say when MAUVE cannot be trusted to discriminate: small samples, or within its noise while a classifier separates.

    The verdicts come from `report.judge` (each measure against its noise floor); without them
    the old rule applies: MAUVE near 1 while a classifier is clear of chance.
    """
    warnings = []
    n = min(mauve["n"])
    if n < SMALL_SAMPLE:
        warnings.append(
            f"MAUVE on {n} texts per set ({mauve['num_buckets']} clusters) is coarse and biased; "
            f"the MAUVE paper uses 5,000. Do not read small differences."
        )
    for label, acc in separability.items():  # e.g. {"classifier_accuracy": {...}, "paired_accuracy": {...}}
        if acc.get("verdict") and mauve.get("noise_floor"):
            blind = mauve["verdict"] == "not separated" and acc["verdict"] == "separated"
        else:  # no noise floor to judge MAUVE by (too few texts to halve)
            blind = mauve["mean"] >= 0.9 and acc["mean"] - acc["chance"] > max(0.05, 3 * acc["chance_sd"])
        if blind:
            floor = mauve.get("noise_floor") or {}
            against = f" (noise floor {floor['mean']:.3f})" if floor else ""
            warnings.append(
                f"MAUVE is {mauve['mean']:.3f}{against} although a linear classifier separates the sets "
                f"({label} {acc['mean']:.3f} vs chance {acc['chance']:.2f}): with these features and this "
                f"sample size MAUVE does not discriminate; rely on the classifier."
            )
            break
    if mauve["std"] > 0.05:
        warnings.append(f"MAUVE varies across k-means seeds (std {mauve['std']:.3f}); the mean is uncertain.")
    return warnings
