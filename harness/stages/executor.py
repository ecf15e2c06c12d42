"""The stage graph on SLURM: one job per task, submitted all at once through submitit
(`harness.core.slurm`), each with `--dependency=afterok` on the jobs of the tasks it needs.

A job runs `harness task --config ... <task id> <overrides>` (the same code `harness run` runs in one
process); a build's K shards are one array job, and the merge waits for the whole array. Tasks
already finished (their manifests) are not submitted, and neither is a task whose job from an
earlier submission is still pending or running (its dependants wait for that job). Every
submission is recorded in `<exp>/slurm/jobs.json` (task -> job id, fingerprint, time), beside the
submitit folder with the jobs' logs, so `harness status` shows each job's SLURM state beside its
stage and names the log of a job that failed, was cancelled, timed out or was preempted.

Each job asks for the GPUs its stage's capacity plan names when the experiment declares its
hardware (`hardware.gpus_per_node`), else `slurm.gpus_per_node`; a training with
`train.recipe.num_machines` M > 1 gets M nodes and starts its own `srun` (one `accelerate launch`
per node, `harness.training.launch`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.io import write_json

if TYPE_CHECKING:
    from harness.stages.context import Run
    from harness.stages.graph import Task

JOBS_FILE = "jobs.json"


def slurm_dir(run: Run) -> Path:
    return run.exp_dir / "slurm"


def read_jobs(run: Run) -> dict[str, dict[str, Any]]:
    """The recorded submissions: task id -> {job_id, fingerprint, submitted_at, command}."""
    p = slurm_dir(run) / JOBS_FILE
    if not p.is_file():
        return {}
    try:
        return dict(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


@dataclasses.dataclass(frozen=True)
class Submitted:
    task: str
    job_id: str
    reused: bool = False  # a pending or running job of an earlier submission


def task_command(config: str, overrides: Sequence[str], run: Run, task: Task, *, force: bool) -> list[str]:
    """The argv of the job that executes `task`: `python -m harness.cli task ...` with the run's settings."""
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "task",
        "--config",
        config,
        task.id,
        *overrides,
        "--runs-dir",
        str(Path(run.runs_dir or os.environ.get("HARNESS_RUNS_DIR") or "runs").resolve()),
        "--results-dir",
        str(Path(run.results_dir).resolve()),
        "--num-shards",
        str(run.num_shards),
    ]
    for name in run.only or ():
        cmd += ["--only", name]
    return cmd + (["--force"] if force else [])


