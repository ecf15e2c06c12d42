"""The experiment file's schema: what one experiment names, as frozen dataclasses.

An experiment names a base model, a seed set, an unlabelled corpus, the datasets to build or load,
one training recipe and one evaluation protocol. `load_experiment` accepts a path or the name of
a shipped file in `harness/configs/`, plus dotted `key=value` overrides, and fails before any work
starts on unknown keys, unknown builders, judges or backends, and paths that do not exist.

Model references inside an experiment: a backend spec (`hf:/path`, `vllm:org/name`,
`openai:name@url`), `tiny:tiny` / `tiny:small` for a tiny random Llama that the harness makes
(`tiny:learner`: tiny's shape with the usual init, which learns the positive control's task), or
`@base` (the experiment's base model) and `@seed_model` (the base model fine-tuned on the seed set,
M0 in Humpback) where a builder or judge takes a model; builders also take `@backward` and, to train
a helper from another base than the experiment's, `@seed_model:<spec>` / `@backward:<spec>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from harness.core.config import (
    bounded,
    did_you_mean,
    find_named_file,
    from_dict,
    read_with_overrides,
    temperature_field,
    top_p_field,
)
from harness.core.errors import ConfigError, HarnessError
from harness.core.slurm import SlurmOptions
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
    Parquet path, a directory of such files (nested folders too), `hub:<dataset id>[@commit]` (its
    data files, or the files its `url_list` names, streamed; a local copy of the repository works the
    same way), or `control:<task>` (answers of an invertible known-answer task without their
    instructions)."""

    source: str = "stdlib"
    text_field: str = "text"
    # a glob picking the files of a hub dataset or a local directory: Dolma's Common Crawl "head"
    # split is a set of files (the back-and-forth paper's corpus)
    data_files: str | None = None
    # a file of the source listing the URLs of its data files, one per line (Dolma publishes its data
    # this way: urls/v1.txt); data_files then filters the URLs, and each file is streamed, never stored
    url_list: str | None = None
    # "headers": cut every document into header-led segments, each a document (Humpback's ClueWeb
    # segments); min_chars/max_chars then bound the segments. header_filter keeps only segments that
    # open with a title-like header (datasets_builders/segments.py)
    segment: Literal["none", "headers"] = "none"
    header_filter: bool = False
    min_chars: int = bounded(600, low=0)
    max_chars: int = bounded(3000, low=1)
    max_tokens: int | None = bounded(None, low=1)  # documents that do not fit the context are dropped
    max_documents: int | None = bounded(None, low=1)
    dedup: Literal["none", "exact", "near"] = "near"
    near_dup_threshold: float = bounded(0.8, low=0, high=1, fix="a Jaccard similarity in [0, 1]")


