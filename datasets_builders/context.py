"""BuildContext: what a builder gets from the build stage, and nothing more.

A builder sees its options, the seed records, a streaming corpus, model references resolved to
generators (through the experiment's request cache), a `train` call for cached sub-stage models,
and a step log. The stage (`harness/stages/build.py`) constructs it from the experiment; the
builder never reads the experiment's paths or imports the trainer.

Model references: `@base` (the experiment's base model), `@seed_model` (the base trained on the
seed set: Humpback's M0), `@backward` (the base trained on (response -> instruction) seed pairs:
M_yx), the same two trained from another base model (`@seed_model:<spec>`, `@backward:<spec>`),
or a backend spec (`vllm:meta-llama/Llama-2-70b-chat-hf`, `hf:/path`).

Trained sub-stage models live in `shared_dir/<purpose>-<fingerprint>/`, keyed by the purpose, the
base model, the recipe and the exact training records, so Humpback and back-and-forth share one
backward model and one seed model, and a crash after training never retrains.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets_builders.steps import StepLog
from harness.core.errors import ConfigError, InputError
from harness.core.fingerprint import fingerprint
from harness.core.records import Document, InstructionRecord, Message, content_id
from harness.core.runs import StageOutcome

log = logging.getLogger(__name__)

SUBSTAGE_VERSION = 1
# train_fn(directory, *, base_model, records, upstream) -> StageOutcome; the model is in directory/"model"
TrainFn = Callable[..., StageOutcome]


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """Everything a builder may use, resolved from the experiment; the step log, the trained
    sub-stage models and the open generators are the only state that changes while it builds."""

    name: str
    builder: str
    options: Any  # the builder's Options dataclass
    workdir: Path
    seed_records: Sequence[InstructionRecord]
    corpus_config: Any  # harness.experiment.Corpus
    decoding: Any  # harness.experiment.DataDecoding: data-generation max_tokens and seed
    seed: int
    backend: str
    base_spec: str
    base_identity: Mapping[str, Any]
    cache_path: Path | None
    shared_dir: Path
    train_fn: TrainFn | None
    recipe_identity: Mapping[str, Any]
    seed_tag: str
    web_tag: str
    num_shards: int = 1
    shard_index: int = 0
    count_tokens: Callable[[str], int] | None = None
    cache_fallback: Path | None = (
        None  # read on a miss: a shard writes cache_path, its own, and reads the experiment's
    )
    engine: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    prompts: Mapping[str, str] = dataclasses.field(
        default_factory=dict
    )  # template replacements: name -> path
    inputs: Mapping[str, Path] = dataclasses.field(
        default_factory=dict
    )  # datasets this one reads: name -> dataset.jsonl
    log: StepLog = dataclasses.field(init=False)
    trained: dict[str, dict[str, Any]] = dataclasses.field(
        default_factory=dict, init=False
    )  # purpose -> info
    _generators: dict[str, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "log", StepLog(Path(self.workdir) / "drops.jsonl.partial"))

    @classmethod
    def from_experiment(  # noqa: PLR0913 - keyword-only: what only the stage knows
        cls,
        exp: Any,
        name: str,
        *,
        options: Any,
        workdir: Path,
        base_spec: str,
        base_identity: Mapping[str, Any],
        seed_records: Sequence[InstructionRecord],
        cache_path: Path | None,
        shared_dir: Path,
        train_fn: TrainFn | None,
        recipe_identity: Mapping[str, Any],
        **placement: Any,
    ) -> BuildContext:
        """The context of dataset `name` of experiment `exp` (a `harness.experiment.Experiment`). What
        only the stage knows comes from it: the builder's validated options (`harness.stages.builders`
        parses them: the registry of builders is above this package), where things live (work, cache and shared directories),
        the base model's spec and identity, the trainer and the recipe's identity; `placement` holds
        the shard and the token counter."""
        from harness.backends.tiny_model import engine_options

        spec = exp.datasets[name]
        return cls(
            name=name,
            builder=spec.builder,
            options=options,
            workdir=Path(workdir),
            seed_records=list(seed_records),
            corpus_config=exp.corpus,
            decoding=exp.decoding,
            seed=exp.seed,
            backend=exp.backend,
            base_spec=base_spec,
            base_identity=dict(base_identity),
            cache_path=cache_path,
            shared_dir=Path(shared_dir),
            train_fn=train_fn,
            recipe_identity=dict(recipe_identity),
            seed_tag=exp.train.seed_tag,
            web_tag=exp.train.web_tag,
            engine=engine_options(exp.base_model, exp.engine),
            prompts=dict(exp.prompts),
            **placement,
        )

    # ------------------------------------------------------------ corpus
    def documents(self) -> list[Document]:
        """The cleaned, filtered, deduplicated documents of this shard (a counted step)."""
        from datasets_builders.corpus import iter_documents

        with self.log.step("corpus") as s:
            docs = list(
                iter_documents(
                    self.corpus_config,
                    s,
                    num_shards=self.num_shards,
                    shard_index=self.shard_index,
                    count_tokens=self.count_tokens,
                    origins=self.log.sources,
                )
            )
        if not docs and not s.extra.get("other_shards"):
            reasons = ", ".join(f"{k}={v}" for k, v in s.dropped.most_common(4)) or "no rows at all"
            raise InputError(
                f"the corpus gave no document from {s.seen} rows ({reasons})",
                path=self.corpus_config.source,
                fix="check corpus.source, data_files / url_list and text_field (no rows: wrong file "
                "pattern; malformed_row: wrong text_field; too_short/too_long: the length bounds)",
            )
        return docs

    def input_records(self, name: str) -> list[InstructionRecord]:
        """The records of another dataset of the experiment that this builder depends on."""
        from harness.core.io import read_records

        if name not in self.inputs:
            raise ConfigError(
                f"datasets.{self.name}: dataset {name!r} was not handed to this builder",
                fix="declare it in the builder's depends_on",
            )
        return read_records(self.inputs[name])

    # ------------------------------------------------------------ models
    def model_spec(self, ref: str) -> str:
        """A model reference as a backend spec. `@seed_model` / `@backward` train the experiment's base
        model; `@seed_model:<spec>` / `@backward:<spec>` train another base (the back-and-forth paper
        used Llama-2-70B-based helpers for its 7B runs), with the experiment's recipe."""
        purpose, _, base = ref.partition(":")
        if ref == "@base":
            return self.base_spec
        if purpose == "@seed_model":
            return self.train("seed_model", self.seed_records, base=base or "@base")
        if purpose == "@backward":
            return self.train(
                "backward", backward_pairs(self.seed_records, self.backtranslation_turn), base=base or "@base"
            )
        if ref.startswith("@"):
            raise ConfigError(
                f"datasets.{self.name}.options: unknown model reference {ref!r}",
                fix="use @base, @seed_model, @backward or a backend spec such as hf:/path",
            )
        return ref

    def generator(self, ref: str) -> Any:
        """A generator for a model reference, wrapped in the request cache. One model is held at a
        time: asking for another closes the previous one (vllm engines do not share memory)."""
        spec = self.model_spec(ref)
        if spec not in self._generators:
            self.close_generators()
            from harness.backends import allowing_logprobs, load_generator

            opts: dict[str, Any] = {"seed": self.seed, **self.engine}  # engine: dtype float32 for tiny models
            if getattr(self.options, "score_mode", "") == "logprobs":  # curation reads the top K
                opts = allowing_logprobs(opts, self.options.logprobs_k)
            self._generators[spec] = load_generator(
                spec, cache=self.cache_path, cache_fallback=self.cache_fallback, **opts
            )
        return self._generators[spec]

    def close_generators(self) -> None:
        for g in self._generators.values():
            g.close()
        self._generators.clear()

    def train(self, purpose: str, records: Sequence[InstructionRecord], base: str = "@base") -> str:
        """Train `base` on `records` as a cached shared sub-stage; returns the model's backend spec."""
        if self.train_fn is None:
            raise ConfigError(
                f"dataset {self.name} needs a trained model ({purpose}) but no trainer was given"
            )
        base_spec = self.model_spec(base)
        base_id = self.base_identity if base == "@base" else {"spec": base_spec}
        data_id = content_id(*(r.id for r in records), length=20)
        fp = fingerprint(
            "build-substage",
            version=SUBSTAGE_VERSION,
            config={"purpose": purpose, "base": base_id, "recipe": self.recipe_identity},
            extra=[data_id, len(records)],
        )
        directory = self.shared_dir / f"{purpose}-{fp[:12]}"
        from harness.backends.spec import parse_spec

        self.close_generators()  # free the inference model's memory before training
        outcome = self.train_fn(
            directory,
            base_model=parse_spec(base_spec).model,
            records=list(records),
            upstream={"build-substage": fp, "data": data_id},
        )
        self.trained[purpose if base == "@base" else f"{purpose}:{base_spec}"] = {
            "directory": str(directory),
            "fingerprint": outcome.fingerprint,
            "skipped": outcome.skipped,
            "records": len(records),
        }
        log.info("%s model: %s (%s)", purpose, directory, "cached" if outcome.skipped else "trained")
        return f"{self.backend}:{directory / 'model'}"

    # ------------------------------------------------------------ helpers for builders
    def prompt(self, name: str) -> str:
        """Template `name`: the experiment's replacement file when it names one, else the shipped one."""
        from datasets_builders.prompts import resolve

        return resolve([name], self.prompts)[name]

    def render(self, name: str, **values: str) -> str:
        return self.prompt(name).format(**values)

    def backtranslation_turn(self, response: str) -> str:
        """What the backward model reads for `response`, in training and at use alike: the text itself
        (`backtranslation_input: raw`), or the text inside the backtranslation prompt (`prompt`)."""
        if getattr(self.options, "backtranslation_input", "raw") == "prompt":
            return self.render("backtranslation", response=response)
        return response

    def sampling_seed(self, *parts: Any) -> int:
        """A per-request seed from the experiment seed and the request's content: stable across runs,
        shards and builders (the same document gets the same instruction everywhere)."""
        base = self.decoding.seed if self.decoding.seed is not None else self.seed
        return int(content_id("sampling", base, *parts)[:8], 16)


def backward_pairs(
    seed: Sequence[InstructionRecord], turn: Callable[[str], str] = str
) -> list[InstructionRecord]:
    """(response -> instruction) pairs: the backward model M_yx reads an output (as `turn` renders it:
    the text itself, or inside the backtranslation prompt), writes its instruction."""
    return [
        InstructionRecord(
            (Message("user", turn(r.response)), Message("assistant", r.instruction)),
            "seed-backward",
            {"origin": "seed", "seed_id": r.id},
        )
        for r in seed
    ]
