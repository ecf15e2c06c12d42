"""The small steps the builders share: backtranslate, curate, rewrite, answer.

Each step takes a list of candidate records, sends one batch of requests through a generator
(so vLLM keeps its throughput), parses the outputs, and returns the candidates it keeps; every
drop is counted with its reason in the step log and written to drops.jsonl. Candidates are
InstructionRecords whose provenance grows as they pass the steps: document id, generated
instruction, original web text, curation score and raw judge text, rewritten response.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from datasets_builders.parsing import expected_score, parse_bare_score, parse_rewrite, parse_score
from harness.backends.base import ChatRequest, SamplingParams
from harness.core.config import bounded
from harness.core.errors import ConfigError
from harness.core.records import Document, InstructionRecord, Message

if TYPE_CHECKING:
    from datasets_builders.context import BuildContext

SCORE_MODES = ("text", "logprobs")


def with_provenance(record: InstructionRecord, **extra: Any) -> InstructionRecord:
    return dataclasses.replace(record, provenance={**record.provenance, **extra})


def with_response(record: InstructionRecord, response: str, **extra: Any) -> InstructionRecord:
    msgs = tuple(Message(m.role, response) if m.role == "assistant" else m for m in record.messages)
    return InstructionRecord(msgs, record.source, {**record.provenance, **extra})


def _generate(ctx: BuildContext, step: Any, model: str, requests: Sequence[ChatRequest]) -> list[Any]:
    gens = ctx.generator(model).generate(list(requests)) if requests else []
    step.add_tokens(gens)
    return gens


TRUNCATION_POLICIES = ("by_content", "drop", "keep")


def _cut(step: Any, g: Any) -> bool:
    """Whether generation `g` stopped at the generation cap; counted on the step (`truncated_outputs`)."""
    if g.finish_reason != "length":
        return False
    step.count("truncated_outputs")
    return True


def _answered(
    ctx: BuildContext,
    step: Any,
    model: str,
    items: Sequence[Any],
    requests: Sequence[ChatRequest],
    empty_reason: str,
    truncated: str | None = None,
) -> Iterator[tuple[Any, Any, str]]:
    """(item, generation, stripped text) for each request the model answered; a prompt that does not
    fit, or an empty answer (`empty_reason`), is a counted drop. `truncated` (a `TRUNCATION_POLICIES`
    value, or None for a step without one): outputs cut by the cap are counted, and dropped as
    `truncated` under "drop"."""
    for item, g in zip(items, _generate(ctx, step, model, requests)):
        text = g.text.strip()
        if g.finish_reason == "prompt_too_long":
            step.drop("prompt_too_long", item.id)
        elif truncated is not None and _cut(step, g) and truncated == "drop":
            step.drop("truncated", item.id, output=g.text)
        elif not text:
            step.drop(empty_reason, item.id)
        else:
            step.keep()
            yield item, g, text


def self_augment(ctx: BuildContext, options: Any, *, source: str) -> list[InstructionRecord]:
    """Both papers' first step: the corpus's documents, each given an instruction by the backward model."""
    return backtranslate(
        ctx,
        ctx.documents(),
        model=options.backward_model,
        source=source,
        params=sampling(options, ctx.decoding, max_tokens=options.instruction_max_tokens),
    )


def curate_with(
    ctx: BuildContext, options: Any, records: Sequence[InstructionRecord], *, model: str, step: str = "curate"
) -> list[InstructionRecord]:
    """`curate` with the builder's scoring options (threshold, score mode, tokens, logprob K, and
    `score_sampling`: the replies sampled with the builder's temperature and top-p, else greedy)."""
    max_tokens = options.score_max_tokens or ctx.decoding.max_tokens
    params = (
        sampling(options, ctx.decoding, max_tokens=max_tokens)
        if options.score_sampling
        else SamplingParams(temperature=0.0, max_tokens=max_tokens)
    )
    return curate(
        ctx,
        records,
        model=model,
        threshold=options.threshold,
        mode=options.score_mode,
        params=params,
        logprobs_k=options.logprobs_k,
        step=step,
    )