Assembly = Literal["shared", "without_seed", "as_published"]
EvalTags = Literal["none", "seed", "web", "both"]
EVAL_TAGS = ("none", "seed", "web", "both")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset to build or load, and how its rows are trained.

    `assembly`: `shared` (the default, for every row, baselines included: the dataset with the web
    tag plus the seed set with the seed tag), `without_seed` (the dataset alone, web tag: Humpback's
    "augmented only"), `as_published` (the dataset alone, no tags). `n` overrides `train.n`;
    `sizes` trains one row per N (`<name>@<N>`, a data scaling curve); `instructions_from: <other>`
    makes this row and the other train on the same instructions (rewritten vs distilled responses)."""

    builder: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    assembly: Assembly = "shared"
    n: int | None = bounded(None, low=1)
    sizes: tuple[int, ...] = ()
    instructions_from: str | None = None
    # what the row is, in words, shown on the leaderboard (e.g. "Humpback method on Dolma, not the
    # paper's ClueWeb data"): display only, outside every fingerprint
    label: str = ""
    # the training seed of this row (default: the recipe's): one dataset trained twice with two
    # seeds is the control's negative control
    train_seed: int | None = None


@dataclasses.dataclass(frozen=True)
class Train:
    """The one recipe every dataset is trained with, plus how the training set is assembled."""

    recipe: Recipe = Recipe()
    n: int | None = bounded(None, low=1)  # every dataset subsampled to this many records (fixed seed)
    mix_seed: bool = True  # the seed set is mixed in (rows with assembly `shared`), as in both papers
    tags: bool = True  # system tags on seed and web-derived examples
    seed_tag: str = SEED_TAG
    web_tag: str = WEB_TAG
    # save the model at these optimizer steps too; each is evaluated as the row <name>@step<k>
    checkpoints: tuple[int, ...] = ()
    # the row reported as the run's result: the final model, or the model (checkpoints and final, under
    # every eval-tag variant) with the best win rate on the eval set: selecting on the test set, as
    # the back-and-forth paper did (its steps and its "better of two" tags)
    select_checkpoint: Literal["last", "best_on_eval"] = "last"


@dataclasses.dataclass(frozen=True)
class Eval:
    protocol: Literal["alpaca_eval_1", "alpaca_eval_2"] = "alpaca_eval_1"
    eval_set: str = "hub"  # hub (tatsu-lab/alpaca_eval), bundled:demo, control:<task>, or a local JSON/JSONL path
    judge: str = "alpaca_eval:alpaca_eval_gpt4"
    max_instances: int | None = bounded(None, low=1, fix="at least 1 instruction, or null for the whole eval set")
    decoding: Decoding = Decoding()
    # length-controlled win rate from the annotations: auto = alpaca_eval's official GLM when lc_data
    # (its df_gamed.csv from the hub, or the directory holding it) is given and applies, else its GLM
    # without instruction difficulty on the run's own annotations; off = none
    lc: Literal["auto", "off"] = "auto"
    lc_data: str | None = None
    # the system tag(s) put before each eval instruction, rendered as the training records' system
    # turn: none, seed (train.seed_tag), web (train.web_tag), both (the two joined by a space)
    # (a model trained without tags, train.tags=false or assembly as_published, is prompted without them)
    tags: EvalTags = "seed"
    tag_variants: tuple[str, ...] = ()  # one eval row per value, named <name>[tags=<value>]; replaces `tags`
    # where the eval tag goes: system (the training records' system turn; a prompt is a prefix of a
    # training render) or question (appended to the instruction after a blank line, the papers' placement)
    tag_placement: Literal["system", "question"] = "system"


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
    # datasets whose records' source web documents join the response comparison as a set
    # "<name>:web_text" (the back-and-forth paper's MAUVE table: distilled vs rewritten vs raw web text)
    web_text_of: tuple[str, ...] = ()
    # lengths also in a model's tokens, beside the regex word tokens: "base" (the base model's tokenizer)
    # or a tokenizer's hub id or directory; None: regex tokens only
    length_tokenizer: str | None = None


@dataclasses.dataclass(frozen=True)
class Helpers:
    """How long the helper models a build trains (`@backward`, `@seed_model`, Humpback's M1) train: unset,
    the experiment's recipe as it is (its max_steps too); `num_epochs` or `max_steps` give the helpers a
    length of their own (the rest of the recipe is the experiment's)."""

    max_steps: int | None = bounded(None, low=1)
    num_epochs: float | None = bounded(None, low=0, low_open=True)


def helper_recipe(exp: Experiment) -> Recipe:
    """The recipe the helpers train with: the experiment's, with `helpers:`'s length when set."""
    h, r = exp.helpers, exp.train.recipe
    if h.max_steps is not None:
        return dataclasses.replace(r, max_steps=h.max_steps)
    if h.num_epochs is not None:
        return dataclasses.replace(r, max_steps=-1, num_epochs=h.num_epochs)
    return r


@dataclasses.dataclass(frozen=True)
class Hardware:
    """The GPUs the experiment runs on. Undeclared (the default): the capacity plan is printed but
    refuses nothing; declared (gpus_per_node and gpu_memory_gib): a stage that does not fit is refused
    before any work (`harness.stages.capacity`). How many, not what: outside every fingerprint."""

    nodes: int = bounded(1, low=1)
    gpus_per_node: int | None = bounded(None, low=1)
    gpu_memory_gib: float | None = bounded(None, low=0, low_open=True, fix="GiB of memory per GPU, e.g. 80")

    @property
    def declared(self) -> bool:
        return self.gpus_per_node is not None and self.gpu_memory_gib is not None


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
    helpers: Helpers = Helpers()  # the helper models' own training length
    hardware: Hardware = Hardware()  # the GPUs it runs on: the capacity plan checks every stage against them
    slurm: SlurmOptions = SlurmOptions()  # `--executor slurm`'s sbatch options (harness/core/slurm.py); no fingerprint
    # Published win rates (%) this experiment reproduces, by dataset name: shown beside ours in the report,
    # on that dataset's row at N = train.n only (a row of another size, `sizes`, shows none: the figure
    # is one table cell, for one N).
    paper_results: Mapping[str, float] = dataclasses.field(default_factory=dict)
    # The experiment's stated deviations from the papers it reproduces (one line each), printed under its
    # leaderboard; the README's "Paper vs harness" table gives each one's reason and override.
    deviations: tuple[str, ...] = ()
    # Prompt templates replaced by the experiment's own files (template name -> path), for example a
    # copy of a paper's wording: `prompts: {rewrite: my/rewrite.txt}`. Templates: harness/prompts/.
    prompts: Mapping[str, str] = dataclasses.field(default_factory=dict)


def eval_system_prompt(train: Train, tags: str) -> str | None:
    """The system turn an eval prompt carries for `tags` (none, seed, web, both): the training tags'
    own text, so the model sees at inference what it was trained with."""
    return {"none": None, "seed": train.seed_tag, "web": train.web_tag,
            "both": f"{train.seed_tag} {train.web_tag}"}[tags]


def eval_prompt_parts(exp: Experiment, tags: str) -> tuple[str | None, str | None]:
    """(system turn, text appended to each instruction) of an eval prompt for `tags`: the tag text of
    `eval_system_prompt` as the system turn, or after the question under `eval.tag_placement: question`."""
    tag = eval_system_prompt(exp.train, tags)
    if exp.eval.tag_placement == "question" and tag:
        return None, f"\n\n{tag}"
    return tag, None


def resolve_config_path(name_or_path: str) -> Path:
    return find_named_file(name_or_path, SHIPPED_DIR, what="experiment")


_TRAIN_KEYS = {f.name for f in dataclasses.fields(Train)} - {"recipe"}


def _resolve_train(data: dict[str, Any], source: str, lines: Mapping[str, int]) -> None:
    """`train:` holds the recipe name, the mixing keys and any recipe field as an override."""
    if "train" in data and data["train"] is None:
        from harness.core.config import null_section

        raise null_section("train", source, lines)
    raw = data.get("train") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: 'train' must be a mapping")
    raw = dict(raw)
    if "tag_baselines" in raw:
        where = f"{source}:{lines['train.tag_baselines']}" if "train.tag_baselines" in lines else source
        raise ConfigError(f"{where}: 'train.tag_baselines' was removed: every row, baselines included, trains on "
                          "the same assembly (seed mixed in, tagged)",
                          fix="delete it; for a baseline as published set datasets.<name>.assembly: as_published")
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


# Names become directories: runs/<experiment>/, build/<dataset>/, train/<dataset>@<N>/,
# eval/<dataset>@step<k>.tags-<v>/, and names plus fingerprints in places. 100 characters keeps every
# such component well below the file systems' 255-byte limit on one file name.
NAME_MAX = 100
NAME_FIX = f"letters, digits and {{chars}}, starting with a letter or digit, at most {NAME_MAX} characters"


def name_problem(name: object, *, dots: bool = True) -> str | None:
    """Why `name` cannot be a directory name of its own (None when it can): a conservative ASCII set,
    so that no name climbs out of its directory, hides a file, reads as an option or needs quoting in
    a shell. `dots=False` for dataset names, which dotted overrides address and a row's eval key
    extends with `.tags-<v>`."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    if len(name) > NAME_MAX:
        return f"is {len(name)} characters long, above {NAME_MAX}"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    allowed = "_+-" + ("." if dots else "")
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in allowed))), None)
    if bad is not None:
        return f"holds {bad!r}"
    if not name[0].isalnum():
        return f"starts with {name[0]!r}"
    return None


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 60 else f"{text[:40]}...{text[-12:]} ({len(str(name))} characters)"


def _validate_names(exp: Experiment, source: str) -> None:
    """The experiment's and the datasets' names are safe directory names, before anything uses them."""
    problem = name_problem(exp.name)
    if problem:
        raise ConfigError(f"{source}: 'name' is {_shown(exp.name)}, which {problem}; it names the run directory "
                          "runs/<name>", fix=NAME_FIX.format(chars=". _ + -") + ", e.g. my-experiment")
    for name in exp.datasets:
        problem = name_problem(name, dots=False)
        if problem:
            raise ConfigError(f"{source}: dataset name {_shown(name)} (a key of 'datasets') {problem}; it names "
                              "the directories runs/<experiment>/build/<name>/ and others",
                              fix="rename it: " + NAME_FIX.format(chars="_ + -") + ", e.g. my_dataset")


def _validate(exp: Experiment, source: str) -> None:
    _validate_names(exp, source)
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
    _validate_dependencies(exp, source)
    _validate_corpus(exp.corpus, source)
    _validate_judge(exp.eval.judge, source, check_model)
    for key, value in (("seed_data.source", exp.seed_data.source), ("corpus.source", exp.corpus.source),
                       ("eval.eval_set", exp.eval.eval_set)):
        _check_local_source(key, value, source)
    _validate_lc_data(exp.eval.lc_data, source)
    _validate_rows(exp, source)
    _validate_prompts(exp, source)
    for name in exp.paper_results:
        if name not in exp.datasets:
            raise ConfigError(f"{source}: 'paper_results.{name}' is not a dataset of this experiment",
                              fix=f"use one of {', '.join(exp.datasets)}")
    _validate_analysis(exp, source)
    _validate_input_files(exp, source)


# ---------------------------------------------------------------- input files read when the experiment loads
# What the seed and eval-set files hold is knowable now; found by the build or the eval stage, it would
# stop a run after hours of building and training. Local files and the bundled sets are read (cheap: the
# 805 AlpacaEval rows are a 1 MB JSON); hub sources are not fetched here.

def _validate_input_files(exp: Experiment, source: str) -> None:
    _check_seed_file(exp.seed_data, source)
    n_eval = _check_eval_set(exp.eval, source)
    _check_analysis_minimum(exp, n_eval, source)


def _reraised(key: str, value: str, source: str, e: HarnessError) -> ConfigError:
    """An input file's error (it names the file and line) as the experiment's, with the key that names it."""
    return ConfigError(f"{source}: '{key}' ({value}): {e.message.removeprefix(key + ': ')}", fix=e.fix)


def _check_seed_file(seed: SeedData, source: str) -> None:
    """A local seed file is a readable file of valid pairs, at least one; a local directory is a copy of
    the Open Assistant repository (its train Parquet files)."""
    value = seed.source
    if not is_local_source(value):
        return
    from datasets_builders.seed import OASST_FILES, read_seed_file
    from harness.core import sources
    from harness.core.io import require_file

    path = Path(value).expanduser()
    try:
        if path.is_dir():
            sources.match_files(path, OASST_FILES, key="seed_data.source")
            return
        require_file(path)
        if not read_seed_file(path):
            raise ConfigError("holds no seed pairs (the file is empty)",
                              fix='one pair per line: {"instruction": ..., "response": ...}')
    except HarnessError as e:
        if path.is_dir():
            raise ConfigError(f"{source}: 'seed_data.source' ({value}) is a directory but not a copy of the Open "
                              f"Assistant repository: {e.message.removeprefix('seed_data.source: ')}",
                              fix="pass a JSONL file of pairs, or a local copy of OpenAssistant/oasst1 "
                                  "(its data/train-*.parquet)") from None
        raise _reraised("seed_data.source", value, source, e) from None


def _check_eval_set(ev: Eval, source: str) -> int | None:
    """The eval set's rows, read now when it is a local file or directory or a bundled set: an instruction
    in alpaca_eval's format with its reference output, each instruction once. Returns how many
    instructions the eval stage will judge (None when unknown here)."""
    from harness.evaluation.eval_set import ALPACA_EVAL_SIZE, load_eval_set

    value = ev.eval_set
    if value == "hub" or value.startswith("hub:"):
        n: int | None = ALPACA_EVAL_SIZE if value == "hub" else None
    elif value.startswith("control:"):
        return ev.max_instances
    else:
        try:
            n = len(load_eval_set(value, ev.protocol))
        except HarnessError as e:
            raise _reraised("eval.eval_set", value, source, e) from None
    if n is None:
        return ev.max_instances
    return n if ev.max_instances is None else min(n, ev.max_instances)


def _check_analysis_minimum(exp: Experiment, n_eval: int | None, source: str) -> None:
    """The analysis compares the models' eval outputs (one text per eval instruction) when there are two
    rows or more; each set needs at least MIN_TEXTS texts (MAUVE's clusters; the classifier's folds need
    fewer), and analysis.max_texts cuts every set."""
    from harness.evaluation.analysis.mauve import MIN_TEXTS

    if not exp.analysis.enabled:
        return
    cut = exp.analysis.max_texts
    if cut is not None and cut < MIN_TEXTS:
        raise ConfigError(f"{source}: 'analysis.max_texts' is {cut}, below the {MIN_TEXTS} texts per set the "
                          "analysis needs (MAUVE and the classifier)",
                          fix=f"set analysis.max_texts >= {MIN_TEXTS}, or null for every text")
    if n_eval is not None and n_eval < MIN_TEXTS and len(exp.datasets) >= 2:
        what = ("'eval.max_instances' is " + str(exp.eval.max_instances) if exp.eval.max_instances == n_eval
                else f"the eval set '{exp.eval.eval_set}' has {n_eval} instructions")
        raise ConfigError(f"{source}: {what}, below the {MIN_TEXTS} the analysis of the models' outputs needs "
                          "(one output per instruction and model)",
                          fix=f"set eval.max_instances >= {MIN_TEXTS} (or null for the whole eval set), or "
                              "analysis.enabled=false")


def _validate_analysis(exp: Experiment, source: str) -> None:
    if exp.analysis.reference is not None and exp.analysis.reference not in exp.datasets:
        raise ConfigError(f"{source}: 'analysis.reference' names {exp.analysis.reference!r}, not a dataset of "
                          "this experiment", fix=f"use one of {', '.join(exp.datasets)} or null")
    for name in exp.analysis.web_text_of:
        if name not in exp.datasets:
            raise ConfigError(f"{source}: 'analysis.web_text_of' names {name!r}, not a dataset of this experiment",
                              fix=did_you_mean(name, list(exp.datasets), otherwise=f"use one of {', '.join(exp.datasets)}"))
    for name, ref in exp.analysis.curation_reference.items():
        if name not in exp.datasets:
            raise ConfigError(f"{source}: 'analysis.curation_reference.{name}' is not a dataset of this experiment",
                              fix=f"use one of {', '.join(exp.datasets)}")
        _check_local_source(f"analysis.curation_reference.{name}", ref, source)


def _validate_rows(exp: Experiment, source: str) -> None:
    """The keys that make leaderboard rows: sizes, instructions_from, eval tags, checkpoints."""
    for name, ds in exp.datasets.items():
        key = f"datasets.{name}"
        if ds.sizes and (ds.n is not None or len(set(ds.sizes)) != len(ds.sizes) or min(ds.sizes) < 1):
            raise ConfigError(f"{source}: '{key}.sizes' is {list(ds.sizes)}",
                              fix=f"distinct positive sizes, and no '{key}.n' beside them")
        if ds.instructions_from is not None:
            _check_instructions_from(exp, name, source)
    variants = exp.eval.tag_variants
    for v in variants:
        if v not in EVAL_TAGS:
            raise ConfigError(f"{source}: 'eval.tag_variants' holds {v!r}", fix=f"use values of {', '.join(EVAL_TAGS)}")
    if len(set(variants)) != len(variants):
        raise ConfigError(f"{source}: 'eval.tag_variants' repeats a value", fix="list each variant once")
    steps = exp.train.checkpoints
    if steps and (min(steps) < 1 or len(set(steps)) != len(steps)):
        raise ConfigError(f"{source}: 'train.checkpoints' is {list(steps)}", fix="distinct optimizer steps >= 1")
    last = exp.train.recipe.max_steps
    if steps and last > 0 and max(steps) >= last:
        raise ConfigError(f"{source}: 'train.checkpoints' lists step {max(steps)}, but the run ends at max_steps "
                          f"{last}, whose model is the final one", fix=f"list only steps below {last}")
    if exp.train.select_checkpoint == "best_on_eval" and not steps and len(variants) < 2:
        raise ConfigError(f"{source}: 'train.select_checkpoint' is best_on_eval but there is nothing to select from "
                          "('train.checkpoints' is empty, fewer than two eval.tag_variants)",
                          fix="list the steps to save in train.checkpoints, or select_checkpoint=last")


def _check_instructions_from(exp: Experiment, name: str, source: str) -> None:
    """`instructions_from` names another dataset, without a cycle."""
    first = exp.datasets[name].instructions_from
    if first not in exp.datasets or first == name:
        raise ConfigError(f"{source}: 'datasets.{name}.instructions_from' is {first!r}, "
                          + ("this dataset itself" if first == name else "not a dataset of this experiment"),
                          fix=did_you_mean(str(first), [n for n in exp.datasets if n != name],
                                           otherwise="name another dataset of this experiment"))
    seen, other = [name], first
    while other is not None:
        if other in seen:
            raise ConfigError(f"{source}: 'instructions_from' makes a cycle: {' -> '.join([*seen, other])}",
                              fix="let one dataset of the group name no other")
        seen.append(other)
        other = exp.datasets[other].instructions_from


def _validate_corpus(corpus: Corpus, source: str) -> None:
    if corpus.min_chars > corpus.max_chars:
        raise ConfigError(f"{source}: 'corpus.min_chars' ({corpus.min_chars}) is above 'corpus.max_chars' "
                          f"({corpus.max_chars})", fix="set corpus.min_chars <= corpus.max_chars")
    if corpus.header_filter and corpus.segment == "none":
        raise ConfigError(f"{source}: 'corpus.header_filter' needs segments to filter",
                          fix="set corpus.segment: headers (or header_filter: false)")


def _validate_prompts(exp: Experiment, source: str) -> None:
    """Each replaced template: a known name, an existing file, the shipped template's placeholders."""
    from datasets_builders.prompts import check_override

    for name, path in exp.prompts.items():
        if not isinstance(path, str):
            raise ConfigError(f"{source}: 'prompts.{name}' must be a file path", fix=f"prompts: {{{name}: path/to/file.txt}}")
        check_override(name, path, where=source)


MODEL_OPTIONS = ("backward_model", "judge", "rewriter", "teacher", "responder")  # builder options that name a model


def _validate_options(name: str, ds: DatasetSpec, source: str, check_model) -> None:
    """A dataset's builder options, now: types, ranges, a baseline's loader, the models they name."""
    from datasets_builders import parse_options

    opts = parse_options(ds.builder, ds.options, source=source, prefix=f"datasets.{name}.options.")
    for key in MODEL_OPTIONS:
        value = getattr(opts, key, None)
        if not isinstance(value, str):
            continue
        ref, _, base = value.partition(":")
        if value.startswith("@") and base:  # @seed_model:<spec> / @backward:<spec>: trained from another base
            if ref not in ("@seed_model", "@backward"):
                raise ConfigError(f"{source}: 'datasets.{name}.options.{key}' is {value!r}",
                                  fix="only @seed_model:<spec> and @backward:<spec> take a base model")
            check_model(f"datasets.{name}.options.{key}", base)
        elif not value.startswith("@"):
            check_model(f"datasets.{name}.options.{key}", value)


def _validate_dependencies(exp: Experiment, source: str) -> None:
    """A dataset built from another (fixed_responder's instructions_from) names a different dataset of
    this experiment, and the chain has no cycle."""
    from datasets_builders import dependencies

    deps = {n: dependencies(ds.builder, ds.options) for n, ds in exp.datasets.items()}
    for name, names in deps.items():
        for dep in names:
            if dep not in exp.datasets or dep == name:
                others = [n for n in exp.datasets if n != name]
                raise ConfigError(f"{source}: 'datasets.{name}' reads dataset {dep!r}, "
                                  f"{'itself' if dep == name else 'not a dataset of this experiment'}",
                                  fix=did_you_mean(dep, others, otherwise=f"use one of {', '.join(others)}"))
    for name in deps:
        seen, todo = set(), list(deps[name])
        while todo:
            dep = todo.pop()
            if dep == name:
                raise ConfigError(f"{source}: 'datasets.{name}' depends on itself through {sorted(seen)}",
                                  fix="break the cycle of instructions_from")
            if dep not in seen:
                seen.add(dep)
                todo += deps[dep]


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


def _validate_lc_data(lc_data: str | None, source: str) -> None:
    if lc_data is None:
        return
    from harness.core.errors import InputError
    from harness.evaluation.metrics import check_lc_data

    try:
        check_lc_data(lc_data, key=f"'eval.lc_data' ({lc_data})")
    except InputError as e:
        raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None


def is_local_source(value: str) -> bool:
    """A seed, corpus or eval-set source that is a local path, not a named one (stdlib, hub,
    hub:<id>, bundled:<name>), which its loader resolves."""
    return not (value in ("stdlib", "hub") or value.split(":", 1)[0] in ("hub", "github", "bundled", "control"))


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
    data, lines = read_with_overrides(path, overrides)
    _resolve_train(data, str(path), lines)
    if isinstance(data.get("eval"), dict) and data["eval"].get("lc") is False:
        data["eval"]["lc"] = "off"  # YAML reads a bare `off` as false
    exp = from_dict(Experiment, data, source=str(path), lines=lines)
    _validate(exp, str(path))
    return exp
