"""The settings of an analysis and how two sets are compared: MAUVE and the classifiers, each with a 95%
interval, its noise floor (the same measure on two random halves of one set) and a verdict
(`VERDICT_RULE`). `compare_pair` and `noise_floor` take a set with its vectors (`EmbeddedSet`);
costly measures are cached beside the embeddings (`memo`), keyed by their inputs and settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.evaluation.analysis.mauve import DEFAULT_SEEDS, MIN_TEXTS, mauve_score, mauve_warnings
from harness.evaluation.analysis.separability import (
    DEFAULT_BOOTSTRAP,
    classifier_separability,
    paired_separability,
)
from harness.evaluation.analysis.texts import TextSet, subsample_indices

if TYPE_CHECKING:
    import numpy as np


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


VERDICT_RULE = (
    "a pair is 'separated' on a measure when it differs from its noise floor in the separating "
    "direction (MAUVE lower; accuracy, AUC higher) by more than 1.96 x sqrt(se_pair^2 + se_floor^2), "
    "and for the classifiers also from chance by that much (two halves of one set can score below "
    "chance: cross-validation on topic-dominated embeddings is biased low); otherwise 'not separated'. "
    "A classifier score that far below both floor and chance is 'below the noise floor', a defect "
    "(leakage between folds), never a finding."
)
RESULTS_VERSION = 2  # bump when a cached measure's meaning changes


def memo(cache: Any, name: str, arrays: Sequence[Any], settings: dict[str, Any], compute: Any) -> Any:
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
    return memo(
        cache,
        "classifier",
        (a.emb, b.emb, ins_a, ins_b),
        {"folds": folds, "seed": seed, "bootstrap": bootstrap},
        lambda: classifier_separability(
            a.emb,
            b.emb,
            instructions_a=ins_a,
            instructions_b=ins_b,
            folds=folds,
            seed=seed,
            bootstrap=bootstrap,
        ),
    )


def _mauve(a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any) -> dict[str, Any]:
    """MAUVE between two sets' features, through the results cache."""
    return memo(
        cache,
        "mauve",
        (a.feat, b.feat),
        {"seeds": list(settings.seeds)},
        lambda: mauve_score(a.feat, b.feat, seeds=settings.seeds),
    )


def noise_floor(
    x: EmbeddedSet, settings: AnalysisSettings = DEFAULT_SETTINGS, *, cache: Any = None
) -> dict[str, Any]:
    """The negative control for one set: MAUVE and the classifier between two random halves of it."""
    h1, h2 = halves(x.text_set.instructions, settings.seed)
    out: dict[str, Any] = {
        "set": x.text_set.name,
        "n_per_half": len(h1),
        "mauve": None,
        "classifier_accuracy": None,
        "classifier_auc": None,
        "cv": None,
    }
    first, second = x.rows(h1), x.rows(h2)
    if len(h1) >= MIN_TEXTS:
        out["mauve"] = _mauve(first, second, settings, cache)
    if len(h1) >= 2 * settings.folds:
        sep = _classifier(first, second, settings, cache)
        out.update(
            classifier_accuracy=sep["classifier_accuracy"], classifier_auc=sep["classifier_auc"], cv=sep["cv"]
        )
    return out


def _floor_of(
    measure: str, floors: Sequence[dict[str, Any]], higher_separates: bool
) -> dict[str, Any] | None:
    """Of the two sets' negative controls, the one least favourable to calling the pair separated."""
    found = [(f[measure], f) for f in floors if f.get(measure)]
    if not found:
        return None
    m, f = (max if higher_separates else min)(found, key=lambda mf: mf[0]["mean"])
    return {
        "mean": m["mean"],
        "se": m["se"],
        "ci": m["ci"],
        "set": f["set"],
        "n_per_half": f["n_per_half"],
        "kind": f"two random halves of {f['set']} ({f['n_per_half']} texts each)",
    }


def judge(
    measure: dict[str, Any],
    floor: dict[str, Any] | None,
    *,
    higher_separates: bool,
    chance: float | None = None,
) -> dict[str, Any]:
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


