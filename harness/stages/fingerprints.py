"""How each stage's fingerprint is derived.

Every fingerprint is computed from the experiment (config, prompt hashes, stage versions, upstream
fingerprints) and, for train and eval, the hashes the upstream stage's manifest recorded for the
outputs it consumes (the built dataset.jsonl; the trained model's files), so `harness run --dry-run`
can tell cache hits from misses before anything runs, a change to one dataset's settings changes
only that dataset's chain (build -> train -> eval), and an upstream rerun that changes its output
(forced, nondeterministic) reruns what reads it. An upstream output not built yet (or damaged) is
`UNBUILT` in the fingerprint: the plan shows the downstream stage as to run. Called without a runs
directory (`CONFIG_ONLY`), a fingerprint uses `UNBUILT` and reads nothing from disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.core.config import to_dict
from harness.core.fingerprint import canonical_json, fingerprint, text_hash
from harness.core.runs import hash_once, recorded_hashes
from harness.experiment import Experiment, is_local_source
from harness.stages.base import base_identity
from harness.stages.builders import MODEL_OPTIONS, builder_fingerprint_parts, dependencies, parse_options
from harness.stages.paths import build_dir, train_dir
from harness.stages.rows import Row

BUILD_VERSION = 2  # 2: dataset.jsonl in id order; shards partition the filtered corpus
EVAL_VERSION = 1

HASH_LIMIT = 256 * 2**20  # bigger local inputs are identified by size and mtime instead of content


def source_identity(source: str) -> dict[str, Any] | str:
    """A local file's content hash (so editing the file reruns what read it); other sources as named."""
    if source == "hub":  # the eval set's hub repository, at the revision the harness pins
        from harness.evaluation.eval_set import HUB_REVISION, HUB_SOURCE

        return HUB_SOURCE + (f"@{HUB_REVISION}" if HUB_REVISION else "")
    p = Path(source)
    if is_local_source(source) and p.is_dir():  # a local copy of a hub repository: the commit it records
        from harness.core.sources import recorded_commit

        commit = recorded_commit(p)
        return {"directory": source, "commit": commit} if commit else source
    if not is_local_source(source) or not p.is_file():
        return source
    st = p.stat()
    if st.st_size <= HASH_LIMIT:
        return {"file": p.name, "sha256": hash_once(str(p.resolve()), st.st_size, st.st_mtime_ns)}
    return {"file": p.name, "bytes": st.st_size, "mtime": int(st.st_mtime)}


def build_fingerprint(exp: Experiment, name: str) -> str:
    spec = exp.datasets[name]
    parts = builder_fingerprint_parts(
        spec.builder, spec.options, exp.prompts
    )  # version, validated options, prompt hashes
    config = {
        "builder": spec.builder,
        "parts": parts,
        "base": base_identity(exp),
        "backend": exp.backend,
        "seed": exp.seed,
        "seed_data": {**to_dict(exp.seed_data), "source": source_identity(exp.seed_data.source)},
        "corpus": (
            {**to_dict(exp.corpus), "source": source_identity(exp.corpus.source)}
            if spec.builder != "baseline"
            else None
        ),
        "decoding": to_dict(exp.decoding) if spec.builder != "baseline" else None,
    }
    if exp.helpers != type(exp.helpers)():  # the helpers' own length (unset: the recipe's, as before)
        config["helpers"] = to_dict(exp.helpers)
    if models := local_model_identities(spec):  # only when a builder names a local model directory
        config["models"] = models
    deps = dataset_inputs(exp, name)
    if deps:  # a dataset made from another one (fixed_responder): that build's fingerprint is upstream
        config["inputs"] = {d: build_fingerprint(exp, d) for d in deps}
    return fingerprint("build", version=BUILD_VERSION, config=config)


