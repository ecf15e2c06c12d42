"""Near-duplicates within a set, and contamination of a set by evaluation prompts.

Near-duplicates: pairs of texts whose (unit-normalised) embeddings have cosine >= a threshold,
plus exact duplicates after lower-casing and collapsing whitespace. Each example pair carries its
trigram Jaccard too, so a reader sees whether it is a copy or a paraphrase.

Contamination: an eval prompt counts as found in the set when
  - n-gram overlap: at least `ngram_overlap` of its word n-grams (n=8 by default; the whole prompt
    when it is shorter than n) occur in one text of the set, or
  - embedding: its cosine with some text of the set is >= `cosine_threshold`.
Both use the `diversity.tokenize` words. Embeddings are compared in blocks, so memory stays
bounded on large sets.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from harness.evaluation.analysis.diversity import ngrams, tokenize

if TYPE_CHECKING:
    import numpy as np

_BLOCK = 1024
_SNIPPET = 200


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def _jaccard(a: str, b: str, n: int = 3) -> float:
    ga, gb = set(ngrams(tokenize(a), n)), set(ngrams(tokenize(b), n))
    return len(ga & gb) / len(ga | gb) if ga | gb else 1.0


def _best_matches(queries: np.ndarray, keys: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each block of query rows: (start, best key index, best cosine). Rows must be unit-normalised."""
    import numpy as np

    for start in range(0, len(queries), _BLOCK):
        sims = queries[start : start + _BLOCK] @ keys.T
        best = np.argmax(sims, axis=1)
        yield start, best, sims[np.arange(len(best)), best]


def near_duplicates(
    texts: Sequence[str], emb: np.ndarray, *, threshold: float = 0.95, max_examples: int = 5
) -> dict[str, Any]:
    """Exact duplicates and embedding near-duplicate pairs (i < j) within one set."""
    import numpy as np

    norm = {}
    exact = 0
    for t in texts:
        key = re.sub(r"\s+", " ", t.lower()).strip()
        exact += key in norm
        norm.setdefault(key, 0)
    pairs: list[tuple[float, int, int]] = []
    for start in range(0, len(emb), _BLOCK):
        sims = emb[start : start + _BLOCK] @ emb.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows, cols, strict=True):
            if start + r < c:  # each unordered pair once, never a text with itself
                pairs.append((float(sims[r, c]), int(start + r), int(c)))
    pairs.sort(reverse=True)
    involved = {i for _, i, _ in pairs} | {j for _, _, j in pairs}
    return {
        "threshold": threshold,
        "exact_duplicates": exact,
        "pairs": len(pairs),
        "texts_involved": len(involved),
        "examples": [
            {
                "i": i,
                "j": j,
                "cosine": round(c, 4),
                "trigram_jaccard": round(_jaccard(texts[i], texts[j]), 4),
                "a": _snippet(texts[i]),
                "b": _snippet(texts[j]),
            }
            for c, i, j in pairs[:max_examples]
        ],
    }


def ngram_matches(texts: Sequence[str], prompts: Sequence[str], *, n: int = 8) -> list[tuple[float, int]]:
    """For each prompt: (largest fraction of its n-grams found in one text, that text's index or -1).

    A prompt shorter than n words counts as found (1.0) in a text that contains all its words in order.
    """
    token_lists = [tokenize(t) for t in texts]
    index: dict[int, list[int]] = defaultdict(
        list
    )  # hash of an n-gram -> texts holding it; ints keep memory low
    for ti, toks in enumerate(token_lists):
        for g in set(ngrams(toks, n)):
            index[hash(g)].append(ti)
    joined: list[str] | None = None  # built only if a short prompt needs a substring search
    out = []
    for p in prompts:
        toks = tokenize(p)
        if len(toks) < n:
            if joined is None:
                joined = [" " + " ".join(t) + " " for t in token_lists]
            needle = " " + " ".join(toks) + " "
            found = next((ti for ti, j in enumerate(joined) if needle in j), -1) if toks else -1
            out.append((1.0 if found >= 0 else 0.0, found))
            continue
        grams = set(ngrams(toks, n))
        counts: dict[int, int] = defaultdict(int)
        for g in grams:
            for ti in index.get(hash(g), ()):
                counts[ti] += 1
        best = max(counts, key=lambda ti: (counts[ti], -ti), default=-1)
        out.append((counts[best] / len(grams) if best >= 0 else 0.0, best))
    return out


def contamination(
    texts: Sequence[str],
    emb: np.ndarray,
    prompts: Sequence[str],
    prompt_emb: np.ndarray,
    *,
    n: int = 8,
    ngram_overlap: float = 0.5,
    cosine_threshold: float = 0.9,
    max_examples: int = 5,
) -> dict[str, Any]:
    """How many eval prompts occur in the set, by n-gram overlap or embedding cosine; with examples."""
    grams = ngram_matches(texts, prompts, n=n)
    cos = [None] * len(prompts)
    for start, best, sims in _best_matches(prompt_emb, emb):
        for k, (j, s) in enumerate(zip(best, sims, strict=True)):
            cos[start + k] = (float(s), int(j))
    hits = []
    for pi, ((frac, ti), (c, cj)) in enumerate(zip(grams, cos, strict=True)):
        by_ngram, by_emb = frac >= ngram_overlap, c >= cosine_threshold
        if by_ngram or by_emb:
            j = ti if by_ngram else cj
            hits.append(
                {
                    "prompt_index": pi,
                    "by_ngram": by_ngram,
                    "by_embedding": by_emb,
                    "ngram_overlap": round(frac, 4),
                    "cosine": round(c, 4),
                    "text_index": j,
                    "prompt": _snippet(prompts[pi]),
                    "text": _snippet(texts[j]),
                }
            )
    hits.sort(key=lambda h: (-h["cosine"], h["prompt_index"]))
    return {
        "eval_prompts": len(prompts),
        "ngram_n": n,
        "ngram_overlap_threshold": ngram_overlap,
        "cosine_threshold": cosine_threshold,
        "by_ngram": sum(h["by_ngram"] for h in hits),
        "by_embedding": sum(h["by_embedding"] for h in hits),
        "contaminated": len(hits),
        "examples": hits[:max_examples],
    }
