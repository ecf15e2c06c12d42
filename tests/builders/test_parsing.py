"""The rating and rewrite parsers on real-looking and hostile model output, plus properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from datasets_builders.parsing import expected_score, parse_bare_score, parse_rewrite, parse_score


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The answer is complete and written as an assistant.\nScore: 5", (5, None)),
        ("Score: 4", (4, None)),
        ("**Score:** 3", (3, None)),
        ("score: 2/5", (2, None)),
        ("Reasoning...\n\nScore : 1.", (1, None)),
        ("Score: 5\nScore: 5", (5, None)),  # a repeated rating is one rating
        ("score 4/5", (None, "no_score")),  # no "Score:" label: the strict protocol fails it
        ("I would rate this highly.", (None, "no_score")),
        ("", (None, "no_score")),
        ("Score: 3 ... on reflection, Score: 5", (None, "several_scores")),
        ("Score: 6", (None, "score_out_of_range")),
        ("Score: 4.5", (None, "score_out_of_range")),
        ("Score: 0", (None, "score_out_of_range")),
    ],
)
def test_parse_score(text, expected):
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (" 5", (5, None)),
        ("4/5", (4, None)),
        ("3\nbecause", (3, None)),
        ("**2**", (2, None)),
        ("45", (None, "no_score")),
        ("x", (None, "no_score")),
    ],
)
def test_parse_bare_score(text, expected):
    assert parse_bare_score(text) == expected


def test_expected_score_merges_spaced_tokens_and_renormalises():
    lp = [
        (" 5", math.log(0.3)),
        ("5", math.log(0.2)),
        ("4", math.log(0.25)),
        ("the", math.log(0.2)),
        ("1", math.log(0.05)),
    ]
    assert expected_score(lp) == pytest.approx((5 * 0.5 + 4 * 0.25 + 1 * 0.05) / 0.8)
    assert expected_score([("a", -0.1), ("b", -2.0)]) is None
    assert expected_score(None) is None
    assert expected_score([("3", float("-inf"))]) is None


@pytest.mark.parametrize(
    "text, policy, expected",
    [
        (
            "Sure! [RES]Paris is the capital of France.[/RES]",
            "drop",
            ("Paris is the capital of France.", None, None),
        ),
        ("[RES] first [/RES] [RES] second [/RES]", "drop", ("first", None, None)),
        ("Paris is the capital of France.", "drop", (None, "missing_res", "missing_res")),
        (
            "Paris is the capital of France.",
            "keep_output",
            ("Paris is the capital of France.", None, "missing_res"),
        ),
        ("Paris.[/RES]", "keep_output", ("Paris.", None, "missing_res")),
        ("[RES] Paris is the capital", "drop", (None, "unclosed_res", "unclosed_res")),
        ("[RES] Paris is the capital", "keep_output", ("Paris is the capital", None, "unclosed_res")),
        ("[RES]   [/RES]", "drop", (None, "empty_rewrite", None)),
        ("", "keep_output", (None, "empty_rewrite", "missing_res")),
    ],
)
def test_parse_rewrite(text, policy, expected):
    assert parse_rewrite(text, missing=policy) == expected


def test_parse_rewrite_rejects_unknown_policy():
    with pytest.raises(ValueError):
        parse_rewrite("x", missing="guess")


@given(st.text())
def test_parsers_never_raise_and_return_valid_values(text):
    score, failure = parse_score(text)
    assert (score is None) != (failure is None)
    assert score is None or score in (1, 2, 3, 4, 5)
    for policy in ("drop", "keep_output"):
        body, reason, _ = parse_rewrite(text, missing=policy)
        assert (body is None) != (reason is None)
        assert body is None or (body == body.strip() and body)


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1).filter(
        lambda s: s.strip() and "[RES]" not in s and "[/RES]" not in s
    )
)
def test_a_wrapped_rewrite_round_trips(body):
    assert parse_rewrite(f"noise [RES]{body}[/RES] trailing", missing="drop") == (body.strip(), None, None)


@given(st.integers(1, 5), st.text(alphabet="abc .\n", max_size=40))
def test_a_stated_score_is_found_after_any_reasoning(n, reasoning):
    assert parse_score(f"{reasoning}\nScore: {n}") == (n, None)


@given(
    st.lists(
        st.tuples(st.sampled_from(["1", " 2", "3 ", "4", "5", "x", " "]), st.floats(-20, 0)), max_size=10
    )
)
@example([("5", 0.0), ("5", -0.03125)])  # found by hypothesis in CI: the mean came out as 5.000000000000001
def test_expected_score_is_within_the_scale(lps):
    s = expected_score(lps)
    assert s is None or 1.0 <= s <= 5.0
