"""A judge spec (`alpaca_eval:<annotator>`, `local:<annotator>[,top_logprobs=K]:<model>`, `oracle:<task>`),
its parsing, the `Judge` protocol every kind follows, the registry of kinds, and the pair handling
(alpaca_eval's seeded position randomisation) every kind shares."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError
from harness.evaluation.judges.annotators import annotator_names, load_annotator

log = logging.getLogger(__name__)


LOCAL_OPTIONS = ("top_logprobs",)


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


JUDGE_FIX = (
    "use alpaca_eval:<annotator>, local:<annotator>:<model spec> (e.g. "
    "local:weighted_alpaca_eval_gpt4_turbo:@base) or oracle:<control task>"
)


CLI_JUDGE_FIX = (
    "use alpaca_eval:<annotator>, local:<annotator>:<model spec> (e.g. "
    "local:weighted_alpaca_eval_gpt4_turbo:hf:/path/to/model) or oracle:<control task>"
)


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
        raise ConfigError(
            f"{option} {text!r}{joint}{detail}", fix=CLI_JUDGE_FIX if e.fix in (JUDGE_FIX, None) else e.fix
        ) from None
    model = spec.model or ""
    if model.startswith("@"):
        raise ConfigError(
            f"{option} {text!r} names {model.split(':', 1)[0]}, which only an experiment resolves "
            "(its base or seed model)",
            fix=f"name the judge model as a backend spec, e.g. local:{spec.annotator}:hf:/path/to/model",
        )
    if model:
        from harness.backends.spec import is_local, parse_spec

        m = parse_spec(model)
        if m.backend in ("hf", "vllm") and is_local(m.model) and not Path(m.model).expanduser().is_dir():
            raise ConfigError(
                f"{option} {text!r}: the judge model directory {m.model} does not exist",
                fix="pass an existing model directory, or a hub id such as meta-llama/Llama-2-7b-chat-hf",
            )
    return spec


def parse_judge(spec: str) -> JudgeSpec:
    """A judge spec `<kind>:<rest>`, the kind looked up in JUDGES and the rest parsed by its class."""
    from harness.core.registry import lookup

    kind, sep, rest = spec.partition(":")
    if not sep or kind not in JUDGES or not rest:
        raise ConfigError(
            f"judge {spec!r} is not <kind>:<...> with a kind of {', '.join(JUDGES)}", fix=JUDGE_FIX
        )
    return lookup(JUDGES, kind, what="judge kind").parse_spec(spec, rest)


def parse_local(spec: str, rest: str) -> JudgeSpec:
    head, sep, model = rest.partition(":")
    if not sep or not model:
        raise ConfigError(f"judge {spec!r} names no judge model", fix=JUDGE_FIX)
    name, *opts = head.split(",")
    top: int | None = None
    for opt in opts:
        key, _, value = opt.partition("=")
        if key not in LOCAL_OPTIONS or not value.isdigit() or int(value) < 1:
            raise ConfigError(
                f"judge {spec!r}: bad option {opt!r}", fix="the one option is top_logprobs=K (K >= 1)"
            )
        top = int(value)
    load_annotator(name)
    if not model.startswith("@"):
        from harness.backends.spec import parse_spec

        parse_spec(model)
    return JudgeSpec("local", name, model, top)


def validate_annotator(annotator: str) -> None:
    """The annotator exists in alpaca_eval, read from its files without importing it (light)."""
    names = annotator_names()
    if names and annotator not in names:
        raise ConfigError(
            f"'eval.judge' names the annotator {annotator!r}, which alpaca_eval does not have",
            fix=did_you_mean(annotator, names, otherwise="see alpaca_eval's evaluators_configs"),
        )


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
    "alpaca_eval": "harness.evaluation.judges.api:ApiJudge",
    "local": "harness.evaluation.judges.local:LocalJudge",
    "oracle": "harness.evaluation.oracle:OracleJudge",  # the positive control's known-answer grader
}


def make_judge(
    spec: str | JudgeSpec,
    *,
    cache: str | os.PathLike[str] | None = None,
    generator_options: Mapping[str, Any] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Judge:
    """The judge a spec names. `output_dir` holds an API judge's own cache; `cache` is the request
    cache of a local judge's model calls (its engine comes from the per-process pool, so a judge on
    the model that just generated reuses that engine)."""
    from harness.core.registry import lookup

    parsed = spec if isinstance(spec, JudgeSpec) else parse_judge(spec)
    cls = lookup(JUDGES, parsed.kind, what="judge kind")
    return cls(parsed, cache=cache, generator_options=generator_options, output_dir=output_dir, seed=seed)


def validate_judge(judge: str, source: str, check_model) -> None:
    """The judge's kind is one of the JUDGES registry; its class checks the rest of the spec, lightly."""
    from harness.core import registry

    kind, _, rest = judge.partition(":")
    try:
        registry.check(JUDGES, kind, what="judge kind", key="eval.judge")
        if not rest:
            raise ConfigError(f"'eval.judge' is {judge!r}", fix=JUDGE_FIX)
        registry.lookup(JUDGES, kind, what="judge kind").validate_spec(judge, rest, check_model)
    except ConfigError as e:
        if e.message.startswith(f"{source}: "):  # check_model's errors already name the file
            raise
        raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None