def resources(run: Run, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """Per task id: nodes, GPUs per node and whether the job starts its own srun steps."""
    from harness.stages import capacity

    declared = run.exp.hardware.gpus_per_node is not None
    plans = {p.label: p for p in capacity.stage_plans(run.exp, [t for t in tasks if t.stage != "report"])}
    out = {}
    for t in tasks:
        gpus = run.exp.slurm.gpus_per_node
        plan = plans.get(t.label) or plans.get(f"{t.stage}/{t.dataset}")
        if declared and plan is not None and plan.loads:
            gpus = max(load.gpus for load in plan.loads)
        nodes = 1
        if t.stage == "train":
            nodes = run.exp.train.recipe.num_machines
            if declared and nodes > 1:
                gpus = run.exp.train.recipe.num_processes // nodes
        out[t.id] = {"nodes": nodes, "gpus_per_node": gpus or None, "in_batch_script": nodes > 1}
    return out


def submit(
    run: Run, tasks: Sequence[Task], *, config: str, overrides: Sequence[str], force: Sequence[str] = ()
) -> list[Submitted]:
    """Submit every task that is to run, in graph order, each after the jobs of its needs."""
    from harness.core import slurm

    folder = slurm_dir(run) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    recorded = read_jobs(run)
    live = slurm.query([r["job_id"] for r in recorded.values()]) if recorded else {}
    res = resources(run, tasks)
    job_of: dict[str, str] = {}
    out: list[Submitted] = []
    pending_shards: dict[str, list[Task]] = {}

    def to_run(t: Task) -> bool:
        return not t.cached or t.stage in force or any(n in job_of for n in t.needs)

    def still_queued(t: Task) -> str | None:
        r = recorded.get(t.id)
        if r is None or r.get("fingerprint") != t.fingerprint or t.stage in force:
            return None
        info = live.get(r["job_id"])
        return r["job_id"] if info is not None and info.status in ("pending", "running") else None

    for t in tasks:
        if (
            t.part is None and t.dataset in pending_shards and t.stage == "build"
        ):  # the merge: its shards first
            shards = pending_shards.pop(t.dataset)
            out += _submit_shards(
                run,
                shards,
                job_of,
                config=config,
                overrides=overrides,
                force=force,
                folder=folder,
                gpus_per_node=res[shards[0].id]["gpus_per_node"],
            )
        if not to_run(t):
            continue
        if (queued := still_queued(t)) is not None:
            job_of[t.id] = queued
            out.append(Submitted(t.id, queued, reused=True))
            continue
        if t.part:  # a shard: submitted with its siblings as one array job, before the merge
            pending_shards.setdefault(t.dataset, []).append(t)
            continue
        # an array task's dependant waits for the whole array (afterok on the array id)
        deps = sorted({job_of[n].split("_")[0] for n in t.needs if n in job_of})
        r = res[t.id]
        job = slurm.submit_command(
            task_command(config, overrides, run, t, force=t.stage in force),
            folder=folder,
            opts=run.exp.slurm,
            name=f"{run.exp.name}:{t.id}",
            dependencies=deps,
            nodes=r["nodes"],
            gpus_per_node=r["gpus_per_node"],
            in_batch_script=r["in_batch_script"],
        )
        job_of[t.id] = str(job.job_id)
        out.append(Submitted(t.id, str(job.job_id)))
    _record(run, tasks, out)
    return out


def _submit_shards(  # noqa: PLR0913
    run: Run,
    shards: list[Task],
    job_of: dict[str, str],
    *,
    config: str,
    overrides: Sequence[str],
    force: Sequence[str],
    folder: Path,
    gpus_per_node: int | None,
) -> list[Submitted]:
    from harness.core import slurm

    needs = {n for s in shards for n in s.needs}
    deps = sorted({job_of[n].split("_")[0] for n in needs if n in job_of})
    cmds = [task_command(config, overrides, run, s, force="build" in force) for s in shards]
    jobs = slurm.submit_command_array(
        cmds,
        folder=folder,
        opts=run.exp.slurm,
        name=f"{run.exp.name}:build/{shards[0].dataset}/shards",
        dependencies=deps,
        gpus_per_node=gpus_per_node,
    )
    out = []
    for s, job in zip(shards, jobs, strict=True):
        job_of[s.id] = str(job.job_id)
        out.append(Submitted(s.id, str(job.job_id)))
    return out


def _record(run: Run, tasks: Sequence[Task], submitted: Sequence[Submitted]) -> None:
    jobs = read_jobs(run)
    fp = {t.id: t.fingerprint for t in tasks}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for s in submitted:
        if not s.reused:
            jobs[s.task] = {"job_id": s.job_id, "fingerprint": fp[s.task], "submitted_at": now}
    write_json(slurm_dir(run) / JOBS_FILE, jobs)


def submitted_shards(run: Run) -> int | None:
    """The K of the last submission's shard tasks (`shard-<i>-of-<K>`), None without any."""
    ks = [int(t.rsplit("-of-", 1)[1]) for t in read_jobs(run) if "/shard-" in t]
    return max(ks, default=None)


def job_states(run: Run) -> dict[str, Any]:
    """Task id -> `harness.core.slurm.JobInfo` of its last recorded job ({} without submissions)."""
    recorded = read_jobs(run)
    if not recorded:
        return {}
    from harness.core import slurm

    infos = slurm.query([r["job_id"] for r in recorded.values()], folder=slurm_dir(run) / "logs")
    return {task: infos[r["job_id"]] for task, r in recorded.items() if r["job_id"] in infos}


def describe(submitted: Sequence[Submitted]) -> list[str]:
    return [f"{s.task}: job {s.job_id}" + (" (already queued)" if s.reused else "") for s in submitted]