def backtranslate(
    ctx: BuildContext, docs: Sequence[Document], *, model: str, params: SamplingParams, source: str
) -> list[InstructionRecord]:
    """Self-augmentation: the backward model writes an instruction for each document (its output)."""
    with ctx.log.step("backtranslate") as s:
        reqs = [
            ChatRequest(
                f"bt-{d.id}",
                (Message("user", ctx.backtranslation_turn(d.text)),),
                dataclasses.replace(params, seed=ctx.sampling_seed("backtranslate", d.id)),
            )
            for d in docs
        ]
        return [
            InstructionRecord(
                (Message("user", instruction), Message("assistant", d.text)),
                source,
                {
                    "origin": "web",
                    "document_id": d.id,
                    "document_source": d.source,
                    "document_meta": dict(d.meta),
                    "instruction": instruction,
                    "instruction_finish_reason": g.finish_reason,
                    "web_text": d.text,
                },
            )
            for d, g, instruction in _answered(ctx, s, model, docs, reqs, "empty_instruction")
        ]


def curate(
    ctx: BuildContext,
    records: Sequence[InstructionRecord],
    *,
    model: str,
    threshold: float,
    mode: str,
    params: SamplingParams,
    logprobs_k: int,
    step: str = "curate",
) -> list[InstructionRecord]:
    """Self-curation: the judge rates each (instruction, response) pair on the 5-point rubric.

    mode "text": strict "Score: N" parse, unparseable ratings dropped; the reply is greedy (`params`
    at temperature 0), or sampled at `params`' temperature and top-p with a per-request seed (the
    back-and-forth paper samples all data generation).
    mode "logprobs": the prompt ends with "Score:" and the rating is the expected value of 1..5
    under the first token's top-K probabilities; the strict parse of the same reply is still
    counted (`text_parse_failures`) so both failure counts reach the summary.
    """
    if mode not in SCORE_MODES:
        raise ValueError(f"score mode must be one of {SCORE_MODES}")
    with ctx.log.step(step) as s:
        suffix = ctx.prompt("curation_logprob_suffix") if mode == "logprobs" else ""
        if mode == "logprobs" or params.temperature == 0:  # greedy
            params = SamplingParams(
                temperature=0.0,
                max_tokens=params.max_tokens,
                logprobs=logprobs_k if mode == "logprobs" else 0,
            )
        reqs = [
            ChatRequest(
                f"{step}-{r.id}",
                (
                    Message(
                        "user",
                        ctx.render("curation_rubric", instruction=r.instruction, response=r.response)
                        + suffix,
                    ),
                ),
                params
                if params.temperature == 0
                else dataclasses.replace(params, seed=ctx.sampling_seed(step, r.id)),
            )
            for r in records
        ]
        out = []
        s.extra.update(text_parse_failures=0, logprob_failures=0)
        for r, g in zip(records, _generate(ctx, s, model, reqs)):
            if g.finish_reason == "prompt_too_long":
                s.drop("prompt_too_long", r.id)
                continue
            parsed, failure = parse_bare_score(g.text) if mode == "logprobs" else parse_score(g.text)
            if failure:
                s.count("text_parse_failures")
            if mode == "logprobs":
                score = expected_score(g.top_logprobs)
                if score is None:
                    s.count("logprob_failures")
                    s.drop("no_rating_in_top_logprobs", r.id, judge_text=g.text)
                    continue
            elif parsed is None:
                s.drop(f"score_{failure}", r.id, judge_text=g.text)
                continue
            else:
                score = float(parsed)
            if score < threshold:
                s.drop("below_threshold", r.id, score=score)
                continue
            s.keep()
            out.append(
                with_provenance(
                    r,
                    score=round(score, 4),
                    score_mode=mode,
                    judge_text=g.text,
                    parsed_score=parsed,
                    curation_step=step,
                )
            )
        return out


