"""Compare two or more sets of texts: one function a CLI or a stage can call, and a rich rendering.

`analyze(sets, embedder, settings)` embeds every set once (through the cache), then reports
  - per set: size, token lengths, diversity (unique trigrams per 1k tokens on an equal token
    budget, and the paper's unique trigrams at an equal number of examples; distinct-n),
    near-duplicates, texts cut by each embedder's window, and contamination by eval prompts;
  - per pair: MAUVE over several seeds, the unpaired classifier (cross-validated grouped by
    instruction when the sets share instructions, stratified otherwise; the CV is named), and the
    paired classifier when they do; each measure with a 95% interval, its noise floor (the same
    measure on two random halves of each set, the less favourable of the two) and a verdict
    (`VERDICT_RULE`); the features used; notes on subsampling and truncation; warnings where MAUVE
    cannot be read as a distance.
Sets of unequal size are cut to the smaller one for the pair measures (seeded, by instruction
hash) and the result says so. Costly measures are cached beside the embeddings (`memo`), keyed
by their inputs and settings, so a rerun on the same texts recomputes nothing (the comparisons and
the cache are `harness.evaluation.analysis.comparisons`; the rich rendering is `.render`). The result is plain
JSON-able data plus the arrays the plots need. `AnalysisSettings` holds the seeds, folds,
bootstrap, thresholds and threads; `compare_pair` and `noise_floor` take a set with its vectors
(`EmbeddedSet`) and the same settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError
from harness.evaluation.analysis import contamination as contam
from harness.evaluation.analysis.comparisons import (  # noqa: F401 (the module's interface)
    DEFAULT_SETTINGS,
    VERDICT_RULE,
    Analysis,
    AnalysisSettings,
    EmbeddedSet,
    compare_pair,
    halves,
    judge,
    memo,
    noise_floor,
    shared_instructions,
)
from harness.evaluation.analysis.diversity import (
    TOKENIZER,
    length_stats,
    lengths_summary,
    ngram_diversity,
    tokenize,
    unique_ngrams,
)
from harness.evaluation.analysis.mauve import MIN_TEXTS
from harness.evaluation.analysis.texts import TextSet, subsample_indices, unique_names

if TYPE_CHECKING:
    import numpy as np

    from harness.evaluation.analysis.embeddings import Embedder


def _set_summary(
    s: TextSet, tokens: list[list[str]], budget: int, examples: int, seed: int
) -> dict[str, Any]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(tokens))  # diversity on a random budget-sized sample
    shuffled = [tokens[i] for i in order]
    div = ngram_diversity(shuffled, budget)
    lengths = length_stats(tokens)
    return {
        "path": s.path,
        "field": s.field,
        "n": len(s),
        "dropped_empty": s.dropped_empty,
        "subsampled_from": s.subsampled_from,
        "mean_length_tokens": lengths["mean"],
        "length_tokens": lengths,
        "unique_trigrams_per_1k_tokens": div["unique_trigrams_per_1k_tokens"],
        "distinct_1": div["distinct_1"],
        "distinct_2": div["distinct_2"],
        "distinct_3": div["distinct_3"],
        "diversity_tokens_counted": div["tokens_counted"],
        # the back-and-forth paper's measure: unique trigrams in the same number of examples per set
        "unique_trigrams_at_equal_examples": unique_ngrams(shuffled[:examples], 3),
        "diversity_examples_counted": examples,
    }


def features_info(embedder: Embedder) -> dict[str, Any]:
    """What a set of vectors is, in words a reader can check against a paper."""
    if embedder.name.startswith("lm:"):
        pooling = getattr(embedder.encoder, "pooling", "last")
        how = "the last token" if pooling == "last" else "mean over tokens"
        kind = f"LM hidden states ({how}, texts cut to {embedder.window} tokens)" + (
            ": the mauve-text featurization; the back-and-forth paper used it with gpt2-large"
            if pooling == "last"
            else ""
        )
    else:
        kind = (
            "sentence embeddings (the offline default; not the GPT-2 features of the back-and-forth paper's "
            "MAUVE, so not comparable with its numbers)"
        )
    return {"name": embedder.name, "identity": embedder.identity, "kind": kind, "window": embedder.window}


def analyze(
    sets: Sequence[TextSet],
    embedder: Embedder,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
    *,
    mauve_embedder: Embedder | None = None,
    eval_prompts: TextSet | None = None,
) -> Analysis:
    """Compare every set with every other; see the module docstring for what is measured."""
    sets, notes = _checked_sets(sets, settings)
    mauve_embedder = mauve_embedder or embedder
    cache = embedder.cache
    emb = {s.name: embedder.embed(s.texts) for s in sets}
    feats = emb if mauve_embedder is embedder else {s.name: mauve_embedder.embed(s.texts) for s in sets}
    cut = {
        s.name: {"classifier": embedder.truncated(s.texts), "mauve": mauve_embedder.truncated(s.texts)}
        for s in sets
    }
    lengths, per_set, budget, examples = _per_set(sets, emb, cut, cache, settings)
    if settings.model_tokens is not None:
        tokenizer, count = settings.model_tokens
        for s in sets:
            per_set[s.name]["length_model_tokens"] = {
                "tokenizer": tokenizer,
                **lengths_summary(count(s.texts)),
            }
    if eval_prompts is not None:
        prompt_emb = embedder.embed(eval_prompts.texts)
        for s in sets:
            ins_emb = emb[s.name] if s.field == "instruction" else embedder.embed(s.instructions)
            per_set[s.name]["contamination"] = contam.contamination(
                s.instructions,
                ins_emb,
                eval_prompts.texts,
                prompt_emb,
                n=settings.ngram_n,
                cosine_threshold=settings.contamination_threshold,
            )

    floors: dict[Any, dict[str, Any]] = {}
    emb_info, feat_info = features_info(embedder), features_info(mauve_embedder)
    vectors = [EmbeddedSet(s, emb[s.name], feats[s.name]) for s in sets]
    pairs = []
    for i, a in enumerate(vectors):
        for b in vectors[i + 1 :]:
            p = compare_pair(a, b, settings, cache=cache, floors=floors)
            p["features"] = {"mauve": feat_info, "classifier": emb_info}
            _add_truncation(p, (a.text_set, b.text_set), cut, settings.seed)
            pairs.append(p)
    report = {
        "embedder": {**emb_info, "dim": int(next(iter(emb.values())).shape[1])},
        "mauve_features": feat_info,
        "field": sets[0].field,
        "seed": settings.seed,
        "folds": settings.folds,
        "mauve_seeds": list(settings.seeds),
        "bootstrap": settings.bootstrap,
        "verdict_rule": VERDICT_RULE,
        "tokenizer": TOKENIZER,
        "diversity_token_budget": budget,
        "diversity_examples": examples,
        "eval_prompts": None if eval_prompts is None else {"path": eval_prompts.path, "n": len(eval_prompts)},
        "sets": per_set,
        "pairs": pairs,
        "notes": notes,
        "warnings": [f"{p['a']} vs {p['b']}: {w}" for p in pairs for w in p["warnings"]],
    }
    return Analysis(report, emb, lengths)


def _checked_sets(sets: Sequence[TextSet], settings: AnalysisSettings) -> tuple[list[TextSet], list[str]]:
    """The sets under unique names, cut to `max_texts`, each checked to be large enough; notes on what was cut."""
    sets = unique_names(sets)
    if len(sets) < 2:
        raise InputError(f"the analysis compares sets and needs at least two, got {len(sets)}")
    notes: list[str] = []
    seed = settings.seed
    if settings.max_texts:
        cut = [s.subsample(settings.max_texts, seed) for s in sets]
        notes += [
            f"{c.name}: subsampled from {s_len} to {len(c)} texts (--max-texts, seed {seed})"
            for c, s_len in zip(cut, map(len, sets), strict=True)
            if len(c) < s_len
        ]
        sets = cut
    need = max(MIN_TEXTS, 2 * settings.folds)
    for s in sets:
        if len(s) < need:
            dropped = f" after dropping {s.dropped_empty} empty" if s.dropped_empty else ""
            raise InputError(
                f"set {s.name!r} has {len(s)} texts{dropped}; MAUVE and the classifier need at least "
                f"{need} per set",
                path=s.path or None,
                fix="give more texts",
            )
    notes += [f"{s.name}: dropped {s.dropped_empty} empty texts" for s in sets if s.dropped_empty]
    return sets, notes


def _per_set(
    sets: Sequence[TextSet],
    emb: dict[str, np.ndarray],
    cut: dict[str, dict[str, list[bool]]],
    cache: Any,
    settings: AnalysisSettings,
) -> tuple[dict[str, list[int]], dict[str, Any], int, int]:
    """Token lengths and the summary of each set, and the token budget and example count they were compared on."""
    tokens: dict[str, list[list[str]]] = {}

    def tokenized(s: TextSet) -> list[list[str]]:
        if s.name not in tokens:
            tokens[s.name] = [tokenize(t) for t in s.texts]
        return tokens[s.name]

    # token counts and the per-set summaries are cached too: tokenizing and counting n-grams of
    # 10,000 texts a set was most of a rerun's time once MAUVE and the classifiers were cached
    lengths = {
        s.name: memo(
            cache,
            "token_lengths",
            (s.texts,),
            {"tokenizer": TOKENIZER},
            lambda s=s: [len(t) for t in tokenized(s)],
        )
        for s in sets
    }
    budget = min(sum(v) for v in lengths.values())  # equal token budget for diversity
    examples = min(len(s) for s in sets)  # equal number of examples for the paper's trigram count
    seed, threshold = settings.seed, settings.duplicate_threshold
    per_set = {
        s.name: memo(
            cache,
            "set_summary",
            (s.texts,),
            {
                "budget": budget,
                "examples": examples,
                "seed": seed,
                "path": s.path,
                "field": s.field,
                "dropped": s.dropped_empty,
                "from": s.subsampled_from,
            },
            lambda s=s: _set_summary(s, tokenized(s), budget, examples, seed),
        )
        for s in sets
    }
    for s in sets:
        per_set[s.name]["truncated"] = {
            "classifier": sum(cut[s.name]["classifier"]),
            "mauve": sum(cut[s.name]["mauve"]),
        }
        per_set[s.name]["near_duplicates"] = memo(
            cache,
            "near_duplicates",
            (emb[s.name], s.texts),
            {"threshold": threshold},
            lambda s=s: contam.near_duplicates(s.texts, emb[s.name], threshold=threshold),
        )
    return lengths, per_set, budget, examples


def _add_truncation(
    p: dict[str, Any], pair: tuple[TextSet, TextSet], cut: dict[str, dict[str, list[bool]]], seed: int
) -> None:
    """Count, in the pair's subsample, the texts each embedder's window cut; a note where any were."""
    a, b = pair
    ia, ib = (subsample_indices(x.instructions, p["n_per_set"], seed) for x in (a, b))
    p["truncated"] = {
        what: {
            a.name: sum(cut[a.name][what][k] for k in ia),
            b.name: sum(cut[b.name][what][k] for k in ib),
            "window": p["features"][what]["window"],
        }
        for what in ("mauve", "classifier")
    }
    for what, t in p["truncated"].items():
        if t[a.name] or t[b.name]:
            p["notes"].append(
                f"{what} features: {t[a.name]} texts of {a.name} and {t[b.name]} of {b.name} "
                f"were longer than the {t['window']}-token window and cut to it"
            )
