"""The base model stage: for `base_model: tiny:<size>` make the tiny random Llama once, else nothing.

Every other stage calls `ensure_base_model` first and gets the base model as a backend spec.
"""

from __future__ import annotations

from harness.core.runs import StageResult, run_stage
from harness.experiment import Experiment
from harness.stages import paths


def seed_records(exp: Experiment) -> list:
    """The experiment's seed set (`seed_data`), as the build and train stages read it."""
    from datasets_builders.seed import load_seed

    return load_seed(exp.seed_data)


def base_fingerprint(exp: Experiment) -> str:
    from harness.core.fingerprint import fingerprint

    return fingerprint("base-model", version=paths.BASE_VERSION, config=paths.base_identity(exp))


_MADE: set[tuple[str, str]] = set()  # (directory, fingerprint) made or found in this process


def ensure_base_model(exp: Experiment, runs_dir=None, *, force: bool = False) -> str:
    """Make the tiny base model if the experiment asks for one; return the base model's spec.

    Every stage calls it; within one process the check is done once."""
    directory = paths.base_model_dir(exp, runs_dir)
    key = (str(directory.resolve()), base_fingerprint(exp))
    known = key in _MADE and (directory / "config.json").is_file()
    if exp.base_model.startswith("tiny:") and (force or not known):
        size = exp.base_model.split(":", 1)[1]

        def body(d):
            from harness.backends.tiny_model import make_tiny_model

            make_tiny_model(d, size=size, seed=exp.seed)
            return StageResult(outputs=["model.safetensors", "config.json", "tokenizer.json"], stats={"size": size})

        run_stage(directory, stage="base-model", fingerprint=base_fingerprint(exp), body=body, config={"base_model": exp.base_model},
                  force=force)
        _MADE.add(key)
    return paths.base_model_spec(exp, runs_dir)
