"""Instruction complexity (tags per instruction): the tagger's replies parsed, each set's mean with its
interval and half-vs-half noise floor, pairs judged against both floors, and a set whose replies do
not parse saying it cannot discriminate. The stage's run on a real model is in
tests/stages/test_demo_e2e.py."""

from __future__ import annotations

import random

import pytest

from harness.evaluation.analysis.tags import compare, parse_tags, report, set_report


@pytest.mark.parametrize(
    ("reply", "tags"),
    [
        ('["code debugging", "python"]', ["code debugging", "python"]),
        # the InsTagger shape: objects with a tag and an explanation
        (
            '[{"tag": "Summarization", "explanation": "asks for a summary"}, {"tag": "word limit"}]',
            ["summarization", "word limit"],
        ),
        # prose around the list, a bracket before it that is not JSON, case and spacing normalised, repeats once
        (
            'Sure. [note] The tags: ["Formal  Tone", "formal tone", " email writing."]\nDone.',
            ["formal tone", "email writing"],
        ),
        ("[]", []),
        ('["a", ["nested"]]', None),  # not a list of tags
        ("no list here", None),
        ('["unclosed", "list"', None),
    ],
)
def test_parse_tags(reply: str, tags: list[str] | None):
    assert parse_tags(reply) == tags


def _tags(counts: list[int]) -> list[list[str]]:
    return [[f"t{j}" for j in range(c)] for c in counts]


def test_set_report_gives_mean_interval_floor_and_vocabulary():
    counts = [1, 2, 3, 4] * 10
    r = set_report("x", [*_tags(counts), None], seed=0)
    m = r["tags_per_instruction"]
    assert r["instructions"] == 41 and r["unparsed"] == 1 and m["n"] == 40
    assert m["mean"] == pytest.approx(2.5) and m["ci"][0] < 2.5 < m["ci"][1]
    assert r["noise_floor"]["gap"] >= 0 and "20 each" in r["noise_floor"]["kind"]
    assert r["distinct_tags"] == 4 and r["top_tags"][0] == ("t0", 40)
    assert r["verdict"] is None


def test_pairs_separate_only_beyond_noise_and_unparsed_sets_cannot_discriminate():
    rng = random.Random(0)
    simple = _tags([rng.choice([1, 2]) for _ in range(200)])
    complex_ = _tags([rng.choice([4, 5, 6]) for _ in range(200)])
    same = _tags([rng.choice([1, 2]) for _ in range(200)])
    out = report({"simple": simple, "complex": complex_, "same": same}, tagger="t", seed=0)
    verdicts = {(p["a"], p["b"]): p for p in out["pairs"]}
    assert verdicts[("simple", "complex")]["verdict"] == "complex more tags per instruction"
    assert verdicts[("simple", "complex")]["ci"][0] > 0
    assert verdicts[("complex", "same")]["verdict"] == "same fewer tags per instruction"
    assert verdicts[("simple", "same")]["verdict"] == "within noise"
    # a set whose replies mostly did not parse is no evidence either way
    broken = set_report("broken", [None] * 150 + simple[:50], seed=0)
    assert broken["verdict"] == "cannot discriminate: 150 of 200 replies did not parse"
    pair = compare(set_report("complex", complex_, seed=0), broken)
    assert pair["difference"] is None and pair["verdict"].startswith(
        "not compared (broken: cannot discriminate"
    )


def test_the_analysis_fingerprint_follows_the_tagger_and_its_prompt(tmp_path):
    """Off by default (the demo's analysis keeps its fingerprint); on, the tagger and a replaced
    prompt each rerun the analysis."""
    from harness.experiment import load_experiment
    from harness.stages.analyze import analysis_fingerprint

    prompt = tmp_path / "tags.txt"
    prompt.write_text("Tags of this request, as a JSON list: {instruction}\n", encoding="utf-8")
    fps = [
        analysis_fingerprint(load_experiment("demo", overrides), with_outputs=True)
        for overrides in (
            [],
            ["analysis.max_tagged=1000", "analysis.tagger_max_tokens=128"],  # the defaults, written out
            ["analysis.instruction_tagger=@base"],
            ["analysis.instruction_tagger=@base", f"prompts.instruction_tags={prompt}"],
        )
    ]
    assert fps[0] == fps[1] and len(set(fps)) == 3
