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
    find_named_file,
    from_dict,
    read_with_overrides,
    temperature_field,
    top_p_field,
)
from harness.core.errors import ConfigError
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
    eval_set: str = (
        "hub"  # hub (tatsu-lab/alpaca_eval), bundled:demo, control:<task>, or a local JSON/JSONL path
    )
    judge: str = "alpaca_eval:alpaca_eval_gpt4"
    max_instances: int | None = bounded(
        None, low=1, fix="at least 1 instruction, or null for the whole eval set"
    )
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
    # instruction complexity (tags per instruction): a model spec (or @base) that lists each instruction's
    # intentions as tags (prompt `instruction_tags`); None: not measured. On at most `max_tagged`
    # instructions per dataset (a seeded sample), greedy, `tagger_max_tokens` per reply
    instruction_tagger: str | None = None
    max_tagged: int | None = bounded(1000, low=2)
    tagger_max_tokens: int = bounded(128, low=1)


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
class Build:
    """How the builds are split: `num_shards` K > 1 builds each dataset as K shard tasks (array jobs
    under `--executor slurm`) and a merge, which equals the unsharded build. Where, not what: in no
    fingerprint."""

    num_shards: int = bounded(1, low=1)


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
    build: Build = Build()  # build.num_shards: each dataset as K shard tasks and a merge
    slurm: SlurmOptions = (
        SlurmOptions()
    )  # `--executor slurm`'s sbatch options (harness/core/slurm.py); no fingerprint
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
    return {
        "none": None,
        "seed": train.seed_tag,
        "web": train.web_tag,
        "both": f"{train.seed_tag} {train.web_tag}",
    }[tags]


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
        raise ConfigError(
            f"{where}: 'train.tag_baselines' was removed: every row, baselines included, trains on "
            "the same assembly (seed mixed in, tagged)",
            fix="delete it; for a baseline as published set datasets.<name>.assembly: as_published",
        )
    name = raw.pop("recipe", "tiny")
    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    recipe_over = {k: v for k, v in raw.items() if k not in _TRAIN_KEYS}
    for k in recipe_over:
        if k not in recipe_fields:
            import difflib

            close = difflib.get_close_matches(
                k, sorted(recipe_fields | _TRAIN_KEYS | {"recipe"}), n=1, cutoff=0.5
            )
            where = f"{source}:{lines[f'train.{k}']}: " if f"train.{k}" in lines else f"{source}: "
            raise ConfigError(
                f"{where}unknown key 'train.{k}'",
                fix=f"did you mean 'train.{close[0]}'?" if close else "see harness/training/recipe.py",
            )
    if not isinstance(name, str):
        raise ConfigError(f"{source}: 'train.recipe' must be a shipped recipe name or a YAML path")
    recipe = load_recipe(name, {**recipe_over, "name": name}, source=source, lines=lines, prefix="train.")
    data["train"] = {**{k: v for k, v in raw.items() if k in _TRAIN_KEYS}, "recipe": recipe}


def is_local_source(value: str) -> bool:
    """A seed, corpus or eval-set source that is a local path, not a named one (stdlib, hub,
    hub:<id>, bundled:<name>), which its loader resolves."""
    return not (
        value in ("stdlib", "hub") or value.split(":", 1)[0] in ("hub", "github", "bundled", "control")
    )


def load_experiment(name_or_path: str, overrides: Sequence[str] = ()) -> Experiment:
    """Read, override, validate. Every error is a ConfigError naming the file, line and key."""
    path = resolve_config_path(name_or_path)
    data, lines = read_with_overrides(path, overrides)
    _resolve_train(data, str(path), lines)
    if isinstance(data.get("eval"), dict) and data["eval"].get("lc") is False:
        data["eval"]["lc"] = "off"  # YAML reads a bare `off` as false
    exp = from_dict(Experiment, data, source=str(path), lines=lines)
    from harness.validation import validate  # it imports this module's schema

    validate(exp, str(path))
    return exp
