"""The eval stage: AlpacaEval on every trained model of an experiment.

For each row (`harness.stages.rows`: a dataset at one N, one checkpoint, one eval-tag variant):
the model fine-tuned on it (`train/<key>/model/` or `steps/<k>/`, run with the experiment's
backend) answers the eval set, each instruction after the row's system prompt (its eval tags),
and is judged against the references by the experiment's judge (`@base` in a local judge's spec
is the experiment's base model), through the experiment's request cache. Outputs go to `eval/<row>/` (model_outputs.json, annotations.json, metrics.json, manifest).
The fingerprint is `fingerprints.eval_fingerprint`, derived from the config alone.

`evaluate` is the one eval stage: `harness eval --config`, `harness eval --model` and
`harness run` all call it, each with its own fingerprint inputs (an experiment's config, or one
model's identity) through `fingerprints.eval_fingerprint_of`.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.config import to_dict
from harness.core.errors import ConfigError, StageError
from harness.core.runs import StageOutcome, StageResult, is_done, run_stage
from harness.evaluation.alpaca import EvalJob
from harness.experiment import Experiment
from harness.stages import fingerprints, paths

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task
    from harness.stages.rows import Row

log = logging.getLogger(__name__)

OUTPUTS = ["model_outputs.json", "annotations.json", "metrics.json"]
# what of metrics.json the manifest keeps (the whole file sits beside it)
STATS_KEYS = (
    "win_rate",
    "standard_error",
    "n_total",
    "discrete_win_rate",
    "lc_win_rate",
    "lc_variant",
    "lc_reason",
    "n_parse_failures",
    "avg_output_length",
    "tokens",
)


def eval_stats(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's stats of an eval: the headline figures and the cache and API counters."""
    stats = {k: metrics.get(k) for k in STATS_KEYS}
    stats.update({k: v for k, v in metrics["judge_stats"].items() if k.startswith(("judge_cache", "api_"))})
    stats.update({k: v for k, v in metrics["generation_stats"].items() if k.startswith("generation_cache")})
    return stats


def evaluate(
    directory: Path,
    job: EvalJob,
    *,
    fingerprint: str,
    config: Any,
    upstream: Mapping[str, str] | None = None,
    force: bool = False,
    progress: Any = None,
    on_cost: Any = None,
) -> StageOutcome:
    """The eval stage for one model: generate, judge, score. `fingerprint` covers the generation and
    judging; the stage is cached on it with the LC settings, and new LC settings only rescore."""
    from harness.evaluation.alpaca import evaluate_model

    stage_fp = fingerprints.eval_stage_fingerprint(fingerprint, job.lc, job.lc_data)

    def body(d: Path) -> StageResult:
        metrics = evaluate_model(
            job, d, progress=progress, on_cost=on_cost, judged=None if force else fingerprint
        )
        log.info(
            "eval %s: win rate %s ± %s (n=%s, %s parse failure(s))",
            metrics.get("generator"),
            metrics.get("win_rate"),
            metrics.get("standard_error"),
            metrics.get("n_total"),
            metrics.get("n_parse_failures"),
        )
        return StageResult(outputs=list(OUTPUTS), stats=eval_stats(metrics))

    return run_stage(
        directory,
        stage="eval",
        fingerprint=stage_fp,
        body=body,
        config=config,
        upstream={**(upstream or {}), "judged": fingerprint},
        force=force,
    )


def resolve_judge_model(exp: Experiment, runs_dir=None) -> str:
    """The experiment's judge spec with `@base` replaced by the base model's backend spec."""
    judge = exp.eval.judge
    kind, _, rest = judge.partition(":")
    if kind != "local":
        return judge
    from harness.stages.base import resolve_model_ref

    head, _, model = rest.partition(":")
    return f"local:{head}:{resolve_model_ref(exp, model, runs_dir, key='eval.judge')}"


def backend_options(exp: Experiment) -> dict[str, Any]:
    from harness.backends.tiny_model import engine_options

    return engine_options(exp.base_model, exp.engine)


def run(
    exp: Experiment,
    runs_dir=None,
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    progress: Any = None,
) -> list[StageOutcome]:
    """Evaluate every row of the selected datasets (`rows.evaluated`: per training, checkpoint and
    eval-tag variant), each with its system prompt, cached by fingerprint; `progress(what, done,
    total)` hears each batch's progress."""
    from harness.stages.context import Run
    from harness.stages.rows import evaluated

    r = Run(exp, runs_dir, only=only)
    todo = evaluated(exp, r.names)
    require_models(r, [row for row in todo if force or not is_done(r.eval_dir(row), r.eval_fingerprint(row))])
    return [eval_one(r, row, force=force, progress=progress) for row in todo]


def require_models(run: Run, rows: Sequence[Row]) -> None:
    """Every row to evaluate has its trained model; else one error naming them, before any eval."""
    missing = [r for r in rows if not (run.model_dir(r) / "config.json").is_file()]
    if missing:
        raise StageError(
            f"no trained model for {', '.join(r.name for r in missing)} ({run.model_dir(missing[0])})",
            fix=f"run harness train first: {shlex.join(['harness', 'train', '--config', run.exp.name])}",
        )


