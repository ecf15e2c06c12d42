"""The report's judge diagnostics and warnings: a judge that always picks the output it saw first is
caught (the order alpaca_eval showed is recomputed with its own seeded choice); unparseable
judgments are counted; near-identical analysis warnings are said once."""

from __future__ import annotations

import json

from harness.evaluation.analysis.render import distinct_warnings
from harness.evaluation.metrics import alpaca_eval_switched
from harness.report.diagnostics import judge_diagnostics


def _annotations(tmp_path, prefer_first: bool):
    rows = []
    for i in range(40):
        instruction = f"Explain item {i} of the list."
        switched = alpaca_eval_switched(instruction)
        first = 2 if switched else 1  # in the unswitched frame, the output the judge saw first
        pref = first if prefer_first else 3 - first
        rows.append(
            {
                "instruction": instruction,
                "output_1": "ref",
                "output_2": "x" * (10 + 5 * i),
                "annotator": "weighted_alpaca_eval_gpt4_turbo",
                "preference": float(pref),
            }
        )
    rows.append(
        {
            "instruction": "unreadable",
            "output_1": "r",
            "output_2": "m",
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": None,
            "parse_error": "no token",
        }
    )
    (tmp_path / "annotations.json").write_text(json.dumps(rows))
    return rows


def test_position_bias_and_unparseable_share(tmp_path):
    rows = _annotations(tmp_path, prefer_first=True)
    assert 5 < sum(alpaca_eval_switched(r["instruction"]) for r in rows[:40]) < 35  # both orders were shown
    d = judge_diagnostics(tmp_path)
    assert d["first_slot_rate"] == 1.0 and d["n"] == 41 and d["n_parsed"] == 40
    assert d["unparseable_share"] == round(1 / 41, 4)
    assert len(d["length_bins"]) == 4 and all(b["n"] == 10 for b in d["length_bins"])
    _annotations(tmp_path, prefer_first=False)
    assert judge_diagnostics(tmp_path)["first_slot_rate"] == 0.0


def test_each_distinct_warning_once():
    pairs = [("distillation", "humpback"), ("distillation", "sharegpt"), ("humpback", "sharegpt")]
    warnings = [
        f"{a} vs {b}: MAUVE on {n} texts per set ({n // 10} clusters) is coarse and biased; the MAUVE "
        "paper uses 5,000. Do not read small differences."
        for (a, b), n in zip(pairs, (30, 48, 30))
    ]
    warnings.append(
        "distillation vs humpback: MAUVE varies across k-means seeds (std 0.081); the mean is uncertain."
    )
    out = distinct_warnings(warnings)
    assert len(out) == 2, out
    assert out[0].startswith("MAUVE on 30 texts") and "3 pairs" in out[0] and "humpback vs sharegpt" in out[0]
    assert out[1].startswith("distillation vs humpback: MAUVE varies")