def rewrite(
    ctx: BuildContext,
    records: Sequence[InstructionRecord],
    *,
    model: str,
    params: SamplingParams,
    missing_res: str,
    truncated: str = "by_content",
) -> list[InstructionRecord]:
    """An aligned model rewrites each web response given its instruction, inside [RES]...[/RES].
    `truncated`: what becomes of a rewrite cut by the cap (see `TRUNCATION_POLICIES`): "drop" drops it
    as `truncated` before parsing; "keep" keeps a cut block's text after [RES] (a missing [RES] still
    follows `missing_res`); "by_content" leaves it to the parse."""
    with ctx.log.step("rewrite") as s:
        s.extra.update(missing_res=0, unclosed_res=0)
        reqs = [
            ChatRequest(
                f"rw-{r.id}",
                (Message("user", ctx.render("rewrite", instruction=r.instruction, web_text=r.response)),),
                dataclasses.replace(params, seed=ctx.sampling_seed("rewrite", r.id)),
            )
            for r in records
        ]
        out = []
        for r, g in zip(records, _generate(ctx, s, model, reqs)):
            if g.finish_reason == "prompt_too_long":
                s.drop("prompt_too_long", r.id)
                continue
            cut = _cut(s, g)
            if cut and truncated == "drop":
                s.drop("truncated", r.id, output=g.text)
                continue
            text, reason, failure = parse_rewrite(g.text, missing=missing_res)
            if cut and truncated == "keep" and failure == "unclosed_res":
                text, reason, failure = parse_rewrite(g.text, missing="keep_output")
            if failure:
                s.count(failure)
            if text is None:
                s.drop(reason, r.id, output=g.text)
                continue
            s.keep()
            out.append(
                with_response(r, text, rewritten=True, rewrite_raw=g.text, rewrite_parse_failure=failure)
            )
        return out


def answer(
    ctx: BuildContext,
    records: Sequence[InstructionRecord],
    *,
    model: str,
    params: SamplingParams,
    truncated: str = "by_content",
) -> list[InstructionRecord]:
    """Distillation: the aligned model answers each instruction directly (no web text in sight). An
    answer cut by the cap is kept under "by_content" and "keep", dropped as `truncated` under "drop"."""
    with ctx.log.step("answer") as s:
        reqs = [
            ChatRequest(
                f"ans-{r.id}",
                (Message("user", r.instruction),),
                dataclasses.replace(params, seed=ctx.sampling_seed("answer", r.instruction)),
            )
            for r in records
        ]
        return [
            with_response(r, text, distilled=True, answer_finish_reason=g.finish_reason)
            for r, g, text in _answered(ctx, s, model, records, reqs, "empty_answer", truncated)
        ]


# Option fields with a range, checked when the experiment loads (key, value, range and fix in the error).
# An option added after results were published with the builder: at its default it stays out of the
# dataset's fingerprint (`builder_fingerprint_parts`), so the builds from before it keep theirs.
OMIT_AT_DEFAULT = "omit_at_default"


def late_option(default: Any) -> Any:
    return dataclasses.field(default=default, metadata={OMIT_AT_DEFAULT: True})


BACKTRANSLATION_PROMPT = "backtranslation"


def prompts_used(prompts: Sequence[str], options: Any) -> tuple[str, ...]:
    """The templates a build with `options` uses: the builder's `PROMPTS`, and the backtranslation
    prompt when `backtranslation_input` is "prompt" (only then, so the builds from before the
    option keep their fingerprints)."""
    if getattr(options, "backtranslation_input", "raw") == "prompt":
        return (*prompts, BACKTRANSLATION_PROMPT)
    return tuple(prompts)


def check_scoring(options: Any) -> None:
    """A builder's scoring options that cannot go together (its `validate`)."""
    if options.score_sampling and options.score_mode == "logprobs":
        raise ConfigError(
            "'score_sampling' is true, but score_mode logprobs reads the rating from the first "
            "token's probabilities, not from a sampled reply",
            fix="set score_mode: text, or score_sampling: false",
        )


def score_threshold(default: float) -> Any:
    return bounded(default, low=1, high=5, fix="curation scores are on the 1-5 rubric: a threshold in [1, 5]")


def at_least_one(default: int | None) -> Any:
    return bounded(default, low=1)


def sampling(options: Any, decoding: Any, *, max_tokens: int | None = None) -> SamplingParams:
    """A step's sampling settings: the builder's temperature/top-p (the paper's by default), the
    experiment's `decoding.max_tokens` unless the step overrides it."""
    return SamplingParams(
        temperature=options.temperature,
        top_p=options.top_p,
        max_tokens=max_tokens or decoding.max_tokens,
        seed=0,
    )
