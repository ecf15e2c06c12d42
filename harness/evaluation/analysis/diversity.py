"""Length and lexical diversity of a set of texts: token lengths, unique trigrams, distinct-n.

Tokenizer: lower-cased words and single punctuation marks, `re.findall(r"\\w+|[^\\w\\s]", text.lower())`.
It is model-free on purpose, so the numbers compare across datasets, models and machines.

Diversity depends on how much text is counted (the more tokens, the more repeats), so
`ngram_diversity` counts every set on the same token budget: texts are taken in the given order
(callers pass a seeded shuffle) until the budget is reached, the last one cut. n-grams never span
two texts. distinct-n (Li et al. 2016) is unique n-grams / all n-grams on that budget.

Two trigram counts, each named for what it is:
- `unique_trigrams_per_1k_tokens`: unique trigrams per 1,000 tokens on an equal token budget
  (ours; it does not reward longer texts);
- `unique_trigrams_at_equal_examples`: the number of unique trigrams in the same number of
  examples from each set (the back-and-forth paper's measure; longer texts score higher).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

TOKENIZER = r"regex \w+|[^\w\s] on lower-cased text (words and single punctuation marks)"
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    # zip over shifted views: several times faster than slicing a tuple per position
    return list(zip(*(tokens[i:] for i in range(n)), strict=False))


def length_stats(token_lists: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean, spread and quantiles of the number of tokens per text."""
    return lengths_summary([len(t) for t in token_lists])


def lengths_summary(counts: Sequence[int]) -> dict[str, float]:
    """Mean, spread and quantiles of per-text token counts (any tokenizer's)."""
    import numpy as np

    lengths = np.array(counts, dtype=float)
    if lengths.size == 0:
        return {"mean": 0.0, "std": 0.0, "min": 0.0, "p10": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    return {
        "mean": float(lengths.mean()),
        "std": float(lengths.std()),
        "min": float(lengths.min()),
        "p10": float(np.percentile(lengths, 10)),
        "median": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)),
        "max": float(lengths.max()),
    }


def ngram_diversity(token_lists: Sequence[Sequence[str]], budget: int | None = None) -> dict[str, Any]:
    """Unique trigrams per 1k tokens and distinct-1/2/3 on the first `budget` tokens (all tokens if None)."""
    taken: list[Sequence[str]] = []
    total = 0
    for toks in token_lists:
        if budget is not None and total >= budget:
            break
        if budget is not None and total + len(toks) > budget:
            toks = toks[: budget - total]
        taken.append(toks)
        total += len(toks)
    out: dict[str, Any] = {"tokens_counted": total}
    for n in (1, 2, 3):
        grams = [g for toks in taken for g in ngrams(toks, n)]
        out[f"distinct_{n}"] = len(set(grams)) / len(grams) if grams else 0.0
        if n == 3:
            out["unique_trigrams_per_1k_tokens"] = 1000 * len(set(grams)) / total if total else 0.0
    return out


def unique_ngrams(token_lists: Sequence[Sequence[str]], n: int = 3) -> int:
    """How many distinct n-grams the texts hold together (n-grams never span two texts)."""
    return len({g for toks in token_lists for g in ngrams(toks, n)})
