"""Parsers for model outputs: the curation rating and the rewrite's `[RES]...[/RES]` block.

Both are pure functions returning a value or a failure reason, never raising, so that a model's
unexpected output becomes a counted drop. The strict rating parser is the papers' protocol
("Score: N" with N in 1..5); the logprob rating (expected value over the probabilities of the
tokens 1..5 right after "Score:") is the robust option for models that do not follow the format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

# "Score: 5", "**Score:** 4", "score: 3/5", "Score : 2." - the label and the colon are required.
_SCORE = re.compile(r"score\s*\**\s*:\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
RATINGS = ("1", "2", "3", "4", "5")
RES_OPEN, RES_CLOSE = "[RES]", "[/RES]"
MISSING_RES_POLICIES = ("drop", "keep_output")


def parse_score(text: str) -> tuple[int | None, str | None]:
    """The rating of a judge's reply: (score, None) or (None, failure reason).

    Several ratings that agree count as one; ratings that disagree are ambiguous and fail.
    """
    found = _SCORE.findall(text or "")
    if not found:
        return None, "no_score"
    values = set()
    for raw in found:
        value = float(raw)
        if not value.is_integer() or not 1 <= value <= 5:
            return None, "score_out_of_range"
        values.add(int(value))
    if len(values) > 1:
        return None, "several_scores"
    return values.pop(), None


def parse_bare_score(text: str) -> tuple[int | None, str | None]:
    """The reply to a prompt that already ends in "Score:": a leading digit 1..5, or a full "Score: N"."""
    stripped = (text or "").strip().lstrip("*").strip()
    m = re.match(r"([1-5])(?:\s*/\s*5)?(?!\d)", stripped)
    if m:
        return int(m.group(1)), None
    return parse_score(text)


def expected_score(top_logprobs: Sequence[tuple[str, float]] | None) -> float | None:
    """Expected rating under the first generated token's probabilities of 1..5, renormalised.

    Tokens are compared after stripping whitespace, so " 5" and "5" both count as 5 (their
    probabilities add up). None when no rating token is among the top-K.
    """
    mass = dict.fromkeys(RATINGS, 0.0)
    for token, logprob in top_logprobs or ():
        t = token.strip()
        if t in mass and math.isfinite(logprob):
            mass[t] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return None
    # the weighted mean lies in [1, 5]; float rounding can overshoot by an ulp (5.000000000000001)
    return min(5.0, max(1.0, sum(int(k) * p for k, p in mass.items()) / total))


def parse_rewrite(text: str, *, missing: str = "drop") -> tuple[str | None, str | None, str | None]:
    """The rewritten response inside `[RES]...[/RES]`: (text, drop reason, parse failure).

    The first block counts. Without `[RES]` the paper drops the pair; `missing="keep_output"` keeps
    the whole output instead. An opened but unclosed block (usually a truncated generation) keeps
    what follows `[RES]` only under "keep_output". An empty rewrite is always dropped. The third
    value names the parse failure even when the policy rescued the output, so it can be counted.
    """
    if missing not in MISSING_RES_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_RES_POLICIES}, got {missing!r}")
    text = text or ""
    start = text.find(RES_OPEN)
    if start < 0:
        failure = "missing_res"
        body = text.replace(RES_CLOSE, "") if missing == "keep_output" else None
    else:
        rest = text[start + len(RES_OPEN) :]
        end = rest.find(RES_CLOSE)
        if end >= 0:
            failure, body = None, rest[:end]
        else:
            failure = "unclosed_res"
            body = rest if missing == "keep_output" else None
    if body is None:
        return None, failure, failure
    body = body.strip()
    if not body:
        return None, "empty_rewrite", failure
    return body, None, failure
