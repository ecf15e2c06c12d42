"""What the report shows beside the leaderboard: training curves and the judge's diagnostics.

- Training curves from the trainer's own log (`train/<name>/log_history.json`, TRL's
  `state.log_history`: loss, learning rate, grad norm per logging step); a run trained before that
  file existed falls back to the manifest's loss curve (no learning rate).
- Judge diagnostics from `eval/<name>/annotations.json`: how often the judge prefers the output
  shown first (the position-bias check: about 50% for an unbiased judge, since the order is
  randomised), the share of judgments it could not parse, and the model's win rate by output
  length (quantile bins), the first thing to look at when a judge may favour long answers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.core.io import read_json

LENGTH_BINS = 4


def training_curve(train_dir: Path, manifest: Any = None) -> list[dict[str, float]]:
    """[{step, loss, learning_rate?}] of one training run."""
    path = Path(train_dir) / "log_history.json"
    if path.is_file():
        return [
            {
                "step": h["step"],
                "loss": h["loss"],
                **({"learning_rate": h["learning_rate"]} if "learning_rate" in h else {}),
            }
            for h in read_json(path)
            if "loss" in h and "step" in h
        ]
    if manifest is not None and manifest.ok:
        return [dict(p) for p in manifest.stats.loss_curve]
    return []


def _shown_first(row: dict[str, Any], randomized: bool) -> float | None:
    """How much the judge preferred the output it saw first (1 = fully, 0 = the other), or None."""
    pref = row.get("preference")
    if not isinstance(pref, (int, float)) or isinstance(pref, bool) or math.isnan(pref) or not 1 <= pref <= 2:
        return None
    switched = row.get("is_switched_outputs")
    if switched is None:
        from harness.evaluation.metrics import alpaca_eval_switched

        switched = randomized and alpaca_eval_switched(row.get("instruction", ""))
    shown = 3 - pref if switched else pref  # the preference in the order the judge saw the outputs
    return 2 - shown


def _randomized(annotator: Any) -> bool:
    """Whether the annotator shows the two outputs in a random order (alpaca_eval's default)."""
    from harness.core.errors import HarnessError
    from harness.evaluation.judges import load_annotator

    try:
        return load_annotator(str(annotator)).randomize
    except HarnessError:
        return True


def judge_diagnostics(eval_dir: Path) -> dict[str, Any] | None:
    """First-slot preference rate, unparseable share and win rate by output length for one eval."""
    path = Path(eval_dir) / "annotations.json"
    if not path.is_file():
        return None
    rows = [r for r in read_json(path) if isinstance(r, dict)]
    if not rows:
        return None
    randomized = _randomized(rows[0].get("annotator"))
    first = [x for x in (_shown_first(r, randomized) for r in rows) if x is not None]
    parsed = [
        (len(r.get("output_2") or ""), float(r["preference"]) - 1)
        for r in rows
        if isinstance(r.get("preference"), (int, float))
        and not isinstance(r.get("preference"), bool)
        and not math.isnan(r["preference"])
    ]
    return {
        "n": len(rows),
        "n_parsed": len(parsed),
        "unparseable_share": round(1 - len(parsed) / len(rows), 4),
        "first_slot_rate": round(sum(first) / len(first), 4) if first else None,
        "length_bins": _length_bins(parsed),
    }


def _length_bins(points: list[tuple[int, float]]) -> list[dict[str, float]]:
    """Win rate (%) of the model's outputs in quantile bins of their length in characters."""
    if len(points) < LENGTH_BINS:
        return []
    points = sorted(points)
    size = len(points) / LENGTH_BINS
    out = []
    for i in range(LENGTH_BINS):
        part = points[round(i * size) : round((i + 1) * size)]
        if part:
            out.append(
                {
                    "length": sum(p[0] for p in part) / len(part),
                    "win_rate": 100 * sum(p[1] for p in part) / len(part),
                    "n": len(part),
                }
            )
    return out
