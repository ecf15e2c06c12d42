"""The experiment file's schema: what one experiment names, as frozen dataclasses.

An experiment names a base model, a seed set, an unlabelled corpus, the datasets to build or load,
one training recipe and one evaluation protocol. `load_experiment` accepts a path or the name of
a shipped file in `harness/configs/`, plus dotted `key=value` overrides, and fails before any work
starts on unknown keys, unknown builders, judges or backends, and paths that do not exist.

Model references inside an experiment: a backend spec (`hf:/path`, `vllm:org/name`,
`openai:name@url`), `tiny:tiny` / `tiny:small` for a tiny random Llama that the harness makes
(`tiny:learner`: tiny's shape with the usual init, which learns the positive control's task), or
`@base` (the experiment's base model) and `@seed_model` (the base model fine-tuned on the seed set,
M0 in Humpback) where a builder or judge takes a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from harness.core.config import (
    apply_overrides,
    bounded,
    find_named_file,
    from_dict,
    load_yaml,
    parse_override,
    temperature_field,
    top_p_field,
)
from harness.core.errors import ConfigError, HarnessError
from harness.training.recipe import Recipe, load_recipe

SHIPPED_DIR = Path(__file__).resolve().parent / "configs"
SEED_TAG = "Answer in the style of an AI Assistant."
WEB_TAG = "Answer with knowledge from web search."


@dataclasses.dataclass(frozen=True)
class Decoding:
    temperature: float = temperature_field(0.7)
    top_p: float = top_p_field(0.9)
    max_tokens: int = bounded(256, low=1)
    seed: int | None = 0


@dataclasses.dataclass(frozen=True)
class DataDecoding:
    """Data generation's shared settings. Temperature and top-p are each builder's own options (the
    papers' values by default: back-and-forth T=1.0, Humpback T=0.7, both top-p 0.9)."""

    max_tokens: int = bounded(256, low=1)  # a step's limit unless the builder's options set one
    seed: int | None = 0  # per-request sampling seeds derive from it and the request's content


@dataclasses.dataclass(frozen=True)
class SeedData:
    """The seed set: `bundled:demo`, `hub:OpenAssistant/oasst1[@revision]`, `control:<task>` (pairs of
    a known-answer task, the positive control's), or a local JSONL path."""

    source: str = "bundled:demo"
    n: int | None = bounded(None, low=1)  # 3,200 in the papers
    language: str = "en"


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The unlabelled corpus: `stdlib` (docstrings of the installed standard library), a JSONL or
    Parquet path, `hub:<dataset id>[@revision]` (streamed), or `control:<task>` (answers of an
    invertible known-answer task without their instructions)."""

    source: str = "stdlib"
    text_field: str = "text"
    min_chars: int = bounded(600, low=0)
    max_chars: int = bounded(3000, low=1)
    max_tokens: int | None = bounded(None, low=1)  # documents that do not fit the context are dropped
    max_documents: int | None = bounded(None, low=1)
    dedup: Literal["none", "exact", "near"] = "near"
    near_dup_threshold: float = bounded(0.8, low=0, high=1, fix="a Jaccard similarity in [0, 1]")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    builder: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # the training seed of this row (default: the recipe's): one dataset trained twice with two
    # seeds is the control's negative control
    train_seed: int | None = None


@dataclasses.dataclass(frozen=True)
class Train:
    """The one recipe every dataset is trained with, plus how the training set is assembled."""

    recipe: Recipe = Recipe()
    n: int | None = bounded(None, low=1)  # every dataset subsampled to this many records (fixed seed)
    mix_seed: bool = True  # the seed set is always mixed in, as in both papers
    tags: bool = True  # system tags on seed and web-derived examples
    tag_baselines: bool = False
    seed_tag: str = SEED_TAG
    web_tag: str = WEB_TAG


@dataclasses.dataclass(frozen=True)
class Eval:
    protocol: Literal["alpaca_eval_1", "alpaca_eval_2"] = "alpaca_eval_1"
    eval_set: str = "hub"  # hub (tatsu-lab/alpaca_eval), bundled:demo, control:<task>, or a local JSON/JSONL path
    judge: str = "alpaca_eval:alpaca_eval_gpt4"
    max_instances: int | None = bounded(None, low=1, fix="at least 1 instruction, or null for the whole eval set")
    decoding: Decoding = Decoding()


@dataclasses.dataclass(frozen=True)
class Analysis:
    enabled: bool = True
    embedder: str = "minilm"  # the offline all-MiniLM-L6-v2, or any sentence-transformers name/path
    reference: str | None = "distillation"  # MAUVE of every dataset against this one
    mauve_seeds: int = bounded(3, low=1)
    max_texts: int | None = bounded(2000, low=2)
    # MAUVE features: None = the embedder's sentence embeddings (offline default); "lm:gpt2-large" or
    # "lm:/path" = a causal LM's last-token hidden states, the mauve-text featurization the papers used
    mauve_features: str | None = None
    # dataset name -> file of reference judgments (a stronger judge's scores on a sample of its candidates)
    curation_reference: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    base_model: str
    seed: int = 0
    description: str = ""
    backend: Literal["hf", "vllm"] = "hf"  # how trained models and builders' local models are run
    seed_data: SeedData = SeedData()
    corpus: Corpus = Corpus()
    datasets: Mapping[str, DatasetSpec] = dataclasses.field(default_factory=dict)
    train: Train = Train()
    eval: Eval = Eval()
    analysis: Analysis = Analysis()
    decoding: DataDecoding = DataDecoding()  # data generation; builders' options may override per step
    # Options for every local engine the experiment starts (builders' models, eval and judges):
    # tensor_parallel_size, max_model_len, gpu_memory_utilization (vllm), batch_size (hf). How fast,
    # not what: they stay out of the fingerprints.
    engine: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Published win rates (%) this experiment reproduces, by dataset name: shown beside ours in the report.
    paper_results: Mapping[str, float] = dataclasses.field(default_factory=dict)


def resolve_config_path(name_or_path: str) -> Path:
    return find_named_file(name_or_path, SHIPPED_DIR, what="experiment")


_TRAIN_KEYS = {f.name for f in dataclasses.fields(Train)} - {"recipe"}


def _resolve_train(data: dict[str, Any], source: str, lines: Mapping[str, int]) -> None:
    """`train:` holds the recipe name, the mixing keys and any recipe field as an override."""
    raw = data.get("train")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: 'train' must be a mapping")
    raw = dict(raw)
    name = raw.pop("recipe", "tiny")
    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    recipe_over = {k: v for k, v in raw.items() if k not in _TRAIN_KEYS}
    for k in recipe_over:
        if k not in recipe_fields:
            import difflib

            close = difflib.get_close_matches(k, sorted(recipe_fields | _TRAIN_KEYS | {"recipe"}), n=1, cutoff=0.5)
            where = f"{source}:{lines[f'train.{k}']}: " if f"train.{k}" in lines else f"{source}: "
            raise ConfigError(f"{where}unknown key 'train.{k}'",
                              fix=f"did you mean 'train.{close[0]}'?" if close else "see harness/training/recipe.py")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: 'train.recipe' must be a shipped recipe name or a YAML path")
    recipe = load_recipe(name, {**recipe_over, "name": name}, source=source, lines=lines, prefix="train.")
    data["train"] = {**{k: v for k, v in raw.items() if k in _TRAIN_KEYS}, "recipe": recipe}


def _model_checker(source: str):
    """check(key, value): a model reference is @base/@seed_model/tiny:*, or a backend spec whose local
    directory (when it names one) exists."""
    from harness.backends.spec import is_local, parse_spec

    def check_model(key: str, value: str) -> None:
        if value.startswith("@") or value.startswith("tiny:"):
            if value not in ("@base", "@seed_model", "tiny:tiny", "tiny:small", "tiny:learner"):
                raise ConfigError(f"{source}: '{key}' is {value!r}",
                                  fix="use @base, @seed_model, tiny:tiny, tiny:small, tiny:learner or a backend spec")
            return
        try:
            spec = parse_spec(value)
        except HarnessError as e:  # BackendError: not BACKEND:MODEL, or an unknown backend
            raise ConfigError(f"{source}: '{key}': {e.message}", fix=e.fix) from None
        if spec.backend in ("hf", "vllm") and is_local(spec.model) and not Path(spec.model).expanduser().exists():
            raise ConfigError(f"{source}: '{key}' is {value!r}, whose model directory does not exist",
                              fix="give an existing local model directory, or a hub id such as meta-llama/Llama-2-7b-hf")

    return check_model


def _validate(exp: Experiment, source: str) -> None:
    if not exp.name or exp.name in (".", "..") or any(c in exp.name for c in "/\\\0") or exp.name != exp.name.strip():
        raise ConfigError(f"{source}: 'name' is {exp.name!r}; it names the run directory runs/<name>",
                          fix="a non-empty name without slashes or surrounding spaces, e.g. my-experiment")
    check_model = _model_checker(source)
    check_model("base_model", exp.base_model)
    if not exp.datasets:
        raise ConfigError(f"{source}: 'datasets' is empty", fix="list at least one dataset to build or load")
    from datasets_builders import BUILDERS
    from harness.core import registry

    for name, ds in exp.datasets.items():
        try:
            registry.check(BUILDERS, ds.builder, what="builder", key=f"datasets.{name}.builder")
        except ConfigError as e:
            raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None
        _validate_options(name, ds, source, check_model)
    if exp.corpus.min_chars > exp.corpus.max_chars:
        raise ConfigError(f"{source}: 'corpus.min_chars' ({exp.corpus.min_chars}) is above 'corpus.max_chars' "
                          f"({exp.corpus.max_chars})", fix="set corpus.min_chars <= corpus.max_chars")
    _validate_judge(exp.eval.judge, source, check_model)
    for key, value in (("seed_data.source", exp.seed_data.source), ("corpus.source", exp.corpus.source),
                       ("eval.eval_set", exp.eval.eval_set)):
        _check_local_source(key, value, source)
    for name in exp.paper_results:
        if name not in exp.datasets:
            raise ConfigError(f"{source}: 'paper_results.{name}' is not a dataset of this experiment",
                              fix=f"use one of {', '.join(exp.datasets)}")
    if exp.analysis.reference is not None and exp.analysis.reference not in exp.datasets:
        raise ConfigError(f"{source}: 'analysis.reference' names {exp.analysis.reference!r}, not a dataset of "
                          "this experiment", fix=f"use one of {', '.join(exp.datasets)} or null")
    for name, ref in exp.analysis.curation_reference.items():
        if name not in exp.datasets:
            raise ConfigError(f"{source}: 'analysis.curation_reference.{name}' is not a dataset of this experiment",
                              fix=f"use one of {', '.join(exp.datasets)}")
        _check_local_source(f"analysis.curation_reference.{name}", ref, source)


MODEL_OPTIONS = ("backward_model", "judge", "rewriter", "teacher")  # builder options that name a model


def _validate_options(name: str, ds: DatasetSpec, source: str, check_model) -> None:
    """A dataset's builder options, now: types, ranges, a baseline's loader, the models they name."""
    from datasets_builders import parse_options

    opts = parse_options(ds.builder, ds.options, source=source, prefix=f"datasets.{name}.options.")
    for key in MODEL_OPTIONS:
        value = getattr(opts, key, None)
        if isinstance(value, str) and not value.startswith("@"):
            check_model(f"datasets.{name}.options.{key}", value)


def _validate_judge(judge: str, source: str, check_model) -> None:
    """The judge's kind is one of the JUDGES registry; its class checks the rest of the spec, lightly."""
    from harness.core import registry
    from harness.evaluation.judges import JUDGE_FIX, JUDGES

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


def is_local_source(value: str) -> bool:
    """A seed, corpus or eval-set source that is a local path, not a named one (stdlib, hub,
    hub:<id>, bundled:<name>), which its loader resolves."""
    return not (value in ("stdlib", "hub") or value.split(":", 1)[0] in ("hub", "bundled", "control"))


def _check_local_source(key: str, value: str, source: str) -> None:
    if value.startswith("control:"):
        from harness.core.tasks import task_of_source

        try:
            task_of_source(value, key=key, invertible=key == "corpus.source")
        except ConfigError as e:
            raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None
    if is_local_source(value) and not Path(value).exists():
        raise ConfigError(f"{source}: '{key}' is {value!r}, which does not exist",
                          fix="give an existing file, or hub:<dataset id> / bundled:demo")


def load_experiment(name_or_path: str, overrides: Sequence[str] = ()) -> Experiment:
    """Read, override, validate. Every error is a ConfigError naming the file, line and key."""
    path = resolve_config_path(name_or_path)
    data, lines = load_yaml(path)
    data = apply_overrides(data, overrides)
    override_keys = {parse_override(o)[0] for o in overrides}
    lines = {k: v for k, v in lines.items() if k not in override_keys}
    _resolve_train(data, str(path), lines)
    exp = from_dict(Experiment, data, source=str(path), lines=lines)
    _validate(exp, str(path))
    return exp