def local_model_identities(spec: Any) -> dict[str, Any]:
    """The weights of each local model directory a dataset's builder options name (a fixed responder, a
    teacher, a rewriter, a judge, a helper's base after `@seed_model:`), by option: new weights at the
    same path rebuild the dataset. Hub ids and @-references are named by the options themselves (and
    the base model's identity), so they add nothing, and no shipped experiment's fingerprint moves."""
    from harness.backends.spec import is_local, model_identity, parse_spec

    opts = parse_options(spec.builder, spec.options)
    out: dict[str, Any] = {}
    for key in MODEL_OPTIONS:
        value = getattr(opts, key, None)
        if not isinstance(value, str):
            continue
        model = value.partition(":")[2] if value.startswith("@") else value
        if not model or model.startswith(("@", "tiny:")):
            continue
        parsed = parse_spec(model)
        if parsed.backend != "openai" and is_local(parsed.model):
            out[key] = model_identity(parsed)
    return out


UNBUILT = "to-be-built"  # an upstream output with no intact finished stage behind it yet
CONFIG_ONLY: Any = type(
    "ConfigOnly", (), {"__repr__": lambda self: "CONFIG_ONLY"}
)()  # a fingerprint that reads no disk


def dataset_hash(exp: Experiment, name: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """The sha256 the finished, intact build of `name` recorded for its dataset.jsonl, else UNBUILT."""
    if runs_dir is CONFIG_ONLY:
        return UNBUILT
    hashes = recorded_hashes(
        build_dir(exp, name, runs_dir), build_stage_fingerprint(exp, name, runs_dir), "dataset.jsonl"
    )
    return (hashes or {}).get("dataset.jsonl", UNBUILT)


def build_stage_fingerprint(exp: Experiment, name: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """The build stage's fingerprint: `build_fingerprint`, and for a dataset made from other datasets
    (a fixed responder's) the hash each of those builds recorded for its dataset.jsonl, so a rebuilt
    input with other records rebuilds it. The same as `build_fingerprint` for every other dataset."""
    fp = build_fingerprint(exp, name)
    deps = dataset_inputs(exp, name)
    if not deps:
        return fp
    return fingerprint(
        "build",
        version=BUILD_VERSION,
        config={"datasets_read": {d: dataset_hash(exp, d, runs_dir) for d in deps}},
        upstream={"build": fp},
    )


NOT_THE_MODEL = ("training_args.bin",)


def model_hash(exp: Experiment, row: Row, train_fp: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """One hash over the files (weights, config, tokenizer) the finished, intact training of `row`
    recorded for the model it evaluates (`model/` or `steps/<k>/`), else UNBUILT; the trainer's
    `training_args.bin`, which holds its output path, is not part of it."""
    if runs_dir is CONFIG_ONLY:
        return UNBUILT
    prefix = "model/" if row.step is None else f"steps/{row.step}/"
    hashes = recorded_hashes(train_dir(exp, row.training.key, runs_dir), train_fp, prefix)
    # the trainer's pickled arguments name the output directory: the same model trained under another
    # runs root would otherwise be evaluated as a different one
    hashes = {k: v for k, v in (hashes or {}).items() if not k.endswith(NOT_THE_MODEL)}
    return text_hash(canonical_json(hashes), length=20) if hashes else UNBUILT


TRAIN_KEYS_NOT_LEARNED = ("recipe", "n", "checkpoints", "select_checkpoint")


def dataset_inputs(exp: Experiment, name: str) -> list[str]:
    spec = exp.datasets[name]
    return dependencies(spec.builder, spec.options)


def train_fingerprint(exp: Experiment, key: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """The trainer's one rule (`harness.training.sft.train_fingerprint`) on the experiment's config:
    the recipe and base model, the build's fingerprint, and how the training set is assembled (the
    row's assembly and N, seed mixing, tags, and the builds of the datasets it shares its
    instructions with), and the hash recorded for the built dataset.jsonl it reads (`dataset_hash`).
    Listed checkpoints enter it when there are any (the stage saves them)."""
    from harness.stages.rows import instruction_group, training
    from harness.training.data import ASSEMBLY_VERSION
    from harness.training.sft import train_fingerprint as trained_model_fingerprint

    t = training(exp, key)
    data = {
        k: v for k, v in to_dict(exp.train).items() if k not in TRAIN_KEYS_NOT_LEARNED
    }  # seed mixing, tags
    data |= {"n": t.n, "assembly": t.assembly, "version": ASSEMBLY_VERSION}
    group = instruction_group(exp, t.dataset)
    if len(group) > 1:
        data["same_instructions_as"] = {n: build_fingerprint(exp, n) for n in group if n != t.dataset}
    if t.steps:
        data["checkpoints"] = list(t.steps)
    return trained_model_fingerprint(
        row_recipe(exp, t.dataset),
        base=base_identity(exp),
        data=data,
        upstream={
            "build": build_fingerprint(exp, t.dataset),
            "dataset": dataset_hash(exp, t.dataset, runs_dir),
        },
    )


def row_recipe(exp: Experiment, name: str) -> Any:
    """The recipe dataset `name` trains with: the experiment's, with the row's own seed if it sets one."""
    import dataclasses

    seed = exp.datasets[name].train_seed
    return exp.train.recipe if seed is None else dataclasses.replace(exp.train.recipe, seed=seed)


def eval_fingerprint_of(settings: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    """The one rule for the fingerprint of an eval's generation and judging: its settings (judge,
    protocol, eval set, decoding, subset) and what identifies the model (the train stage's
    fingerprint, or one model's identity). The stage's fingerprint adds the LC settings to it
    (`eval_stage_fingerprint`)."""
    return fingerprint("eval", version=EVAL_VERSION, config=dict(settings), upstream=dict(upstream))


LC_KEYS = ("lc", "lc_data")  # how the metrics are computed from the judgments, not what is judged


def lc_identity(mode: str, lc_data: str | os.PathLike[str] | None) -> dict[str, Any]:
    """What decides the length-controlled figures: the mode, alpaca_eval's GLMs, the official data's content."""
    from harness.evaluation.metrics import LC_GLMS, gamed_file

    if mode == "off":
        return {"lc": "off"}
    data = None
    if lc_data is not None:
        p = gamed_file(lc_data)
        st = p.stat()
        data = hash_once(str(p.resolve()), st.st_size, st.st_mtime_ns)
    return {"lc": mode, "glms": dict(LC_GLMS), "df_gamed_sha256": data}


def eval_stage_fingerprint(judged: str, lc: str, lc_data: str | os.PathLike[str] | None) -> str:
    """An eval stage's fingerprint: its generation and judging (`judged`) and the LC settings, so that
    new LC settings rescore finished judgments without redoing them."""
    return fingerprint(
        "eval", version=EVAL_VERSION, config={"lc": lc_identity(lc, lc_data)}, upstream={"judged": judged}
    )


EVAL_KEYS_PER_ROW = ("tags", "tag_variants")  # the row's own tags enter as its system prompt


def eval_judged_fingerprint(exp: Experiment, key: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """What an experiment row's generation and judging depend on: the eval settings (not LC's), the
    system prompt it puts before each instruction, the checkpoint step, and the training's
    fingerprint with the hash of the model files it recorded (`model_hash`). `key`: the row's eval key."""
    from harness.experiment import eval_system_prompt
    from harness.stages.rows import row as find_row

    r = find_row(exp, key)
    ev = {k: v for k, v in to_dict(exp.eval).items() if k not in LC_KEYS + EVAL_KEYS_PER_ROW}
    ev |= {
        "eval_set": source_identity(exp.eval.eval_set),
        "system_prompt": eval_system_prompt(exp.train, r.eval_tags),
    }
    if (
        ev.get("tag_placement") == "system"
    ):  # added later: out at its default, so evals from before keep theirs
        del ev["tag_placement"]
    if r.step is not None:
        ev["step"] = r.step
    train_fp = train_fingerprint(exp, r.training.key, runs_dir)
    return eval_fingerprint_of(
        {"eval": ev, "backend": exp.backend, "base": base_identity(exp)},
        {"train": train_fp, "model": model_hash(exp, r, train_fp, runs_dir)},
    )


def eval_fingerprint(exp: Experiment, key: str, runs_dir: Any = CONFIG_ONLY) -> str:
    """The eval stage's fingerprint for a row of an experiment: its judged fingerprint and the LC settings."""
    return eval_stage_fingerprint(eval_judged_fingerprint(exp, key, runs_dir), exp.eval.lc, exp.eval.lc_data)
