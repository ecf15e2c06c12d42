"""The oracle judge (`oracle:<task>`): grades outputs of a known-answer task against the truth.

The positive control's judge. For each pair it scores both outputs with the task's partial credit
(`harness.core.tasks.score`: the share of answer positions right) and turns the two scores into
an alpaca_eval-style preference, 1.5 + (second - first) / 2 in the order the outputs were shown:
1 when only the first is right, 2 when only the second is, 1.5 for equal credit. Outputs are
shown in alpaca_eval's seeded random order and mapped back (`judges.shown_order`, `unswitch`),
exactly as the model judges do, so a fault in that path shows in the control too. Identical
outputs are a 1.5 draw, as in alpaca_eval. The win rate, its SE, the LC win rate and the paired
test then run unchanged on the annotations.

Besides the preferences it reports the model's own accuracy on the task (`oracle_accuracy`: the
share of outputs exactly right; `oracle_score`: the mean partial credit) and the reference's, so
the leaderboard shows how good each model is, not only how it compares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.core import tasks
from harness.evaluation.judges import JudgeRun, JudgeSpec, Progress, check_pair, shown_order, unswitch

VERSION = 1


class OracleJudge:
    """A known-answer task's grader behind the Judge protocol: no model, no cost, deterministic."""

    model = None  # nothing runs locally

    def __init__(
        self,
        spec: JudgeSpec,
        *,
        seed: int = 0,
        cache: Any = None,
        generator_options: Any = None,
        output_dir: Any = None,
    ):
        self.spec = spec
        self.task = tasks.get_task(spec.annotator, key="eval.judge")
        self.seed = seed

    @staticmethod
    def parse_spec(spec: str, rest: str) -> JudgeSpec:
        tasks.get_task(rest, key="eval.judge")
        return JudgeSpec("oracle", rest)

    @staticmethod
    def validate_spec(judge: str, rest: str, check_model: Callable[[str, str], None]) -> None:
        tasks.get_task(rest, key="eval.judge")

    def identity(self) -> dict[str, Any]:
        return {"judge": str(self.spec), "version": VERSION, "seed": self.seed}

    def check(self) -> None:
        """Nothing can be missing: the truth is computed from the instruction."""

    def estimate_cost(self, pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        return None

    def preference(self, pair: Mapping[str, Any]) -> tuple[float, bool]:
        """(preference in the shown order, switched)."""
        first, second, switched = shown_order(pair, self.seed)
        s1, s2 = (tasks.score(self.task, pair["instruction"], o) for o in (first, second))
        return 1.5 + (s2 - s1) / 2, switched

    def judge(self, pairs: Sequence[Mapping[str, Any]], on_progress: Progress | None = None) -> JudgeRun:
        rows, scores, ref_scores, not_task = [], [], [], 0
        for i, pair in enumerate(pairs):
            check_pair(i, pair)
            ins = pair["instruction"]
            if tasks.truth(self.task, ins) is None:
                not_task += 1
            if pair["output_1"] == pair["output_2"]:
                pref: float | None = 1.5
            else:
                shown, switched = self.preference(pair)
                pref = unswitch(shown, switched)
            scores.append(tasks.score(self.task, ins, pair["output_2"]))
            ref_scores.append(tasks.score(self.task, ins, pair["output_1"]))
            rows.append(_annotation(pair, str(self.spec), pref, scores[-1], ref_scores[-1]))
            if on_progress:
                on_progress(i + 1, len(pairs))
        n = max(1, len(pairs))
        stats = {
            "judge": str(self.spec),
            "annotator": str(self.spec),
            "n_pairs": len(pairs),
            "n_parse_failures": 0,
            "n_not_task": not_task,
            "oracle_accuracy": 100 * sum(s == 1.0 for s in scores) / n,
            "oracle_score": 100 * sum(scores) / n,
            "oracle_reference_accuracy": 100 * sum(s == 1.0 for s in ref_scores) / n,
            "oracle_reference_score": 100 * sum(ref_scores) / n,
        }
        return JudgeRun(rows, stats)

    def close(self) -> None:
        """Nothing is held."""


def _annotation(
    pair: Mapping[str, Any], judge: str, preference: float | None, score: float, ref_score: float
) -> dict[str, Any]:
    return {
        "instruction": pair["instruction"],
        "output_1": pair["output_1"],
        "generator_1": pair.get("generator_1", "reference"),
        "dataset": pair.get("dataset", ""),
        "output_2": pair["output_2"],
        "generator_2": pair.get("generator_2", "model"),
        "annotator": judge,
        "preference": preference,
        "raw_completion": None,
        "judge": judge,
        "oracle_score_1": ref_score,
        "oracle_score_2": score,
    }
