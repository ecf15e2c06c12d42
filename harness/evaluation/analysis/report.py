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
hash) and the result says so. Costly measures are cached beside the embeddings (`_memo`), keyed
by their inputs and settings, so a rerun on the same texts recomputes nothing. The result is plain
JSON-able data plus the arrays the plots need. `AnalysisSettings` holds the seeds, folds,
bootstrap, thresholds and threads; `compare_pair` and `noise_floor` take a set with its vectors
(`EmbeddedSet`) and the same settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.core.errors import InputError
from harness.evaluation.analysis import contamination as contam
from harness.evaluation.analysis.diversity import (
    TOKENIZER,
    length_stats,
    lengths_summary,
    ngram_diversity,
    tokenize,
    unique_ngrams,
)
from harness.evaluation.analysis.mauve import DEFAULT_SEEDS, MIN_TEXTS, mauve_score, mauve_warnings
from harness.evaluation.analysis.separability import (
    DEFAULT_BOOTSTRAP,
    classifier_separability,
    paired_separability,
)
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


@dataclasses.dataclass(frozen=True)
class AnalysisSettings:
    """How an analysis measures, everything but the texts and the embedders."""

    seeds: Sequence[int] = DEFAULT_SEEDS  # MAUVE's k-means seeds, averaged over
    folds: int = 5  # cross-validation folds of the classifiers
    seed: int = 0  # subsampling, halves, folds and bootstraps
    max_texts: int | None = None  # subsample every set to this many texts first (None: all)
    duplicate_threshold: float = 0.95  # cosine above which two texts of a set are near-duplicates
    contamination_threshold: float = 0.9  # cosine above which an eval prompt counts as found in a set
    ngram_n: int = 8  # n of the n-grams the contamination check compares with eval prompts
    threads: int | None = 1  # BLAS/OpenMP threads for the pair measures (None: the libraries' default)
    bootstrap: int = DEFAULT_BOOTSTRAP  # resamples for the classifiers' intervals
    # (tokenizer name, texts -> token counts): each set's lengths in a model's tokens too (None: regex only)
    model_tokens: tuple[str, Any] | None = None


DEFAULT_SETTINGS = AnalysisSettings()


@dataclasses.dataclass(frozen=True)
class EmbeddedSet:
    """A set of texts and its vectors, row for row: `emb` for the classifiers, `feat` for MAUVE.

    `feat` is `emb` itself when one embedder does both.
    """

    text_set: TextSet
    emb: np.ndarray
    feat: np.ndarray

    def rows(self, idx: Sequence[int]) -> EmbeddedSet:
        """The rows `idx` of the texts, instructions and both arrays."""
        s = self.text_set
        sub = TextSet(s.name, tuple(s.texts[i] for i in idx), tuple(s.instructions[i] for i in idx))
        return EmbeddedSet(sub, self.emb[idx], self.feat[idx])


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


VERDICT_RULE = ("a pair is 'separated' on a measure when it differs from its noise floor in the separating "
                "direction (MAUVE lower; accuracy, AUC higher) by more than 1.96 x sqrt(se_pair^2 + se_floor^2), "
                "and for the classifiers also from chance by that much (two halves of one set can score below "
                "chance: cross-validation on topic-dominated embeddings is biased low); otherwise 'not separated'. "
                "A classifier score that far below both floor and chance is 'below the noise floor', a defect "
                "(leakage between folds), never a finding.")
RESULTS_VERSION = 2  # bump when a cached measure's meaning changes


