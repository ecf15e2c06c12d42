"""AlpacaEval judges: alpaca_eval's own annotators (API) or the same annotator run on any backend.

The package: `spec` (judge specs, the `Judge` protocol, the registry of kinds, the shared pair
handling), `annotators` (alpaca_eval's annotator configs, prompts and parsers), `local` (the local
judge), `api` (alpaca_eval's own annotators). The names below are the package's interface.

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

from harness.evaluation.judges.annotators import (
    AnnotatorConfig,
    annotator_names,
    chatml_messages,
    load_annotator,
    openai_choice,
    parse_completion,
    render_prompt,
)
from harness.evaluation.judges.api import (
    API_KEYS,
    ApiJudge,
    api_cache_path,
    api_servers,
    check_api_key,
    check_api_server,
    estimate_api_cost,
    judge_with_alpaca_eval,
    leaderboard_price_per_1000,
    make_api_annotator,
    price_per_token,
)
from harness.evaluation.judges.local import LocalJudge, judge_backend_options
from harness.evaluation.judges.spec import (
    JUDGE_FIX,
    JUDGES,
    LOCAL_OPTIONS,
    PAIR_FIELDS,
    Judge,
    JudgeRun,
    JudgeSpec,
    Progress,
    check_pair,
    make_judge,
    parse_judge,
    parse_judge_option,
    shown_order,
    unswitch,
)

__all__ = [
    "API_KEYS",
    "JUDGES",
    "JUDGE_FIX",
    "LOCAL_OPTIONS",
    "PAIR_FIELDS",
    "AnnotatorConfig",
    "ApiJudge",
    "Judge",
    "JudgeRun",
    "JudgeSpec",
    "LocalJudge",
    "Progress",
    "annotator_names",
    "api_cache_path",
    "api_servers",
    "chatml_messages",
    "check_api_key",
    "check_api_server",
    "check_pair",
    "estimate_api_cost",
    "judge_backend_options",
    "judge_with_alpaca_eval",
    "leaderboard_price_per_1000",
    "load_annotator",
    "make_api_annotator",
    "make_judge",
    "openai_choice",
    "parse_completion",
    "parse_judge",
    "parse_judge_option",
    "price_per_token",
    "render_prompt",
    "shown_order",
    "unswitch",
]
