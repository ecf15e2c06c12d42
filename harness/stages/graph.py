"""The stage graph of an experiment: every stage as a task, with the tasks it needs, its fingerprint,
the directory and files it writes, and `execute()`.

`harness run` executes the graph in order (`execute`), `harness run --dry-run` prints it,
`harness status` reads it, and `harness task --config X ID` executes one task in a process of its
own, given only the experiment and the runs directory (what a cluster executor submits): its needs
must be finished, and it is the same code `harness run` calls.

Each stage kind is one module that provides `tasks(run) -> list[Task]`,
`execute(run, task, *, force, progress) -> StageOutcome | None` and `summary(outcome) -> str` (its
line on the terminal), listed in `KINDS` in execution order. A new stage kind is one such module and
one line here.

Computing the graph touches no model: fingerprints derive from the config and the manifests on
disk. Computing it is also what validates an experiment completely (builder options, baseline
loaders, judges, paths) before any work starts.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.core.runs import StageOutcome
    from harness.stages.context import Run

# (kind, module providing tasks() and execute()) in execution order
KINDS = (
    ("base-model", "harness.stages.base"),
    ("build", "harness.stages.build"),
    ("train", "harness.stages.train"),
    ("eval", "harness.stages.evaluate"),
    ("analysis", "harness.stages.analyze"),
    ("report", "harness.stages.report"),
)
STAGES = tuple(k for k, _ in KINDS)


@dataclasses.dataclass(frozen=True)
class Task:
    stage: str  # the kind: base-model, build, train, eval, analysis, report
    dataset: str | None  # the dataset, training key or row eval key; None for one-per-experiment stages
    directory: Path
    fingerprint: str  # as the plan predicts it; train and eval recompute it when they run
    cached: bool  # a finished, intact manifest with this fingerprint is there now
    needs: tuple[str, ...] = ()  # ids of the tasks that must finish first
    writes: tuple[str, ...] = ()  # the files it writes into `directory` (the manifest besides)
    part: str | None = None  # a shard of a build: "shard-<i>-of-<K>"
    item: Any = dataclasses.field(default=None, compare=False)  # what it executes: a Training, a Row, a shard

    @property
    def label(self) -> str:
        name = f"{self.stage}/{self.dataset}" if self.dataset else self.stage
        return f"{name}/{self.part}" if self.part else name

    id = label

    def execute(
        self, run: Run, *, force: bool = False, progress: Callable[[str, int, int], None] | None = None
    ) -> StageOutcome | None:
        return module(self.stage).execute(run, self, force=force, progress=progress)


def module(kind: str) -> Any:
    for k, name in KINDS:
        if k == kind:
            return importlib.import_module(name)
    raise KeyError(kind)


def graph(run: Run, *, report: bool = True) -> list[Task]:
    """Every task of the run's selected datasets, in an order where each comes after its needs."""
    out: list[Task] = []
    for kind, _ in KINDS:
        if kind == "report" and not report:
            continue
        out += module(kind).tasks(run)
    known = {t.id for t in out}
    for t in out:  # a task whose need is not in the graph would wait forever on a cluster
        missing = [n for n in t.needs if n not in known]
        assert not missing, f"{t.id} needs {missing}, which the graph does not have"
    return out


def find(tasks: Sequence[Task], task_id: str) -> Task:
    from harness.core.config import did_you_mean
    from harness.core.errors import ConfigError

    for t in tasks:
        if t.id == task_id:
            return t
    raise ConfigError(
        f"no task '{task_id}' in this experiment's graph",
        fix=did_you_mean(task_id, [t.id for t in tasks], otherwise="harness run --dry-run lists them"),
    )


def unfinished_needs(run: Run, task: Task) -> list[str]:
    """The needs of `task` without a finished, intact manifest with their current fingerprint."""
    by_id = {t.id: t for t in graph(run)}
    return [n for n in task.needs if not by_id[n].cached]


@dataclasses.dataclass
class Listener:
    """What hears the tasks as they execute (the terminal's stage lines); every hook is optional."""

    start: Callable[[Task], None] = lambda task: None
    done: Callable[[Task, Any], None] = lambda task, outcome: None
    failed: Callable[[Task, BaseException], None] = lambda task, error: None
    progress: Callable[[Task], Callable[[str, int, int], None] | None] = lambda task: None


def execute(
    run: Run, tasks: Sequence[Task], *, force: Sequence[str] = (), listener: Listener | None = None
) -> list[tuple[Task, Any]]:
    """Execute `tasks` in order in this process; `force`: the stage kinds to rerun even when cached.
    Returns each task with its outcome."""
    listener = listener or Listener()
    out = []
    for task in tasks:
        listener.start(task)
        try:
            outcome = task.execute(run, force=task.stage in force, progress=listener.progress(task))
        except BaseException as e:
            listener.failed(task, e)
            raise
        listener.done(task, outcome)
        out.append((task, outcome))
    return out
