"""alpaca_eval's annotator configs, read from the installed package: the prompt template, how a
completion is parsed (first-token logprobs for the `weighted_*` annotators, else the annotator's own
parser function), and the chat messages a local judge sends."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError
from harness.core.fingerprint import text_hash
from harness.core.records import Generation, Message

log = logging.getLogger(__name__)


def _ae(module: str) -> Any:
    from harness.evaluation.metrics import _alpaca_eval

    return _alpaca_eval(module)


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
        raise ConfigError(
            f"alpaca_eval has no annotator {name!r}",
            fix=did_you_mean(name, annotator_names(), otherwise=f"see {root}"),
        )
    configs = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if len(configs) != 1:
        raise ConfigError(
            f"annotator {name!r} is a pool of {len(configs)} annotators; use a single annotator"
        )
    ((_, cfg),) = configs.items()
    template_path = root / cfg["prompt_template"]
    template = template_path.read_text(encoding="utf-8")
    return AnnotatorConfig(
        name=name,
        template=template,
        template_path=str(template_path),
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
        raise ConfigError(
            f"annotator {cfg.name!r} cannot judge one pair per prompt: {e}",
            fix="pick an annotator with batch_size 1, e.g. weighted_alpaca_eval_gpt4_turbo",
        ) from None
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
    top = [
        {"token": t, "logprob": lp}
        for j, (t, lp) in enumerate(gen.top_logprobs or ())
        if keep is None or j < keep or t in tokens
    ]
    content = [
        {
            "token": top[0]["token"] if top else gen.text,
            "logprob": top[0]["logprob"] if top else None,
            "top_logprobs": top,
        }
    ]
    return {
        "finish_reason": gen.finish_reason,
        "index": 0,
        "logprobs": {"content": content},
        "message": {"content": gen.text, "role": "assistant"},
        "text": gen.text,
        "total_tokens": gen.prompt_tokens + gen.completion_tokens,
    }


def parse_completion(cfg: AnnotatorConfig, gen: Generation) -> tuple[float | None, Any, str | None]:
    """(preference in the shown order, raw_completion, why it failed or None)."""
    if gen.finish_reason == "prompt_too_long":
        return (
            None,
            gen.text,
            f"the judge prompt ({gen.prompt_tokens} tokens) does not fit the judge's context",
        )
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
        return (
            None,
            raw,
            (
                f"none of {sorted(set(map(str, tokens)))} among the judge's top "
                f"{len(gen.top_logprobs or ())} first-token logprobs"
            ),
        )
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