def _memo(cache: Any, name: str, arrays: Sequence[Any], settings: dict[str, Any], compute: Any) -> Any:
    """`compute()`, or its JSON from the cache when the same arrays and settings were measured before.

    The key hashes the measure, the settings and the arrays' bytes (features and instruction
    lists), so anything that changes the result changes the key.
    """
    import hashlib
    import json

    import numpy as np

    if cache is None:
        return compute()
    h = hashlib.sha256(json.dumps([name, RESULTS_VERSION, settings], sort_keys=True).encode())
    for x in arrays:
        if isinstance(x, np.ndarray):
            h.update(f"{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(json.dumps(list(x)).encode())
    key = f"{name}:{h.hexdigest()}"
    hit = cache.get_result(key)
    if hit is not None:
        return json.loads(hit)
    value = compute()
    cache.put_result(key, json.dumps(value))
    return value


def halves(instructions: Sequence[str], seed: int) -> tuple[list[int], list[int]]:
    """Two equal halves of a set's rows, split by a seeded hash of the instruction.

    Rows that share an instruction go to the same half, so the halves never answer the same
    prompt; an odd row is left out.
    """
    import hashlib

    by_ins: dict[str, list[int]] = {}
    for i, ins in enumerate(instructions):
        by_ins.setdefault(ins.strip() or f"\0{i}", []).append(i)
    order = sorted(by_ins, key=lambda k: hashlib.sha256(f"halves\0{seed}\0{k}".encode()).digest())
    first: list[int] = []
    second: list[int] = []
    for k in order:
        (first if len(first) < len(instructions) / 2 else second).extend(by_ins[k])
    m = min(len(first), len(second))
    return sorted(first)[:m], sorted(second)[:m]


def _classifier(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any) -> dict[str, Any]:
    """The unpaired classifier between two sets, through the results cache."""
    ins_a, ins_b = list(a.text_set.instructions), list(b.text_set.instructions)
    folds, seed, bootstrap = settings.folds, settings.seed, settings.bootstrap
    return _memo(cache, "classifier", (a.emb, b.emb, ins_a, ins_b),
                 {"folds": folds, "seed": seed, "bootstrap": bootstrap},
                 lambda: classifier_separability(a.emb, b.emb, instructions_a=ins_a, instructions_b=ins_b,
                                                 folds=folds, seed=seed, bootstrap=bootstrap))


def _mauve(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any) -> dict[str, Any]:
    """MAUVE between two sets' features, through the results cache."""
    return _memo(cache, "mauve", (a.feat, b.feat), {"seeds": list(settings.seeds)},
                 lambda: mauve_score(a.feat, b.feat, seeds=settings.seeds))


def noise_floor(x: EmbeddedSet, settings: AnalysisSettings = DEFAULT_SETTINGS, *, cache: Any = None
                ) -> dict[str, Any]:
    """The negative control for one set: MAUVE and the classifier between two random halves of it."""
    h1, h2 = halves(x.text_set.instructions, settings.seed)
    out: dict[str, Any] = {"set": x.text_set.name, "n_per_half": len(h1), "mauve": None,
                           "classifier_accuracy": None, "classifier_auc": None, "cv": None}
    first, second = x.rows(h1), x.rows(h2)
    if len(h1) >= MIN_TEXTS:
        out["mauve"] = _mauve(first, second, settings, cache)
    if len(h1) >= 2 * settings.folds:
        sep = _classifier(first, second, settings, cache)
        out.update(classifier_accuracy=sep["classifier_accuracy"], classifier_auc=sep["classifier_auc"], cv=sep["cv"])
    return out


def _floor_of(measure: str, floors: Sequence[dict[str, Any]], higher_separates: bool) -> dict[str, Any] | None:
    """Of the two sets' negative controls, the one least favourable to calling the pair separated."""
    found = [(f[measure], f) for f in floors if f.get(measure)]
    if not found:
        return None
    m, f = (max if higher_separates else min)(found, key=lambda mf: mf[0]["mean"])
    return {"mean": m["mean"], "se": m["se"], "ci": m["ci"], "set": f["set"], "n_per_half": f["n_per_half"],
            "kind": f"two random halves of {f['set']} ({f['n_per_half']} texts each)"}


def judge(measure: dict[str, Any], floor: dict[str, Any] | None, *, higher_separates: bool,
          chance: float | None = None) -> dict[str, Any]:
    """Attach the noise floor and the verdict (see VERDICT_RULE) to a measure, in place; returns it.

    `chance` (classifiers) is a second baseline: the pair must clear the higher of floor and
    chance, and is "below the noise floor" only under the lower of the two.
    """
    measure["noise_floor"] = floor
    if floor is None:
        measure.update(verdict="no noise floor (too few texts to halve)", margin=None, noise=None)
        return measure
    noise = 1.96 * math.sqrt(measure["se"] ** 2 + floor["se"] ** 2)
    if higher_separates:
        baselines = [floor["mean"]] + ([chance] if chance is not None else [])
        gap, under = measure["mean"] - max(baselines), measure["mean"] - min(baselines)
    else:
        gap, under = floor["mean"] - measure["mean"], 0.0
    if gap > noise:
        verdict = "separated"
    elif under < -noise and higher_separates:
        verdict = "below the noise floor"
    else:
        verdict = "not separated"
    measure.update(verdict=verdict, margin=gap, noise=noise)
    return measure


def compare_pair(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings = DEFAULT_SETTINGS, *,
                 cache: Any = None, floors: dict[Any, dict[str, Any]] | None = None) -> dict[str, Any]:
    """MAUVE, unpaired and (when instructions are shared) paired separability of one pair, each with its noise floor.

    Runs with `settings.threads` BLAS/OpenMP threads (None: the libraries' default). One is the
    default because on shared cores faiss's and OpenBLAS's spinning thread pools made MAUVE 15-30x
    slower (0.5 s -> 14-28 s for 805 vs 805), and even on idle cores one thread was faster at this
    size. `floors` memoises each set's negative control across the pairs of one analysis.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=settings.threads):
        return _compare_pair(a, b, settings, cache, {} if floors is None else floors)


def _compare_pair(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any,
                  floors: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    sa, sb, seed = a.text_set, b.text_set, settings.seed
    n = min(len(sa), len(sb))
    notes = []
    sub_a = a.rows(subsample_indices(sa.instructions, n, seed))
    sub_b = b.rows(subsample_indices(sb.instructions, n, seed))
    if len(sa) != len(sb):
        big = sa if len(sa) > len(sb) else sb
        notes.append(f"{big.name} subsampled from {len(big)} to {n} texts (seed {seed}) to match the other set "
                     f"for MAUVE and the unpaired classifier")
    sep = _classifier(sub_a, sub_b, settings, cache)
    mauve = _mauve(sub_a, sub_b, settings, cache)
    pair_floors = []
    for sub in (sub_a, sub_b):
        key = (sub.text_set.name, len(sub.text_set))
        if key not in floors:
            floors[key] = noise_floor(sub, settings, cache=cache)
        pair_floors.append(floors[key])
    judge(mauve, _floor_of("mauve", pair_floors, False), higher_separates=False)
    acc, auc = sep["classifier_accuracy"], sep["classifier_auc"]
    judge(acc, _floor_of("classifier_accuracy", pair_floors, True), higher_separates=True, chance=acc["chance"])
    judge(auc, _floor_of("classifier_auc", pair_floors, True), higher_separates=True, chance=0.5)
    notes += _below_chance_notes(pair_floors)
    paired = _paired(a, b, settings, cache, notes)
    warnings = _leak_warnings(acc, auc, sep["cv"])
    accs = {"classifier_accuracy": acc}
    if paired["paired_accuracy"]:
        accs["paired_accuracy"] = paired["paired_accuracy"]
    return {
        "a": sa.name, "b": sb.name, "n_per_set": n,
        "cv": sep["cv"],
        "mauve": mauve,
        "classifier_accuracy": acc, "classifier_auc": auc,
        "paired_accuracy": paired["paired_accuracy"], "paired_auc": paired["paired_auc"],
        "n_shared_instructions": paired["n_instructions"],
        "noise_floors": pair_floors,
        "notes": notes, "warnings": warnings + mauve_warnings(mauve, accs),
    }


def _below_chance_notes(floors: Sequence[dict[str, Any]]) -> list[str]:
    """A note for each noise floor whose classifier scores below chance by more than its noise."""
    notes = []
    for f in floors:
        x = f.get("classifier_accuracy")
        if x and x["mean"] < x["chance"] - 1.96 * x["se"]:
            notes.append(f"two halves of {f['set']} score accuracy {x['mean']:.3f}, below chance: cross-validation on "
                         f"these embeddings is biased low (an item's topic neighbours sit in the other half), so the "
                         f"verdicts also compare with chance")
    return notes


def _paired(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any, notes: list[str]
            ) -> dict[str, Any]:
    """The paired classifier on the instructions both sets answer, judged against chance; a note when too few."""
    pa, pb = shared_instructions(a.text_set, b.text_set)
    folds, seed, bootstrap = settings.folds, settings.seed, settings.bootstrap
    paired: dict[str, Any] = {"paired_accuracy": None, "paired_auc": None, "n_instructions": len(pa)}
    if len(pa) >= 2 * folds:
        ea, eb = a.emb[pa], b.emb[pb]
        paired = _memo(cache, "paired", (ea, eb), {"folds": folds, "seed": seed, "bootstrap": bootstrap},
                       lambda: paired_separability(ea, eb, folds=folds, seed=seed, bootstrap=bootstrap))
        # labels are symmetric by construction: under "A and B alike" the expected accuracy is exactly chance
        chance = {"mean": 0.5, "se": 0.0, "ci": [0.5, 0.5], "set": None, "n_per_half": None,
                  "kind": "chance (0.5 exactly when A and B are alike: the labels are symmetric)"}
        judge(paired["paired_accuracy"], dict(chance), higher_separates=True)
        judge(paired["paired_auc"], dict(chance), higher_separates=True)
    elif pa:
        notes.append(f"only {len(pa)} shared instructions; the paired classifier needs {2 * folds}")
    return paired


def _leak_warnings(acc: dict[str, Any], auc: dict[str, Any], cv: dict[str, Any]) -> list[str]:
    """A warning for each unpaired classifier score below its noise floor: a leaking CV, never a finding."""
    return [f"{label} {m['mean']:.3f} is below its noise floor {m['noise_floor']['mean']:.3f} by more "
            f"than the noise: the cross-validation leaks ({cv['kind']} CV); do not read it"
            for label, m in (("classifier accuracy", acc), ("classifier AUC", auc))
            if m["verdict"] == "below the noise floor"]


def _set_summary(s: TextSet, tokens: list[list[str]], budget: int, examples: int, seed: int) -> dict[str, Any]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(tokens))  # diversity on a random budget-sized sample
    shuffled = [tokens[i] for i in order]
    div = ngram_diversity(shuffled, budget)
    lengths = length_stats(tokens)
    return {
        "path": s.path, "field": s.field, "n": len(s), "dropped_empty": s.dropped_empty,
        "subsampled_from": s.subsampled_from,
        "mean_length_tokens": lengths["mean"], "length_tokens": lengths,
        "unique_trigrams_per_1k_tokens": div["unique_trigrams_per_1k_tokens"],
        "distinct_1": div["distinct_1"], "distinct_2": div["distinct_2"], "distinct_3": div["distinct_3"],
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
        kind = (f"LM hidden states ({how}, texts cut to {embedder.window} tokens)"
                + (": the mauve-text featurization; the back-and-forth paper used it with gpt2-large"
                   if pooling == "last" else ""))
    else:
        kind = ("sentence embeddings (the offline default; not the GPT-2 features of the back-and-forth paper's "
                "MAUVE, so not comparable with its numbers)")
    return {"name": embedder.name, "identity": embedder.identity, "kind": kind, "window": embedder.window}


def analyze(sets: Sequence[TextSet], embedder: Embedder, settings: AnalysisSettings = DEFAULT_SETTINGS, *,
            mauve_embedder: Embedder | None = None, eval_prompts: TextSet | None = None) -> Analysis:
    """Compare every set with every other; see the module docstring for what is measured."""
    sets, notes = _checked_sets(sets, settings)
    mauve_embedder = mauve_embedder or embedder
    cache = embedder.cache
    emb = {s.name: embedder.embed(s.texts) for s in sets}
    feats = emb if mauve_embedder is embedder else {s.name: mauve_embedder.embed(s.texts) for s in sets}
    cut = {s.name: {"classifier": embedder.truncated(s.texts), "mauve": mauve_embedder.truncated(s.texts)}
           for s in sets}
    lengths, per_set, budget, examples = _per_set(sets, emb, cut, cache, settings)
    if settings.model_tokens is not None:
        tokenizer, count = settings.model_tokens
        for s in sets:
            per_set[s.name]["length_model_tokens"] = {"tokenizer": tokenizer, **lengths_summary(count(s.texts))}
    if eval_prompts is not None:
        prompt_emb = embedder.embed(eval_prompts.texts)
        for s in sets:
            ins_emb = emb[s.name] if s.field == "instruction" else embedder.embed(s.instructions)
            per_set[s.name]["contamination"] = contam.contamination(
                s.instructions, ins_emb, eval_prompts.texts, prompt_emb, n=settings.ngram_n,
                cosine_threshold=settings.contamination_threshold)

    floors: dict[Any, dict[str, Any]] = {}
    emb_info, feat_info = features_info(embedder), features_info(mauve_embedder)
    vectors = [EmbeddedSet(s, emb[s.name], feats[s.name]) for s in sets]
    pairs = []
    for i, a in enumerate(vectors):
        for b in vectors[i + 1:]:
            p = compare_pair(a, b, settings, cache=cache, floors=floors)
            p["features"] = {"mauve": feat_info, "classifier": emb_info}
            _add_truncation(p, (a.text_set, b.text_set), cut, settings.seed)
            pairs.append(p)
    report = {
        "embedder": {**emb_info, "dim": int(next(iter(emb.values())).shape[1])},
        "mauve_features": feat_info,
        "field": sets[0].field, "seed": settings.seed, "folds": settings.folds, "mauve_seeds": list(settings.seeds),
        "bootstrap": settings.bootstrap,
        "verdict_rule": VERDICT_RULE,
        "tokenizer": TOKENIZER, "diversity_token_budget": budget, "diversity_examples": examples,
        "eval_prompts": None if eval_prompts is None else {"path": eval_prompts.path, "n": len(eval_prompts)},
        "sets": per_set, "pairs": pairs, "notes": notes,
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
        notes += [f"{c.name}: subsampled from {s_len} to {len(c)} texts (--max-texts, seed {seed})"
                  for c, s_len in zip(cut, map(len, sets), strict=True) if len(c) < s_len]
        sets = cut
    need = max(MIN_TEXTS, 2 * settings.folds)
    for s in sets:
        if len(s) < need:
            dropped = f" after dropping {s.dropped_empty} empty" if s.dropped_empty else ""
            raise InputError(f"set {s.name!r} has {len(s)} texts{dropped}; MAUVE and the classifier need at least "
                             f"{need} per set", path=s.path or None, fix="give more texts")
    notes += [f"{s.name}: dropped {s.dropped_empty} empty texts" for s in sets if s.dropped_empty]
    return sets, notes


def _per_set(sets: Sequence[TextSet], emb: dict[str, np.ndarray], cut: dict[str, dict[str, list[bool]]],
             cache: Any, settings: AnalysisSettings) -> tuple[dict[str, list[int]], dict[str, Any], int, int]:
    """Token lengths and the summary of each set, and the token budget and example count they were compared on."""
    tokens: dict[str, list[list[str]]] = {}

    def tokenized(s: TextSet) -> list[list[str]]:
        if s.name not in tokens:
            tokens[s.name] = [tokenize(t) for t in s.texts]
        return tokens[s.name]

    # token counts and the per-set summaries are cached too: tokenizing and counting n-grams of
    # 10,000 texts a set was most of a rerun's time once MAUVE and the classifiers were cached
    lengths = {s.name: _memo(cache, "token_lengths", (s.texts,), {"tokenizer": TOKENIZER},
                             lambda s=s: [len(t) for t in tokenized(s)]) for s in sets}
    budget = min(sum(v) for v in lengths.values())  # equal token budget for diversity
    examples = min(len(s) for s in sets)  # equal number of examples for the paper's trigram count
    seed, threshold = settings.seed, settings.duplicate_threshold
    per_set = {s.name: _memo(cache, "set_summary", (s.texts,),
                             {"budget": budget, "examples": examples, "seed": seed, "path": s.path, "field": s.field,
                              "dropped": s.dropped_empty, "from": s.subsampled_from},
                             lambda s=s: _set_summary(s, tokenized(s), budget, examples, seed)) for s in sets}
    for s in sets:
        per_set[s.name]["truncated"] = {"classifier": sum(cut[s.name]["classifier"]),
                                        "mauve": sum(cut[s.name]["mauve"])}
        per_set[s.name]["near_duplicates"] = _memo(
            cache, "near_duplicates", (emb[s.name], s.texts), {"threshold": threshold},
            lambda s=s: contam.near_duplicates(s.texts, emb[s.name], threshold=threshold))
    return lengths, per_set, budget, examples


def _add_truncation(p: dict[str, Any], pair: tuple[TextSet, TextSet], cut: dict[str, dict[str, list[bool]]],
                    seed: int) -> None:
    """Count, in the pair's subsample, the texts each embedder's window cut; a note where any were."""
    a, b = pair
    ia, ib = (subsample_indices(x.instructions, p["n_per_set"], seed) for x in (a, b))
    p["truncated"] = {what: {a.name: sum(cut[a.name][what][k] for k in ia),
                             b.name: sum(cut[b.name][what][k] for k in ib),
                             "window": p["features"][what]["window"]}
                      for what in ("mauve", "classifier")}
    for what, t in p["truncated"].items():
        if t[a.name] or t[b.name]:
            p["notes"].append(f"{what} features: {t[a.name]} texts of {a.name} and {t[b.name]} of {b.name} "
                              f"were longer than the {t['window']}-token window and cut to it")


def measure_cell(m: dict[str, Any] | None, *, sep: str = "\n") -> str:
    """'0.732 [0.712, 0.751]' then 'floor 0.498: separated' (the noise floor and the verdict)."""
    if not m:
        return "-"
    text = f"{m['mean']:.3f} [{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]" if m.get("ci") else f"{m['mean']:.3f}"
    if "verdict" in m:
        floor = m.get("noise_floor")
        text += sep + (f"floor {floor['mean']:.3f}: {m['verdict']}" if floor else m["verdict"])
    return text


def render(report: dict[str, Any]) -> list[Any]:
    """Rich renderables: a table of sets, a table of pairs, then notes and warnings."""
    from rich.table import Table

    sets = Table(title=f"sets ({report['field']}; tokens = {report['tokenizer']}; per 1k: on the first "
                       f"{report['diversity_token_budget']} tokens of each; @N: unique trigrams in "
                       f"{report.get('diversity_examples', '?')} examples of each, the paper's measure)")
    for col in ("set", "n", "empty", "mean len", "median len", "uniq 3-grams/1k", "uniq 3-grams @N", "distinct-2",
                "near-dup pairs", "contaminated", "cut (clf/MAUVE)"):
        sets.add_column(col, justify="left" if col == "set" else "right", overflow="fold")
    for name, s in report["sets"].items():
        c = s.get("contamination")
        t = s.get("truncated") or {}
        sets.add_row(name, str(s["n"]), str(s["dropped_empty"]), f"{s['mean_length_tokens']:.1f}",
                     f"{s['length_tokens']['median']:.0f}", f"{s['unique_trigrams_per_1k_tokens']:.1f}",
                     str(s.get("unique_trigrams_at_equal_examples", "-")),
                     f"{s['distinct_2']:.3f}", str(s["near_duplicates"]["pairs"]),
                     f"{c['contaminated']}/{c['eval_prompts']}" if c else "-",
                     f"{t.get('classifier', '-')}/{t.get('mauve', '-')}")
    pairs = Table(title=f"pairs: value [95% interval], then the noise floor (two random halves of one set) and the "
                        f"verdict. MAUVE over {len(report['mauve_seeds'])} seeds on {report['mauve_features']['name']} "
                        f"({report['mauve_features'].get('kind', '')}); classifiers on {report['embedder']['name']}, "
                        f"{report['folds']}-fold CV")
    for col in ("A", "B", "n", "CV", "MAUVE", "accuracy", "AUC", "paired acc", "shared"):
        pairs.add_column(col, justify="left" if col in ("A", "B", "CV") else "right", overflow="fold")
    for p in report["pairs"]:
        pairs.add_row(p["a"], p["b"], str(p["n_per_set"]), (p.get("cv") or {}).get("kind", "-"),
                      measure_cell(p["mauve"]), measure_cell(p["classifier_accuracy"]),
                      measure_cell(p["classifier_auc"]), measure_cell(p["paired_accuracy"]),
                      str(p["n_shared_instructions"]))
    out: list[Any] = [sets, pairs]
    if report.get("verdict_rule"):
        out.append(f"verdicts: {report['verdict_rule']}")
    out += [f"note: {n}" for n in report["notes"]]
    out += [f"note: {p['a']} vs {p['b']}: {n}" for p in report["pairs"] for n in p["notes"]]
    out += [f"[yellow]warning:[/yellow] {w}" for w in distinct_warnings(report["warnings"])]
    return out


def render_curation(curation: dict[str, Any]) -> list[Any]:
    """One table per dataset: precision and recall of its curation at each threshold."""
    from rich.table import Table

    out: list[Any] = []
    for name, c in curation.items():
        t = Table(title=f"curation of {name}: {c['judged']} candidates judged by {c['reference']} "
                        f"({c['reference_good']} good, score >= {c['good_at']})")
        for col in ("threshold", "selected", "good selected", "precision", "recall"):
            t.add_column(col, justify="right")
        for row in c["thresholds"]:
            t.add_row(f"{row['threshold']:g}", str(row["selected"]), str(row["good_selected"]),
                      "-" if row["precision"] is None else f"{row['precision']:.3f}",
                      "-" if row["recall"] is None else f"{row['recall']:.3f}")
        out.append(t)
    return out


def distinct_warnings(warnings: Sequence[str]) -> list[str]:
    """Each distinct warning once: warnings that differ only in the pair they are about ("A vs B: ...")
    and in their numbers are one line, naming the pairs, with the first one's numbers."""
    import re

    groups: dict[str, tuple[str, list[str]]] = {}
    for w in warnings:
        m = re.match(r"^(\S+ vs \S+): (.*)$", w, flags=re.S)
        pair, body = (m.group(1), m.group(2)) if m else ("", w)
        key = re.sub(r"\d+(?:[.,]\d+)*", "#", body)
        _, pairs = groups.setdefault(key, (body, []))
        if pair:
            pairs.append(pair)
    out = []
    for body, pairs in groups.values():
        if len(pairs) > 1:
            named = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
            out.append(f"{body} ({len(pairs)} pairs: {named}; the figures are the first's)")
        else:
            out.append(f"{pairs[0]}: {body}" if pairs else body)
    return out
