"""Where each stage of an experiment writes, and how its fingerprint is derived from the config.

Every fingerprint is computed from the experiment alone (config, prompt hashes, stage versions,
upstream fingerprints), never from outputs, so `harness run --dry-run` can tell cache hits from
misses before anything runs, and a change to one dataset's settings changes only that dataset's
chain: build -> train -> eval.

Layout under the runs root:

    <exp>/base-model/                 the tiny base model, when base_model is tiny:<size>
    <exp>/cache/requests.sqlite       the request cache shared by every generation of the experiment
    <exp>/build/<dataset>/            dataset.jsonl, drops.jsonl, manifest.json
    <exp>/build/_shared/<what>-<fp>/  sub-stages several builders share (backward model, seed model)
    <exp>/train/<dataset>/            model/, checkpoints/, manifest.json
    <exp>/eval/<dataset>/             model_outputs.json, annotations.json, metrics.json, manifest.json
    <exp>/analysis/                   analysis.json, plots, manifest.json
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.core.config import to_dict
from harness.core.fingerprint import fingerprint
from harness.core.runs import request_cache_path, runs_root
from harness.experiment import Experiment, is_local_source

BUILD_VERSION = 1
EVAL_VERSION = 1
BASE_VERSION = 1


def exp_dir(exp: Experiment, runs_dir: str | os.PathLike[str] | None = None) -> Path:
    return runs_root(runs_dir) / exp.name


def base_model_dir(exp: Experiment, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "base-model"


def request_cache(exp: Experiment, runs_dir=None) -> Path:
    return request_cache_path(exp_dir(exp, runs_dir))


def build_dir(exp: Experiment, name: str, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "build" / name


def shared_dir(exp: Experiment, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "build" / "_shared"


def train_dir(exp: Experiment, name: str, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "train" / name


def trained_model_dir(exp: Experiment, name: str, runs_dir=None) -> Path:
    return train_dir(exp, name, runs_dir) / "model"


def eval_dir(exp: Experiment, name: str, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "eval" / name


def analysis_dir(exp: Experiment, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "analysis"


def results_dir(exp: Experiment, root: str | os.PathLike[str] = "results") -> Path:
    return Path(root) / exp.name


# ---------------------------------------------------------------- model references
def base_model_spec(exp: Experiment, runs_dir=None) -> str:
    """The base model as a backend spec (`tiny:<size>` resolves to the made model's directory)."""
    if exp.base_model.startswith("tiny:"):
        return f"{exp.backend}:{base_model_dir(exp, runs_dir)}"
    return exp.base_model


def base_identity(exp: Experiment) -> dict[str, Any]:
    if exp.base_model.startswith("tiny:"):
        return {"tiny": exp.base_model.split(":", 1)[1], "seed": exp.seed, "version": BASE_VERSION}
    return {"spec": exp.base_model}


# ---------------------------------------------------------------- fingerprints
HASH_LIMIT = 256 * 2**20  # bigger local inputs are identified by size and mtime instead of content


def source_identity(source: str) -> dict[str, Any] | str:
    """A local file's content hash (so editing the file reruns what read it); other sources as named."""
    p = Path(source)
    if not is_local_source(source) or not p.is_file():
        return source
    st = p.stat()
    if st.st_size <= HASH_LIMIT:
        return {"file": p.name, "sha256": _sha256_once(str(p.resolve()), st.st_size, st.st_mtime_ns)}
    return {"file": p.name, "bytes": st.st_size, "mtime": int(st.st_mtime)}


@functools.lru_cache(maxsize=256)
def _sha256_once(path: str, size: int, mtime_ns: int) -> str:
    """A local input's hash, once per process while the file is unchanged (every fingerprint of
    every dataset names the seed set and the corpus)."""
    from harness.core.io import file_sha256

    return file_sha256(path)


def build_fingerprint(exp: Experiment, name: str) -> str:
    from datasets_builders import builder_fingerprint_parts

    spec = exp.datasets[name]
    parts = builder_fingerprint_parts(spec.builder, spec.options)  # version, validated options, prompt hashes
    config = {
        "builder": spec.builder,
        "parts": parts,
        "base": base_identity(exp),
        "backend": exp.backend,
        "seed": exp.seed,
        "seed_data": {**to_dict(exp.seed_data), "source": source_identity(exp.seed_data.source)},
        "corpus": ({**to_dict(exp.corpus), "source": source_identity(exp.corpus.source)}
                   if spec.builder != "baseline" else None),
        "decoding": to_dict(exp.decoding) if spec.builder != "baseline" else None,
    }
    return fingerprint("build", version=BUILD_VERSION, config=config)


def train_fingerprint(exp: Experiment, name: str) -> str:
    """The trainer's one rule (`harness.training.sft.train_fingerprint`) on the experiment's config:
    the recipe and base model, the build's fingerprint, and how the training set is assembled."""
    from harness.training.sft import train_fingerprint as trained_model_fingerprint

    assembly = {k: v for k, v in to_dict(exp.train).items() if k != "recipe"}  # n, seed mixing, tags
    return trained_model_fingerprint(row_recipe(exp, name), base=base_identity(exp), data=assembly,
                                     upstream={"build": build_fingerprint(exp, name)})


def row_recipe(exp: Experiment, name: str) -> Any:
    """The recipe dataset `name` trains with: the experiment's, with the row's own seed if it sets one."""
    import dataclasses

    seed = exp.datasets[name].train_seed
    return exp.train.recipe if seed is None else dataclasses.replace(exp.train.recipe, seed=seed)


def eval_fingerprint_of(settings: Mapping[str, Any], upstream: Mapping[str, Any]) -> str:
    """The one rule for an eval's fingerprint: its settings (judge, protocol, eval set, decoding,
    subset) and what identifies the model (the train stage's fingerprint, or one model's identity)."""
    return fingerprint("eval", version=EVAL_VERSION, config=dict(settings), upstream=dict(upstream))


def eval_fingerprint(exp: Experiment, name: str) -> str:
    ev = {**to_dict(exp.eval), "eval_set": source_identity(exp.eval.eval_set)}
    return eval_fingerprint_of({"eval": ev, "backend": exp.backend, "base": base_identity(exp)},
                               {"train": train_fingerprint(exp, name)})
