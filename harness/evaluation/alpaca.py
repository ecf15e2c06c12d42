"""AlpacaEval for one model: generate on the eval set, judge against the references, score.

`evaluate_model` is the whole protocol as one recipe:

1. load the eval set (hub, bundled:demo or a path) and take alpaca_eval's `max_instances` subset;
2. generate the model's outputs through any backend (T=0.7, top-p 0.9 by default, the papers'),
   the instruction as the user turn after an optional system turn (the tags the model was trained
   with, rendered by the same chat template as the training records' system turn), or read
   existing outputs, which must answer exactly the eval set's instructions;
3. judge each (instruction, reference, model output) with a local or an alpaca_eval judge;
4. score with `harness.evaluation.metrics` (win rate as alpaca_eval computes it, and its
   length-controlled win rate: the official GLM with `eval.lc_data`, else the offline one).

It writes `model_outputs.json` and `annotations.json` in alpaca_eval's formats and `metrics.json`.
Every model call goes through the request cache, so a killed run resumes and a rerun is free.
Finished judgments are rescored, not redone, when only the LC settings change (`rescore_lc`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, InputError, StageError
from harness.core.io import read_json, write_json
from harness.evaluation import eval_set as es
from harness.evaluation import judges

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


def generator_name(model_spec: str) -> str:
    from harness.backends.spec import parse_spec

    model = parse_spec(model_spec).model.rstrip("/")
    return Path(model).name or model


def generate_outputs(  # noqa: PLR0913 - keyword-only, each named at its one call site
    model_spec: str,
    rows: list[dict[str, Any]],
    *,
    decoding: Any,
    cache: Path | None,
    generator_options: Mapping[str, Any] | None,
    name: str,
    progress: Progress | None = None,
    system: str | None = None,
    question_suffix: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """The model's answer to each instruction (one user turn, after a `system` turn when given: the
    tags the model was trained with; or with `question_suffix`, the tags, after the instruction), in
    alpaca_eval's model_outputs format. The outputs keep the instruction as the eval set has it, so the
    judge never sees the tag."""
    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.core.records import Message

    try:
        params = SamplingParams(
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            max_tokens=decoding.max_tokens,
            seed=decoding.seed,
        )
    except ValueError as e:
        raise ConfigError(f"bad eval decoding: {e}") from None
    gen = load_generator(model_spec, cache=cache, **dict(generator_options or {}))
    head = (Message("system", system),) if system else ()
    requests = [
        ChatRequest(
            id=f"eval-{i}",
            messages=(*head, Message("user", r["instruction"] + (question_suffix or ""))),
            params=params,
        )
        for i, r in enumerate(rows)
    ]
    done = 0

    def tick(_: int, __: Any) -> None:
        nonlocal done
        done += 1
        if progress:
            progress("generate", done, len(rows))

    hits0, misses0 = getattr(gen, "hits", 0), getattr(gen, "misses", 0)
    gens = gen.generate(requests, on_result=tick)
    outputs = [
        {
            "instruction": r["instruction"],
            "output": g.text,
            "generator": name,
            "dataset": r.get("dataset", ""),
        }
        for r, g in zip(rows, gens, strict=True)
    ]
    too_long = sum(g.finish_reason == "prompt_too_long" for g in gens)
    if too_long:
        log.warning("%d instruction(s) do not fit %s's context; their output is empty", too_long, model_spec)
    stats = {
        "generation_prompt_tokens": sum(g.prompt_tokens for g in gens),
        "generation_completion_tokens": sum(g.completion_tokens for g in gens),
        "n_generation_too_long": too_long,
        "n_truncated": sum(g.finish_reason == "length" for g in gens),
        "generation_cache_hits": getattr(gen, "hits", 0) - hits0,
        "generation_cache_misses": getattr(gen, "misses", 0) - misses0,
        "completion_tokens": [g.completion_tokens for g in gens],
    }
    return outputs, stats, gen


def read_model_outputs(
    path: Path, eval_rows: list[dict[str, Any]], full_set: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Existing outputs (alpaca_eval format) for the eval rows, checked against the eval set and put
    in its order; outputs for the whole set may be given for a subset."""
    rows = es.validate_rows(es._read_rows(path), path)
    es.check_outputs_match(rows, eval_rows, path, full_set=full_set)
    by_instruction = {r["instruction"]: r for r in rows}
    out = []
    for r in eval_rows:
        o = by_instruction[r["instruction"]]
        out.append(
            {
                "instruction": o["instruction"],
                "output": o["output"],
                "generator": o.get("generator") or path.stem,
                "dataset": o.get("dataset", r.get("dataset", "")),
            }
        )
    return out


