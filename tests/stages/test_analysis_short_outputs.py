"""A model that answers some eval instructions with nothing: its outputs fall below the analysis
minimum only after the eval has run, so the outputs comparison leaves that model out with a note
(the vllm demo's alpaca_gpt4 model answered 1 of its 20 with an empty string) instead of failing the
finished run; a model with enough non-empty outputs stays in."""

from __future__ import annotations

import json
from pathlib import Path

from harness.evaluation.analysis.texts import load_text_set
from harness.stages.analyze import _too_short_outputs


def _outputs(path: Path, empty: int) -> Path:
    rows = [{"instruction": f"q{i}", "output": "" if i < empty else f"answer {i}"} for i in range(20)]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_a_model_with_empty_outputs_below_the_minimum_is_left_out(tmp_path: Path):
    full = load_text_set(_outputs(tmp_path / "full.json", 0), "output", name="full")
    short = load_text_set(_outputs(tmp_path / "short.json", 1), "output", name="short")
    assert (len(full), len(short), short.dropped_empty) == (20, 19, 1)
    (left,) = _too_short_outputs([full, short])
    assert left == ("short", "19 non-empty outputs (1 empty), below the 20 MAUVE and the classifier need")
