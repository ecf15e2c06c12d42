"""The API judge: alpaca_eval's own PairwiseAnnotator with its decoder (keys from the environment),
its annotation cache in the run directory; its key and server checked before any work, and its cost
estimated from the annotator's prices."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.evaluation.judges.annotators import AnnotatorConfig, _ae, _quiet, load_annotator, render_prompt
from harness.evaluation.judges.spec import JudgeRun, JudgeSpec, Progress, validate_annotator

log = logging.getLogger(__name__)

# which environment variable alpaca_eval's decoders read their key from
API_KEYS = {
    "openai_completions": "OPENAI_API_KEY",
    "anthropic_completions": "ANTHROPIC_API_KEY",
    "cohere_completions": "CO_API_KEY",
    "google_completions": "GOOGLE_API_KEY",
}


def check_api_key(cfg: AnnotatorConfig) -> None:
    env = API_KEYS.get(cfg.completions)
    if env is None:
        return
    extra = " or OPENAI_CLIENT_CONFIG_PATH" if env == "OPENAI_API_KEY" else ""
    if not os.environ.get(env) and not (
        env == "OPENAI_API_KEY" and os.environ.get("OPENAI_CLIENT_CONFIG_PATH")
    ):
        raise ConfigError(
            f"judge alpaca_eval:{cfg.name} calls {cfg.completions} but {env}{extra} is not set",
            fix=f"export {env}=... , or judge offline with local:{cfg.name}:<model spec>",
        )


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
            raise ConfigError(
                f"judge alpaca_eval:{cfg.name} would call {url!r}, which is not a URL",
                fix="set OPENAI_API_BASE to e.g. http://host:port/v1",
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as e:
            reason = e.strerror or str(e) or type(e).__name__
            raise ConfigError(
                f"judge alpaca_eval:{cfg.name} cannot reach its server {url} ({reason})",
                fix="start the server or fix OPENAI_API_BASE / OPENAI_CLIENT_CONFIG_PATH, or judge "
                f"offline with local:{cfg.name}:<model spec>",
            ) from None


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
            price = float(
                openai_decoder._get_price_per_token(model, cfg.completions_kwargs.get("price_per_token"))
            )
    except Exception:  # the decoder module needs the openai package; no price then
        return None
    return None if math.isnan(price) else price


def leaderboard_price_per_1000(annotator: str) -> float | None:
    """`Price [$/1000 examples]` from alpaca_eval's evaluators leaderboard, when listed."""
    import csv

    path = (
        Path(_ae("constants").__file__).parent / "leaderboards" / "evaluators" / "evaluators_leaderboard.csv"
    )
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
    prompt_tokens = (
        sum(len(render_prompt(cfg, p["instruction"], p["output_1"], p["output_2"])) for p in to_call) // 4
    )
    completion_tokens = int(cfg.completions_kwargs.get("max_tokens", 0) or 0) * len(to_call)
    price = price_per_token(cfg)
    per_1000 = leaderboard_price_per_1000(annotator)
    return {
        "annotator": annotator,
        "model": cfg.completions_kwargs.get("model_name"),
        "n_judgments": len(to_call),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "price_per_token": price,
        "usd": None if price is None else round((prompt_tokens + completion_tokens) * price, 4),
        "usd_leaderboard": None if per_1000 is None else round(per_1000 * len(to_call) / 1000, 4),
        "method": "prompt tokens ~ characters/4 of the rendered prompts; price per token from alpaca_eval's decoder",
    }


def make_api_annotator(annotator: str, output_dir: str | os.PathLike[str], seed: int = 0) -> Any:
    """alpaca_eval's PairwiseAnnotator for `annotator`, caching in the run directory, not site-packages."""
    cache = api_cache_path(output_dir, annotator, seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    return _ae("annotators").PairwiseAnnotator(annotators_config=annotator, caching_path=cache, seed=seed)


def judge_with_alpaca_eval(
    annotator: str, pairs: Sequence[Mapping[str, Any]], *, output_dir: str | os.PathLike[str], seed: int = 0
) -> JudgeRun:
    """alpaca_eval's PairwiseAnnotator on the pairs, its cache in `output_dir/alpaca_eval_cache/`."""
    cfg = load_annotator(annotator)
    check_api_key(cfg)
    annotator_obj = make_api_annotator(annotator, output_dir, seed)
    cache = Path(annotator_obj.caching_path)
    rows = [
        {
            k: p.get(k, "")
            for k in ("instruction", "output_1", "output_2", "generator_1", "generator_2", "dataset")
        }
        for p in pairs
    ]
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
    stats = {
        "judge": f"alpaca_eval:{annotator}",
        "annotator": annotator,
        "template_sha": cfg.template_hash,
        "n_pairs": len(rows),
        "n_parse_failures": n_fail,
        "api_total_tokens": tokens,
        "api_usd": round(usd, 4),
        "alpaca_eval_cache": str(cache),
    }
    return JudgeRun(out, stats)


class ApiJudge:
    """alpaca_eval's own annotator with its own decoder (an API model), caching in `output_dir`."""

    model = None  # nothing runs locally

    def __init__(
        self,
        spec: JudgeSpec,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        seed: int = 0,
        cache: Any = None,
        generator_options: Any = None,
    ):
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
        validate_annotator(rest)

    def identity(self) -> dict[str, Any]:
        return {
            "judge": str(self.spec),
            "annotator": self.config.name,
            "template": self.config.template_hash,
            "seed": self.seed,
        }

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
