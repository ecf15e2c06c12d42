"""Instruction complexity as tags per instruction: a tagger model lists the intentions behind each
instruction (a JSON list of short tags, `harness/prompts/instruction_tags.txt`), and a dataset's
complexity is the mean number of distinct tags per instruction; its diversity, the number of
distinct tags over all of them.

Pure: this module parses the tagger's replies and measures them; the analysis stage
(`harness.stages.analyze`) asks the model. Each set carries an interval (mean +/- 1.96 SE) and its
noise floor (the gap between the means of two random halves of it); a pair of sets is "different"
only when the gap between their means, less its 1.96 SE, clears both sets' floors. A set whose
replies mostly do not parse cannot discriminate, and says so.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

MOSTLY_UNPARSED = 0.5  # above this share of unparsed replies a set's figure is not read
TOP_TAGS = 10


def parse_tags(reply: str) -> list[str] | None:
    """The tags of one reply: the first JSON list in it, of strings or of objects with a "tag" field,
    lower-cased, whitespace collapsed, each once in the order given. None when no list parses."""
    for start in (m.start() for m in re.finditer(r"\[", reply)):
        end = reply.find("]", start)
        while end != -1:
            try:
                items = json.loads(reply[start : end + 1])
            except ValueError:
                end = reply.find("]", end + 1)
                continue
            if isinstance(items, list):
                return _normalised(items)
            break
    return None


def _normalised(items: list[Any]) -> list[str] | None:
    tags: list[str] = []
    for item in items:
        text = item.get("tag") if isinstance(item, dict) else item
        if not isinstance(text, str):
            return None
        tag = " ".join(text.lower().split()).strip(" .,;:\"'")
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _mean_se(counts: Sequence[int]) -> dict[str, Any] | None:
    n = len(counts)
    if n < 2:
        return None
    mean = sum(counts) / n
    var = sum((c - mean) ** 2 for c in counts) / (n - 1)
    se = math.sqrt(var / n)
    return {"mean": mean, "se": se, "ci": [mean - 1.96 * se, mean + 1.96 * se], "n": n}


def set_report(name: str, tags: Sequence[list[str] | None], *, seed: int) -> dict[str, Any]:
    """One set's figures from its instructions' parsed tags (None: the reply did not parse)."""
    import numpy as np

    parsed = [t for t in tags if t is not None]
    counts = [len(t) for t in parsed]
    unparsed = len(tags) - len(parsed)
    order = np.random.default_rng(seed).permutation(len(counts))
    half = len(counts) // 2
    h1, h2 = [counts[i] for i in order[:half]], [counts[i] for i in order[half : 2 * half]]
    floor = abs(sum(h1) / len(h1) - sum(h2) / len(h2)) if half else None
    vocabulary = Counter(tag for t in parsed for tag in t)
    out = {
        "set": name,
        "instructions": len(tags),
        "unparsed": unparsed,
        "unparsed_share": unparsed / len(tags) if tags else None,
        "tags_per_instruction": _mean_se(counts),
        "noise_floor": None if floor is None else {"gap": floor, "kind": f"two random halves ({half} each)"},
        "distinct_tags": len(vocabulary),
        "distinct_tags_per_100": 100 * len(vocabulary) / len(parsed) if parsed else None,
        "top_tags": vocabulary.most_common(TOP_TAGS),
    }
    out["verdict"] = (
        f"cannot discriminate: {unparsed} of {len(tags)} replies did not parse"
        if not tags or unparsed / len(tags) > MOSTLY_UNPARSED or out["tags_per_instruction"] is None
        else None
    )
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The difference in mean tags per instruction (b - a), its interval, and the verdict against
    both sets' noise floors."""
    out: dict[str, Any] = {"a": a["set"], "b": b["set"]}
    ma, mb = a["tags_per_instruction"], b["tags_per_instruction"]
    if a["verdict"] or b["verdict"] or ma is None or mb is None:
        why = "; ".join(
            f"{x['set']}: {x['verdict'] or 'too few instructions'}"
            for x in (a, b)
            if x["verdict"] or not x["tags_per_instruction"]
        )
        out.update(difference=None, verdict=f"not compared ({why})")
        return out
    diff, se = mb["mean"] - ma["mean"], math.hypot(ma["se"], mb["se"])
    floor = max(x["noise_floor"]["gap"] for x in (a, b) if x["noise_floor"])
    margin = abs(diff) - 1.96 * se - floor
    out.update(
        difference=diff,
        ci=[diff - 1.96 * se, diff + 1.96 * se],
        noise_floor=floor,
        verdict=(
            f"{b['set']} {'more' if diff > 0 else 'fewer'} tags per instruction"
            if margin > 0
            else "within noise"
        ),
    )
    return out


def report(sets: dict[str, Sequence[list[str] | None]], *, tagger: str, seed: int) -> dict[str, Any]:
    """Every set's figures and every pair's comparison."""
    per_set = {name: set_report(name, tags, seed=seed) for name, tags in sets.items()}
    names = list(per_set)
    return {
        "tagger": tagger,
        "measure": "distinct tags per instruction, from the tagger's JSON list (instruction_tags prompt)",
        "verdict_rule": (
            "different: |b - a| - 1.96 SE exceeds the larger half-vs-half gap of the two sets; "
            f"a set with more than {MOSTLY_UNPARSED:.0%} unparsed replies cannot discriminate"
        ),
        "sets": per_set,
        "pairs": [compare(per_set[x], per_set[y]) for i, x in enumerate(names) for y in names[i + 1 :]],
    }
