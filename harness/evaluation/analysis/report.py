"""Compare two or more sets of texts: one function a CLI or a stage can call, and a rich rendering.

`analyze(sets, embedder)` embeds every set once (through the cache), then reports
  - per set: size, token lengths, unique trigrams per 1k tokens and distinct-n on an equal token
    budget, near-duplicates, and contamination by eval prompts when given;
  - per pair: MAUVE over several seeds, unpaired classifier accuracy/AUC, and the paired
    classifier when the sets answer shared instructions; with notes on subsampling and warnings
    where MAUVE cannot be read as a distance.
Sets of unequal size are cut to the smaller one for the pair measures (seeded, by instruction
hash) and the result says so. The result is plain JSON-able data plus the arrays the plots need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError
from harness.evaluation.analysis import contamination as contam
from harness.evaluation.analysis.diversity import TOKENIZER, length_stats, ngram_diversity, tokenize
from harness.evaluation.analysis.mauve import DEFAULT_SEEDS, MIN_TEXTS, mauve_score, mauve_warnings
from harness.evaluation.analysis.separability import classifier_separability, paired_separability
from harness.evaluation.analysis.texts import TextSet, subsample_indices, unique_names

if TYPE_CHECKING:
    import numpy as np

    from harness.evaluation.analysis.embeddings import Embedder


@dataclasses.dataclass
class Analysis:
    """The JSON-able report, and the per-set arrays that plots need (not part of the report)."""

    report: dict[str, Any]
    embeddings: dict[str, np.ndarray]
    token_lengths: dict[str, list[int]]


def shared_instructions(a: TextSet, b: TextSet) -> tuple[list[int], list[int]]:
    """Index pairs (first occurrence in each set) of the instructions both sets answer, in A's order."""
    first_b: dict[str, int] = {}
    for j, ins in enumerate(b.instructions):
        first_b.setdefault(ins, j)
    ia, ib, seen = [], [], set()
    for i, ins in enumerate(a.instructions):
        if ins in first_b and ins not in seen and ins.strip():
            seen.add(ins)
            ia.append(i)
            ib.append(first_b[ins])
    return ia, ib


