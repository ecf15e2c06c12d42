"""The base model stage: for `base_model: tiny:<size>` make the tiny random Llama once, else nothing.

Every other stage calls `ensure_base_model` first and gets the base model as a backend spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.core.runs import StageOutcome, StageResult, run_stage
from harness.experiment import Experiment
from harness.stages import paths

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task


BASE_VERSION = 1


def base_model_spec(exp: Experiment, runs_dir=None) -> str:
    """The base model as a backend spec (`tiny:<size>` resolves to the made model's directory)."""
    if exp.base_model.startswith("tiny:"):
        return f"{exp.backend}:{paths.base_model_dir(exp, runs_dir)}"
    return exp.base_model


def base_identity(exp: Experiment) -> dict[str, Any]:
    if exp.base_model.startswith("tiny:"):
        return {"tiny": exp.base_model.split(":", 1)[1], "seed": exp.seed, "version": BASE_VERSION}
    return {"spec": exp.base_model}


def seed_records(exp: Experiment) -> list:
    """The experiment's seed set (`seed_data`), as the build and train stages read it."""
    from datasets_builders.seed import load_seed

    return load_seed(exp.seed_data)


def base_fingerprint(exp: Experiment) -> str:
    from harness.core.fingerprint import fingerprint

    return fingerprint("base-model", version=BASE_VERSION, config=base_identity(exp))


_MADE: set[tuple[str, str]] = set()  # (directory, fingerprint) made or found in this process
OUTPUTS = ["model.safetensors", "config.json", "tokenizer.json"]


def make_base_model(exp: Experiment, runs_dir=None, *, force: bool = False) -> StageOutcome:
    """The base-model stage: the tiny random Llama of `base_model: tiny:<size>`, cached."""
    size = exp.base_model.split(":", 1)[1]

    def body(d):
        from harness.backends.tiny_model import make_tiny_model

        make_tiny_model(d, size=size, seed=exp.seed)
        return StageResult(outputs=list(OUTPUTS), stats={"size": size})

    directory = paths.base_model_dir(exp, runs_dir)
    outcome = run_stage(
        directory,
        stage="base-model",
        fingerprint=base_fingerprint(exp),
        body=body,
        config={"base_model": exp.base_model},
        force=force,
    )
    _MADE.add((str(directory.resolve()), base_fingerprint(exp)))
    return outcome


def ensure_base_model(exp: Experiment, runs_dir=None, *, force: bool = False) -> str:
    """Make the tiny base model if the experiment asks for one; return the base model's spec.

    Every stage calls it; within one process the check is done once."""
    directory = paths.base_model_dir(exp, runs_dir)
    key = (str(directory.resolve()), base_fingerprint(exp))
    known = key in _MADE and (directory / "config.json").is_file()
    if exp.base_model.startswith("tiny:") and (force or not known):
        make_base_model(exp, runs_dir, force=force)
    return base_model_spec(exp, runs_dir)


def resolve_model_ref(exp: Experiment, ref: str, runs_dir=None, *, key: str) -> str:
    """A stage's own model (a judge's, a tagger's) as a backend spec: `@base` is the base model (made
    first when tiny); other references are refused when the experiment loads, and here again."""
    if ref == "@base":
        return ensure_base_model(exp, runs_dir)
    if ref.startswith("@"):
        from harness.core.errors import ConfigError

        raise ConfigError(
            f"'{key}' uses {ref}, which the stage cannot resolve", fix="use @base or a backend spec"
        )
    return ref


# the stage graph (harness.stages.graph)
def tasks(run: Run) -> list[Task]:
    if not run.exp.base_model.startswith("tiny:"):
        return []
    from harness.core.runs import is_done
    from harness.stages.graph import Task

    d, fp = paths.base_model_dir(run.exp, run.runs_dir), base_fingerprint(run.exp)
    return [Task("base-model", None, d, fp, is_done(d, fp), writes=tuple(OUTPUTS))]


def execute(run: Run, task: Task, *, force: bool = False, progress=None) -> StageOutcome:
    outcome = make_base_model(run.exp, run.runs_dir, force=force)
    run.forget("base_spec")
    return outcome


def needs(run: Run) -> tuple[str, ...]:
    """What a task that loads the base model needs: the base-model task, when there is one."""
    return ("base-model",) if run.exp.base_model.startswith("tiny:") else ()


def summary(outcome: StageOutcome) -> str:
    return f"tiny random Llama ({outcome.manifest.stats.get('size')})"