def _nan_to_none(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def score(
    annotations: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    completion_tokens: list[int] | None,
    lc: LcSettings | None = None,
) -> dict[str, Any]:
    from harness.evaluation import metrics

    lc = lc or LcSettings()
    wr = metrics.compute_win_rate([a.get("preference") for a in annotations])
    lc_result = metrics.length_controlled_win_rate(annotations, lc.data, mode=lc.mode, positions=lc.positions)
    lengths = [len(o["output"]) for o in outputs]
    out = {k: _nan_to_none(v) for k, v in wr.to_dict().items()}
    out.update(
        {
            "n_rows": len(annotations),
            "n_null_preferences": sum(a.get("preference") is None for a in annotations),
            **lc_result.to_metrics(),
            # each row's position in the whole eval set (the official GLM looks difficulty up by it)
            "lc_positions": list(lc.positions) if lc.positions is not None else None,
            # characters, as alpaca_eval's leaderboard `avg_length`; tokens of the generating model
            "avg_output_length": sum(lengths) / len(lengths) if lengths else None,
            "avg_output_length_tokens": (sum(completion_tokens) / len(completion_tokens))
            if completion_tokens
            else None,
        }
    )
    return out


@dataclasses.dataclass(frozen=True)
class LcSettings:
    """How the length-controlled win rate is computed: `eval.lc`, `eval.lc_data`, and the rows'
    positions in the whole eval set."""

    mode: str = "auto"
    data: Path | None = None
    positions: tuple[int, ...] | None = None


def eval_positions(rows: list[dict[str, Any]], full_set: list[dict[str, Any]]) -> tuple[int, ...]:
    """Each eval row's position in the whole eval set (a `max_instances` subset is shuffled)."""
    index = {r["instruction"]: i for i, r in enumerate(full_set)}
    return tuple(index[r["instruction"]] for r in rows)


def rescore_lc(job: EvalJob, output_dir: Path, judged: str) -> dict[str, Any] | None:
    """When `output_dir` holds this judged fingerprint's finished judgments (the manifest names it and
    annotations.json is the file it recorded), metrics.json with the length-controlled win rate
    recomputed under the job's LC settings; no model is loaded. None otherwise."""
    from harness.core.io import file_sha256
    from harness.core.runs import read_manifest

    output_dir = Path(output_dir)
    manifest = read_manifest(output_dir)
    ann, path = output_dir / "annotations.json", output_dir / "metrics.json"
    recorded = manifest.outputs.get("annotations.json") if manifest is not None else None
    if (
        manifest is None
        or not manifest.ok
        or recorded is None
        or not path.is_file()
        or not ann.is_file()
        or manifest.upstream.get("judged", manifest.fingerprint) != judged
        or file_sha256(ann) != recorded.sha256
    ):
        return None
    from harness.evaluation import metrics

    old, annotations = load_metrics(output_dir), read_json(ann)
    positions = old.get("lc_positions")
    if positions is None and job.lc_data is not None:  # metrics.json from before positions were kept
        positions = eval_positions(annotations, es.load_eval_set(job.eval_set, job.protocol))
    lc = metrics.length_controlled_win_rate(annotations, job.lc_data, mode=job.lc, positions=positions)
    result = {**old, **lc.to_metrics(), "lc_positions": list(positions) if positions is not None else None}
    write_json(path, result)
    log.info(
        "eval %s: judgments reused, length-controlled win rate recomputed (%s)",
        old.get("generator"),
        result.get("lc_label") or result.get("lc_reason"),
    )
    return result


def judge_spec_for(judge: str, protocol: str) -> judges.JudgeSpec:
    """`JUDGE` or `protocol` for the protocol's default annotator through alpaca_eval."""
    if judge in ("protocol", "default", ""):
        judge = f"alpaca_eval:{es.get_protocol(protocol).annotator}"
    return judges.parse_judge(judge)


def estimate_judge_cost(
    judge: str, protocol: str, eval_rows: list[dict[str, Any]], model_output_chars: int | None
) -> dict[str, Any] | None:
    """Before any call: what judging would cost (None for a judge that runs locally). Model outputs
    are unknown yet, so each is taken as long as its reference (capped at `model_output_chars`)."""
    cap = model_output_chars if model_output_chars is not None else 10**9
    pairs = [
        {"instruction": r["instruction"], "output_1": r["output"], "output_2": r["output"][:cap] + " "}
        for r in eval_rows
    ]
    return judges.make_judge(judge_spec_for(judge, protocol)).estimate_cost(pairs)


def reference_pairs(
    rows: list[dict[str, Any]], outputs: list[dict[str, Any]], name: str
) -> list[dict[str, Any]]:
    """(reference, model output) per instruction, in alpaca_eval's annotation layout."""
    return [
        {
            "instruction": r["instruction"],
            "output_1": r["output"],
            "generator_1": r.get("generator", "reference"),
            "dataset": r.get("dataset", ""),
            "output_2": o["output"],
            "generator_2": name,
        }
        for r, o in zip(rows, outputs, strict=True)
    ]


@dataclasses.dataclass(frozen=True)
class EvalJob:
    """One model's evaluation, for an experiment's dataset or one model (`harness eval --model`)."""

    judge: str
    protocol: str
    eval_set: str
    decoding: Any
    max_instances: int | None
    model: str | None = None  # a backend spec, or
    model_outputs: Path | None = None  # existing outputs in alpaca_eval's format
    name: str | None = None
    cache: Path | None = None
    generator_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    lc: str = "auto"  # eval.lc
    lc_data: Path | None = None  # eval.lc_data
    system: str | None = None  # a system turn before each instruction (the eval tags)
    question_suffix: str | None = (
        None  # text appended to each instruction (the eval tags, after the question)
    )


def evaluate_model(
    job: EvalJob,
    output_dir: Path,
    *,
    progress: Progress | None = None,
    on_cost: Callable[[dict[str, Any]], None] | None = None,
    judged: str | None = None,
) -> dict[str, Any]:
    """Generate (or read the job's model outputs), judge, score; returns metrics.json's content.

    When the judge model is the generating model, one pooled engine does both. `on_cost` receives
    the judge's cost estimate (API judges) before it runs. With `judged` (the fingerprint of the
    generation and judging), finished judgments of it in `output_dir` are rescored, not redone."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if judged is not None and (reused := rescore_lc(job, output_dir, judged)) is not None:
        return reused
    spec = judge_spec_for(job.judge, job.protocol)
    if spec.model is not None and spec.model.startswith("@"):
        raise ConfigError(
            f"judge {spec} refers to {spec.model}, which only an experiment can resolve",
            fix="pass the judge model as a backend spec, e.g. local:weighted_alpaca_eval_gpt4_turbo:hf:/path",
        )
    if (job.model is None) == (job.model_outputs is None):
        raise ConfigError("pass exactly one of a model spec and existing model outputs")
    options = judges.judge_backend_options(spec, job.generator_options)
    gen_options = options if spec.model == job.model else dict(job.generator_options)
    judge = judges.make_judge(spec, cache=job.cache, generator_options=options, output_dir=output_dir)
    judge.check()  # before any generation is spent

    full_set = es.load_eval_set(job.eval_set, job.protocol)
    rows = es.select_instances(full_set, job.max_instances)
    log.info("eval set %s: %d instruction(s)", job.eval_set, len(rows))
    stats: dict[str, Any] = {}
    completion_tokens, gen = None, None
    if job.model_outputs is not None:
        outputs = read_model_outputs(Path(job.model_outputs), rows, full_set)
    else:
        outputs, stats, gen = generate_outputs(
            job.model,
            rows,
            decoding=job.decoding,
            cache=job.cache,
            generator_options=gen_options,
            name=job.name or generator_name(job.model),
            progress=progress,
            system=job.system,
            question_suffix=job.question_suffix,
        )
        completion_tokens = stats.pop("completion_tokens")
    name = job.name or (outputs[0]["generator"] if outputs else generator_name(job.model or "outputs"))
    write_json(output_dir / "model_outputs.json", outputs)  # kept even if judging fails

    if gen is not None:
        # release the generating model: the engine pool keeps it for the judge when the judge is the
        # same model with the same options (one engine does both), and frees it for another model
        gen.close()
    pairs = reference_pairs(rows, outputs, name)
    run, cost = _judge_pairs(judge, pairs, progress, on_cost)
    write_json(output_dir / "annotations.json", run.annotations)
    _require_counted(run, output_dir)
    about = {
        "generator": name,
        "judge": str(spec),
        "annotator": spec.annotator,
        "protocol": job.protocol,
        "eval_set": job.eval_set,
        "max_instances": job.max_instances,
        "system_prompt": job.system,
        **({"question_suffix": job.question_suffix} if job.question_suffix else {}),
    }
    lc = LcSettings(job.lc, job.lc_data, eval_positions(rows, full_set))
    result = _metrics(run, outputs, completion_tokens, stats, cost, about, lc)
    write_json(output_dir / "metrics.json", result)
    return result


def _judge_pairs(
    judge: judges.Judge,
    pairs: list[dict[str, Any]],
    progress: Progress | None,
    on_cost: Callable[[dict[str, Any]], None] | None,
) -> tuple[judges.JudgeRun, dict[str, Any] | None]:
    """The judge's cost estimate (told to `on_cost` first), then its judgments; the judge is closed after."""
    cost = judge.estimate_cost(pairs)
    if cost is not None:
        log.info("judge cost estimate: %s", cost)
        if on_cost:
            on_cost(cost)
    try:
        return judge.judge(
            pairs, on_progress=(lambda d, n: progress("judge", d, n)) if progress else None
        ), cost
    finally:
        judge.close()


def _require_counted(run: judges.JudgeRun, output_dir: Path) -> None:
    """A win rate over no judgment is no result: fail, saying how many failed and why."""
    from harness.evaluation.metrics import normalize_preference

    if run.annotations and all(normalize_preference(a.get("preference")) is None for a in run.annotations):
        reasons: dict[str, int] = {}
        for a in run.annotations:
            reason = str(a.get("parse_error") or "no preference")[:80]
            reasons[reason] = reasons.get(reason, 0) + 1
        top = "; ".join(f"{n} x {r}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        raise StageError(
            f"none of the {len(run.annotations)} judgments could be counted ({top}); "
            f"see {output_dir / 'annotations.json'}",
            fix="check the judge: `harness judge-agreement` shows whether it can parse its own answers",
        )


def _metrics(
    run: judges.JudgeRun,
    outputs: list[dict[str, Any]],
    completion_tokens: list[int] | None,
    stats: dict[str, Any],
    cost: dict[str, Any] | None,
    about: dict[str, Any],
    lc: LcSettings,
) -> dict[str, Any]:
    metrics = score(run.annotations, outputs, completion_tokens, lc)
    if metrics["n_total"] == 0:
        log.warning(
            "no judgment could be counted (%d parse failure(s)); the win rate is undefined",
            run.stats.get("n_parse_failures", 0),
        )
    tokens = {
        "generation": stats.get("generation_prompt_tokens", 0) + stats.get("generation_completion_tokens", 0),
        "judge": run.stats.get("judge_prompt_tokens", 0)
        + run.stats.get("judge_completion_tokens", 0)
        + run.stats.get("api_total_tokens", 0),
    }
    return {
        **metrics,
        **about,
        "n_parse_failures": run.stats.get("n_parse_failures", 0),
        "tokens": tokens,
        "cost_estimate": cost,
        "judge_stats": run.stats,
        "generation_stats": stats,
    }


def load_metrics(output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(output_dir) / "metrics.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError("metrics.json is not an object", path=path)
    return data