def compare_pair(a: TextSet, b: TextSet, emb_a: np.ndarray, emb_b: np.ndarray, feat_a: np.ndarray,
                 feat_b: np.ndarray, *, seeds: Sequence[int] = DEFAULT_SEEDS, folds: int = 5,
                 seed: int = 0, threads: int | None = 1) -> dict[str, Any]:
    """MAUVE, unpaired and (when instructions are shared) paired separability of one pair of sets.

    Runs with `threads` BLAS/OpenMP threads (None: the libraries' default). One is the default
    because on shared cores faiss's and OpenBLAS's spinning thread pools made MAUVE 15-30x slower
    (0.5 s -> 14-28 s for 805 vs 805), and even on idle cores one thread was faster at this size.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _compare_pair(a, b, emb_a, emb_b, feat_a, feat_b, seeds=seeds, folds=folds, seed=seed)


def _compare_pair(a: TextSet, b: TextSet, emb_a: np.ndarray, emb_b: np.ndarray, feat_a: np.ndarray,
                  feat_b: np.ndarray, *, seeds: Sequence[int], folds: int, seed: int) -> dict[str, Any]:
    n = min(len(a), len(b))
    notes = []
    ia = subsample_indices(a.instructions, n, seed)
    ib = subsample_indices(b.instructions, n, seed)
    if len(a) != len(b):
        big = a if len(a) > len(b) else b
        notes.append(f"{big.name} subsampled from {len(big)} to {n} texts (seed {seed}) to match the other set "
                     f"for MAUVE and the unpaired classifier")
    sep = classifier_separability(emb_a[ia], emb_b[ib], folds=folds, seed=seed)
    mauve = mauve_score(feat_a[ia], feat_b[ib], seeds=seeds)
    pa, pb = shared_instructions(a, b)
    paired: dict[str, Any] = {"paired_accuracy": None, "paired_auc": None, "n_instructions": len(pa)}
    if len(pa) >= 2 * folds:
        paired = paired_separability(emb_a[pa], emb_b[pb], folds=folds, seed=seed)
    elif pa:
        notes.append(f"only {len(pa)} shared instructions; the paired classifier needs {2 * folds}")
    accs = {"classifier_accuracy": sep["classifier_accuracy"]}
    if paired["paired_accuracy"]:
        accs["paired_accuracy"] = paired["paired_accuracy"]
    return {
        "a": a.name, "b": b.name, "n_per_set": n,
        "mauve": mauve,
        "classifier_accuracy": sep["classifier_accuracy"], "classifier_auc": sep["classifier_auc"],
        "paired_accuracy": paired["paired_accuracy"], "paired_auc": paired["paired_auc"],
        "n_shared_instructions": paired["n_instructions"],
        "notes": notes, "warnings": mauve_warnings(mauve, accs),
    }


def _set_summary(s: TextSet, tokens: list[list[str]], budget: int, seed: int) -> dict[str, Any]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(tokens))  # diversity on a random budget-sized sample
    div = ngram_diversity([tokens[i] for i in order], budget)
    lengths = length_stats(tokens)
    return {
        "path": s.path, "field": s.field, "n": len(s), "dropped_empty": s.dropped_empty,
        "subsampled_from": s.subsampled_from,
        "mean_length_tokens": lengths["mean"], "length_tokens": lengths,
        "unique_trigrams_per_1k_tokens": div["unique_trigrams_per_1k_tokens"],
        "distinct_1": div["distinct_1"], "distinct_2": div["distinct_2"], "distinct_3": div["distinct_3"],
        "diversity_tokens_counted": div["tokens_counted"],
    }


def analyze(sets: Sequence[TextSet], embedder: Embedder, *, mauve_embedder: Embedder | None = None,
            seeds: Sequence[int] = DEFAULT_SEEDS, folds: int = 5, seed: int = 0, max_texts: int | None = None,
            eval_prompts: TextSet | None = None, duplicate_threshold: float = 0.95,
            contamination_threshold: float = 0.9, ngram_n: int = 8, threads: int | None = 1) -> Analysis:
    """Compare every set with every other; see the module docstring for what is measured."""
    sets = unique_names(sets)
    if len(sets) < 2:
        raise InputError(f"the analysis compares sets and needs at least two, got {len(sets)}")
    notes: list[str] = []
    if max_texts:
        cut = [s.subsample(max_texts, seed) for s in sets]
        notes += [f"{c.name}: subsampled from {s_len} to {len(c)} texts (--max-texts, seed {seed})"
                  for c, s_len in zip(cut, map(len, sets), strict=True) if len(c) < s_len]
        sets = cut
    need = max(MIN_TEXTS, 2 * folds)
    for s in sets:
        if len(s) < need:
            dropped = f" after dropping {s.dropped_empty} empty" if s.dropped_empty else ""
            raise InputError(f"set {s.name!r} has {len(s)} texts{dropped}; MAUVE and the classifier need at least "
                             f"{need} per set", path=s.path or None, fix="give more texts")
    notes += [f"{s.name}: dropped {s.dropped_empty} empty texts" for s in sets if s.dropped_empty]

    emb = {s.name: embedder.embed(s.texts) for s in sets}
    feats = emb if mauve_embedder is None else {s.name: mauve_embedder.embed(s.texts) for s in sets}
    tokens = {s.name: [tokenize(t) for t in s.texts] for s in sets}
    budget = min(sum(map(len, t)) for t in tokens.values())  # equal token budget for diversity

    per_set = {s.name: _set_summary(s, tokens[s.name], budget, seed) for s in sets}
    for s in sets:
        per_set[s.name]["near_duplicates"] = contam.near_duplicates(s.texts, emb[s.name], threshold=duplicate_threshold)
    if eval_prompts is not None:
        prompt_emb = embedder.embed(eval_prompts.texts)
        for s in sets:
            ins_emb = emb[s.name] if s.field == "instruction" else embedder.embed(s.instructions)
            per_set[s.name]["contamination"] = contam.contamination(
                s.instructions, ins_emb, eval_prompts.texts, prompt_emb, n=ngram_n,
                cosine_threshold=contamination_threshold)

    pairs = [compare_pair(a, b, emb[a.name], emb[b.name], feats[a.name], feats[b.name], seeds=seeds, folds=folds,
                          seed=seed, threads=threads)
             for i, a in enumerate(sets) for b in sets[i + 1:]]
    report = {
        "embedder": {"name": embedder.name, "identity": embedder.identity, "dim": int(next(iter(emb.values())).shape[1])},
        "mauve_features": {"name": (mauve_embedder or embedder).name, "identity": (mauve_embedder or embedder).identity},
        "field": sets[0].field, "seed": seed, "folds": folds, "mauve_seeds": list(seeds),
        "tokenizer": TOKENIZER, "diversity_token_budget": budget,
        "eval_prompts": None if eval_prompts is None else {"path": eval_prompts.path, "n": len(eval_prompts)},
        "sets": per_set, "pairs": pairs, "notes": notes,
        "warnings": [f"{p['a']} vs {p['b']}: {w}" for p in pairs for w in p["warnings"]],
    }
    return Analysis(report, emb, {k: [len(t) for t in v] for k, v in tokens.items()})


def render(report: dict[str, Any]) -> list[Any]:
    """Rich renderables: a table of sets, a table of pairs, then notes and warnings."""
    from rich.table import Table

    def pm(d: dict[str, Any] | None) -> str:
        return f"{d['mean']:.3f}±{d['std']:.3f}" if d else "-"

    sets = Table(title=f"sets ({report['field']}; tokens = {report['tokenizer']}; diversity on the first "
                       f"{report['diversity_token_budget']} tokens of each)")
    for col in ("set", "n", "empty", "mean len", "median len", "uniq 3-grams/1k", "distinct-2", "near-dup pairs",
                "contaminated"):
        sets.add_column(col, justify="left" if col == "set" else "right", overflow="fold")
    for name, s in report["sets"].items():
        c = s.get("contamination")
        sets.add_row(name, str(s["n"]), str(s["dropped_empty"]), f"{s['mean_length_tokens']:.1f}",
                     f"{s['length_tokens']['median']:.0f}", f"{s['unique_trigrams_per_1k_tokens']:.1f}",
                     f"{s['distinct_2']:.3f}", str(s["near_duplicates"]["pairs"]),
                     f"{c['contaminated']}/{c['eval_prompts']}" if c else "-")
    pairs = Table(title=f"pairs: mean±std; MAUVE over {len(report['mauve_seeds'])} seeds on "
                        f"{report['mauve_features']['name']}; classifiers on {report['embedder']['name']}, "
                        f"{report['folds']}-fold CV, chance 0.5")
    for col in ("A", "B", "n", "MAUVE", "accuracy", "AUC", "paired acc", "shared"):
        pairs.add_column(col, justify="left" if col in ("A", "B") else "right", overflow="fold")
    for p in report["pairs"]:
        pairs.add_row(p["a"], p["b"], str(p["n_per_set"]), pm(p["mauve"]), pm(p["classifier_accuracy"]),
                      pm(p["classifier_auc"]), pm(p["paired_accuracy"]), str(p["n_shared_instructions"]))
    out: list[Any] = [sets, pairs]
    out += [f"note: {n}" for n in report["notes"]]
    out += [f"note: {p['a']} vs {p['b']}: {n}" for p in report["pairs"] for n in p["notes"]]
    out += [f"[yellow]warning:[/yellow] {w}" for w in report["warnings"]]
    return out