def eval_one(run: Run, r: Row, *, force: bool = False, progress: Any = None) -> StageOutcome:
    """The eval stage of one row: its model answers the eval set after the row's system prompt and is
    judged (cached by fingerprint); then its metrics go to the trackers and the model card."""
    from harness.experiment import eval_prompt_parts

    exp, runs_dir = run.exp, run.runs_dir
    todo = force or not is_done(run.eval_dir(r), run.eval_fingerprint(r))
    if todo:
        require_models(run, [r])
    judge = run.memo("judge", lambda: resolve_judge_model(exp, runs_dir)) if todo else exp.eval.judge
    model = f"{exp.backend}:{run.model_dir(r)}"
    system, suffix = eval_prompt_parts(exp, r.eval_tags)
    job = EvalJob(
        question_suffix=suffix,
        judge=judge,
        protocol=exp.eval.protocol,
        eval_set=exp.eval.eval_set,
        decoding=exp.eval.decoding,
        max_instances=exp.eval.max_instances,
        model=model,
        name=r.name,
        cache=paths.request_cache(exp, runs_dir),
        generator_options=backend_options(exp),
        system=system,
        lc=exp.eval.lc,
        lc_data=Path(exp.eval.lc_data) if exp.eval.lc_data else None,
    )
    outcome = evaluate(
        run.eval_dir(r),
        job,
        fingerprint=fingerprints.eval_judged_fingerprint(exp, r.eval_key, runs_dir),
        config={
            "eval": to_dict(exp.eval),
            "model": model,
            "judge": judge,
            "row": r.name,
            "eval_tags": r.eval_tags,
            "system_prompt": system,
            **({"question_suffix": suffix} if suffix else {}),
        },
        upstream={"train": run.train_fingerprint(r.training)},
        force=force,
        progress=progress,
    )
    _after_eval(exp, r, outcome, runs_dir)
    return outcome


# the stage graph (harness.stages.graph)
def tasks(run: Run) -> list[Task]:
    from harness.stages import base
    from harness.stages.graph import Task
    from harness.stages.rows import evaluated

    out = []
    for r in evaluated(run.exp, run.names):
        d, fp = run.eval_dir(r), run.eval_fingerprint(r)
        out.append(
            Task(
                "eval",
                r.eval_key,
                d,
                fp,
                is_done(d, fp),
                needs=(*base.needs(run), f"train/{r.training.key}"),
                writes=tuple(OUTPUTS),
                item=r,
            )
        )
    return out


def execute(run: Run, task: Task, *, force: bool = False, progress: Any = None) -> StageOutcome:
    return eval_one(run, task.item, force=force, progress=progress)


def _after_eval(exp: Experiment, r: Row, outcome: StageOutcome, runs_dir=None) -> None:
    """A fresh eval's metrics into the recipe's trackers (as run `r.name`); the final model's card
    gets the eval results."""
    from harness.core.io import read_json

    metrics_path = outcome.directory / "metrics.json"
    if not metrics_path.is_file():
        return
    metrics = read_json(metrics_path)
    if exp.train.recipe.report_to and not outcome.skipped:
        from harness.training.tracking import log_eval

        log_eval(
            exp.train.recipe.report_to,
            project=exp.name,
            run_name=r.name,
            train_dir=paths.train_dir(exp, r.training.key, runs_dir),
            metrics=metrics,
        )
    if r.step is None:
        from harness.stages.cards import write_model_card

        write_model_card(exp, r.training.key, runs_dir, metrics=metrics)


def estimate_cost(exp: Experiment) -> dict[str, Any] | None:
    """For an API judge: tokens x price of judging every dataset's model (None for local judges).

    Model outputs do not exist yet, so each is taken as long as its reference, capped at the
    decoding's max_tokens x 4 characters.
    """
    from harness.evaluation import alpaca, eval_set

    if not exp.eval.judge.startswith("alpaca_eval:"):
        return None
    try:
        rows = eval_set.select_instances(
            eval_set.load_eval_set(exp.eval.eval_set, exp.eval.protocol), exp.eval.max_instances
        )
    except ConfigError as e:
        return {"summary": f"no estimate: {e}"}
    one = alpaca.estimate_judge_cost(
        exp.eval.judge, exp.eval.protocol, rows, exp.eval.decoding.max_tokens * 4
    )
    if one is None:
        return None
    from harness.stages.rows import evaluated

    n = len(evaluated(exp))
    total = {
        k: (v * n if isinstance(v, (int, float)) and k not in ("price_per_token",) else v)
        for k, v in one.items()
    }
    usd = total.get("usd")
    total["summary"] = (
        f"{total['n_judgments']} judgments by {one['annotator']} ({one['model']}) for {n} model(s): "
        f"~{total['total_tokens']:,} tokens, "
        + (f"~${usd:.2f}" if usd is not None else "price unknown")
        + (
            f" (alpaca_eval's evaluator leaderboard: ~${total['usd_leaderboard']:.2f})"
            if total.get("usd_leaderboard") is not None
            else ""
        )
    )
    return total


def summary(outcome: StageOutcome) -> str:
    """One line for a finished (or cached) eval: the win rate with its standard error."""
    s = outcome.manifest.stats
    if s.win_rate is None:
        return f"n={s.n_total}, no win rate"
    return f"win rate {s.win_rate:.1f} ± {s.standard_error or 0:.1f} % (n={s.n_total}" + (
        f", {s.n_parse_failures} unparseable)" if s.n_parse_failures else ")"
    )
