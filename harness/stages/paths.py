"""Where each stage of an experiment writes: its directory under the runs root (fingerprints:
`harness.stages.fingerprints`; the base model's spec and identity: `harness.stages.base`).


Layout under the runs root:

    <exp>/runner.lock                 who runs the experiment now (harness.core.lock)
    <exp>/base-model/                 the tiny base model, when base_model is tiny:<size>
    <exp>/cache/requests.sqlite       the request cache shared by every generation of the experiment
    <exp>/build/<dataset>/            dataset.jsonl, drops.jsonl, manifest.json
    <exp>/build/_shared/<what>-<fp>/  sub-stages several builders share (backward model, seed model)
    <exp>/train/<training>/           model/, steps/<k>/ (listed checkpoints), manifest.json
    <exp>/eval/<row>/                 model_outputs.json, annotations.json, metrics.json, manifest.json

A training's key is its dataset's name (`<dataset>@<N>` for a dataset with sizes), a row's eval key
its display name without brackets (`harness.stages.rows`); both are the dataset's name when no
variant is configured.
    <exp>/analysis/                   analysis.json, plots, manifest.json
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.runs import request_cache_path, runs_root
from harness.experiment import Experiment
from harness.stages.rows import Row


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


def train_dir(exp: Experiment, key: str, runs_dir=None) -> Path:
    """`key`: a training's key (`rows.Training.key`)."""
    return exp_dir(exp, runs_dir) / "train" / key


def trained_model_dir(exp: Experiment, key: str, runs_dir=None, step: int | None = None) -> Path:
    """The final model of a training, or the one saved at checkpoint `step`."""
    d = train_dir(exp, key, runs_dir)
    return d / "model" if step is None else d / "steps" / str(step)


def row_model_dir(exp: Experiment, row: Row, runs_dir=None) -> Path:
    return trained_model_dir(exp, row.training.key, runs_dir, row.step)


def eval_dir(exp: Experiment, key: str, runs_dir=None) -> Path:
    """`key`: a row's eval key (`rows.Row.eval_key`)."""
    return exp_dir(exp, runs_dir) / "eval" / key


def analysis_dir(exp: Experiment, runs_dir=None) -> Path:
    return exp_dir(exp, runs_dir) / "analysis"


def results_dir(exp: Experiment, root: str | os.PathLike[str] = "results") -> Path:
    return Path(root) / exp.name