def compare_pair(
    a: EmbeddedSet,
    b: EmbeddedSet,
    settings: AnalysisSettings = DEFAULT_SETTINGS,
    *,
    cache: Any = None,
    floors: dict[Any, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """MAUVE, unpaired and (when instructions are shared) paired separability of one pair, each with its noise floor.

    Runs with `settings.threads` BLAS/OpenMP threads (None: the libraries' default). One is the
    default because on shared cores faiss's and OpenBLAS's spinning thread pools made MAUVE 15-30x
    slower (0.5 s -> 14-28 s for 805 vs 805), and even on idle cores one thread was faster at this
    size. `floors` memoises each set's negative control across the pairs of one analysis.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=settings.threads):
        return _compare_pair(a, b, settings, cache, {} if floors is None else floors)


def _compare_pair(
    a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any, floors: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    sa, sb, seed = a.text_set, b.text_set, settings.seed
    n = min(len(sa), len(sb))
    notes = []
    sub_a = a.rows(subsample_indices(sa.instructions, n, seed))
    sub_b = b.rows(subsample_indices(sb.instructions, n, seed))
    if len(sa) != len(sb):
        big = sa if len(sa) > len(sb) else sb
        notes.append(
            f"{big.name} subsampled from {len(big)} to {n} texts (seed {seed}) to match the other set "
            f"for MAUVE and the unpaired classifier"
        )
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
    judge(
        acc, _floor_of("classifier_accuracy", pair_floors, True), higher_separates=True, chance=acc["chance"]
    )
    judge(auc, _floor_of("classifier_auc", pair_floors, True), higher_separates=True, chance=0.5)
    notes += _below_chance_notes(pair_floors)
    paired = _paired(a, b, settings, cache, notes)
    warnings = _leak_warnings(acc, auc, sep["cv"])
    accs = {"classifier_accuracy": acc}
    if paired["paired_accuracy"]:
        accs["paired_accuracy"] = paired["paired_accuracy"]
    return {
        "a": sa.name,
        "b": sb.name,
        "n_per_set": n,
        "cv": sep["cv"],
        "mauve": mauve,
        "classifier_accuracy": acc,
        "classifier_auc": auc,
        "paired_accuracy": paired["paired_accuracy"],
        "paired_auc": paired["paired_auc"],
        "n_shared_instructions": paired["n_instructions"],
        "noise_floors": pair_floors,
        "notes": notes,
        "warnings": warnings + mauve_warnings(mauve, accs),
    }


def _below_chance_notes(floors: Sequence[dict[str, Any]]) -> list[str]:
    """A note for each noise floor whose classifier scores below chance by more than its noise."""
    notes = []
    for f in floors:
        x = f.get("classifier_accuracy")
        if x and x["mean"] < x["chance"] - 1.96 * x["se"]:
            notes.append(
                f"two halves of {f['set']} score accuracy {x['mean']:.3f}, below chance: cross-validation on "
                f"these embeddings is biased low (an item's topic neighbours sit in the other half), so the "
                f"verdicts also compare with chance"
            )
    return notes


def _paired(
    a: EmbeddedSet, b: EmbeddedSet, settings: AnalysisSettings, cache: Any, notes: list[str]
) -> dict[str, Any]:
    """The paired classifier on the instructions both sets answer, judged against chance; a note when too few."""
    pa, pb = shared_instructions(a.text_set, b.text_set)
    folds, seed, bootstrap = settings.folds, settings.seed, settings.bootstrap
    paired: dict[str, Any] = {"paired_accuracy": None, "paired_auc": None, "n_instructions": len(pa)}
    if len(pa) >= 2 * folds:
        ea, eb = a.emb[pa], b.emb[pb]
        paired = memo(
            cache,
            "paired",
            (ea, eb),
            {"folds": folds, "seed": seed, "bootstrap": bootstrap},
            lambda: paired_separability(ea, eb, folds=folds, seed=seed, bootstrap=bootstrap),
        )
        # labels are symmetric by construction: under "A and B alike" the expected accuracy is exactly chance
        chance = {
            "mean": 0.5,
            "se": 0.0,
            "ci": [0.5, 0.5],
            "set": None,
            "n_per_half": None,
            "kind": "chance (0.5 exactly when A and B are alike: the labels are symmetric)",
        }
        judge(paired["paired_accuracy"], dict(chance), higher_separates=True)
        judge(paired["paired_auc"], dict(chance), higher_separates=True)
    elif pa:
        notes.append(f"only {len(pa)} shared instructions; the paired classifier needs {2 * folds}")
    return paired


def _leak_warnings(acc: dict[str, Any], auc: dict[str, Any], cv: dict[str, Any]) -> list[str]:
    """A warning for each unpaired classifier score below its noise floor: a leaking CV, never a finding."""
    return [
        f"{label} {m['mean']:.3f} is below its noise floor {m['noise_floor']['mean']:.3f} by more "
        f"than the noise: the cross-validation leaks ({cv['kind']} CV); do not read it"
        for label, m in (("classifier accuracy", acc), ("classifier AUC", auc))
        if m["verdict"] == "below the noise floor"
    ]
