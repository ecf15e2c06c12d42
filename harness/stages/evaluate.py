"""The eval stage: AlpacaEval on every trained model of an experiment.

For each dataset: the model fine-tuned on it (`train/<name>/model/`, run with the experiment's
backend) answers the eval set and is judged against the references by the experiment's judge
(`@base` in a local judge's spec is the experiment's base model), through the experiment's request
cache. Outputs go to `eval/<name>/` (model_outputs.json, annotations.json, metrics.json, manifest).
The fingerprint is `paths.eval_fingerprint`, derived from the config alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from harness.core.config import to_dict
from harness.core.errors import ConfigError, StageError
from harness.core.runs import StageOutcome, StageResult, is_done, run_stage
from harness.experiment import Experiment
from harness.stages import paths

log = logging.getLogger(__name__)

OUTPUTS = ["model_outputs.json", "annotations.json", "metrics.json"]


def resolve_judge(exp: Experiment, runs_dir=None) -> str:
    """The judge spec with `@base` replaced by the base model's backend spec."""
    judge = exp.eval.judge
    kind, _, rest = judge.partition(":")
    if kind != "local":
        return judge
    head, _, model = rest.partition(":")
    if model == "@base":
        from harness.stages.base import ensure_base_model

        return f"local:{head}:{ensure_base_model(exp, runs_dir)}"
    if model.startswith("@"):
        raise ConfigError(f"'eval.judge' uses {model}, which the eval stage cannot resolve",
                          fix="judge with @base or a backend spec")
    return judge


def backend_options(exp: Experiment) -> dict[str, Any]:
    # the tiny models are fp32; vLLM on CPU needs that said explicitly
    fp32 = {"dtype": "float32"} if exp.base_model.startswith("tiny:") else {}
    return {**fp32, **exp.engine}


def run(exp: Experiment, runs_dir=None, *, only: Sequence[str] | None = None, force: bool = False
        ) -> list[StageOutcome]:
    from harness.evaluation.alpaca import evaluate_model
    from harness.stages.plan import select

    names = select(exp, only)
    todo = [n for n in names if force or not is_done(paths.eval_dir(exp, n, runs_dir), paths.eval_fingerprint(exp, n))]
    missing = [n for n in todo if not (paths.trained_model_dir(exp, n, runs_dir) / "config.json").is_file()]
    if missing:
        raise StageError(f"no trained model for {', '.join(missing)} ({paths.trained_model_dir(exp, missing[0], runs_dir)})",
                         fix=f"run harness train first: harness train --config {exp.name}")
    judge = resolve_judge(exp, runs_dir) if todo else exp.eval.judge
    outcomes = []
    for name in names:
        model = f"{exp.backend}:{paths.trained_model_dir(exp, name, runs_dir)}"

        def body(d, name=name, model=model):
            metrics = evaluate_model(model, judge=judge, protocol=exp.eval.protocol, eval_set=exp.eval.eval_set,
                                     output_dir=d, decoding=exp.eval.decoding, max_instances=exp.eval.max_instances,
                                     cache=paths.request_cache(exp, runs_dir), generator_options=backend_options(exp),
                                     name=name)
            keep = ("win_rate", "standard_error", "n_total", "discrete_win_rate", "lc_win_rate", "n_parse_failures",
                    "avg_output_length", "tokens")
            stats = {k: metrics.get(k) for k in keep}
            stats.update({k: v for k, v in metrics["judge_stats"].items() if k.startswith("judge_cache")})
            stats.update({k: v for k, v in metrics["generation_stats"].items() if k.startswith("generation_cache")})
            log.info("eval %s: win rate %s ± %s (n=%s, %s parse failure(s))", name, metrics.get("win_rate"),
                     metrics.get("standard_error"), metrics.get("n_total"), metrics.get("n_parse_failures"))
            return StageResult(outputs=list(OUTPUTS), stats=stats)

        outcomes.append(run_stage(paths.eval_dir(exp, name, runs_dir), stage="eval",
                                  fingerprint=paths.eval_fingerprint(exp, name), body=body,
                                  config={"eval": to_dict(exp.eval), "model": model, "judge": judge},
                                  upstream={"train": paths.train_fingerprint(exp, name)}, force=force))
    return outcomes


def estimate_cost(exp: Experiment) -> dict[str, Any] | None:
    """For an API judge: tokens x price of judging every dataset's model (None for local judges).

    Model outputs do not exist yet, so each is taken as long as its reference, capped at the
    decoding's max_tokens x 4 characters.
    """
    from harness.evaluation import alpaca, eval_set

    if not exp.eval.judge.startswith("alpaca_eval:"):
        return None
    try:
        rows = eval_set.select_instances(eval_set.load_eval_set(exp.eval.eval_set, exp.eval.protocol),
                                         exp.eval.max_instances)
    except ConfigError as e:
        return {"summary": f"no estimate: {e}"}
    one = alpaca.estimate_judge_cost(exp.eval.judge, exp.eval.protocol, rows, exp.eval.decoding.max_tokens * 4)
    if one is None:
        return None
    n = len(exp.datasets)
    total = {k: (v * n if isinstance(v, (int, float)) and k not in ("price_per_token",) else v) for k, v in one.items()}
    usd = total.get("usd")
    total["summary"] = (f"{total['n_judgments']} judgments by {one['annotator']} ({one['model']}) for {n} model(s): "
                        f"~{total['total_tokens']:,} tokens, "
                        + (f"~${usd:.2f}" if usd is not None else "price unknown")
                        + (f" (alpaca_eval's evaluator leaderboard: ~${total['usd_leaderboard']:.2f})"
                           if total.get("usd_leaderboard") is not None else ""))
    return total
