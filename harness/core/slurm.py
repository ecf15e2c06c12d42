"""SLURM through submitit: the pieces an executor needs to run stage tasks as jobs.

- `SlurmOptions`: the experiment's `slurm:` section (or `slurm.KEY=VALUE` on the command line):
  partition, account, gpus_per_node, cpus_per_task, time, mem and extra `sbatch` arguments.
  Where the job runs, not what it computes: outside every fingerprint.
- `sbatch_parameters` turns them, plus one task's resources (nodes, GPUs, tasks per node) and the
  job ids it waits for, into submitit `SlurmExecutor` parameters: `--dependency=afterok:...`
  with `--kill-on-invalid-dep=yes`, so a job whose parent failed is cancelled at once
  (state CANCELLED, reason DependencyNeverSatisfied) instead of pending forever.
- `submit` (a Python callable), `submit_command` (an argv), `submit_array` and
  `submit_command_array` (K shards as one array job) return submitit jobs; their `.job_id` (and
  `array_id(jobs)` for a whole array) is what dependants name.
- `query` (in `harness.core.slurm_jobs`, re-exported here) reads the jobs' states from `sacct`, or from `scontrol` on clusters without accounting
  (finished jobs stay there for MinJobAge), and `JobInfo.status` maps a SLURM state onto a stage's
  status: ok, pending, running, failed (with the state and the log path) or blocked (a dependency
  failed).
submitit is imported inside the functions that use it, so `import harness` stays light.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import bounded
from harness.core.errors import ConfigError, HarnessError
from harness.core.slurm_jobs import (  # noqa: F401 (the jobs' side, part of this module's interface)
    DEPENDENCY_FAILED,
    FAILED_STATES,
    PENDING_STATES,
    RUNNING_STATES,
    JobInfo,
    cancel,
    log_path,
    query,
    stage_status,
    wait,
)

_MANAGED = {
    "dependency",
    "array",
    "output",
    "error",
    "job-name",
    "kill-on-invalid-dep",
    "nodes",
    "ntasks-per-node",
    "open-mode",
    "signal",
    "wckey",
}
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^\d+(?:\.\d+)?[KMGT]?B?$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """How jobs are submitted (`slurm.*`): where they run and for how long, never what they compute."""

    partition: str | None = None
    account: str | None = None
    gpus_per_node: int | None = bounded(
        None, low=0
    )  # a task's plan (tensor parallel, training processes) wins
    cpus_per_task: int | None = bounded(None, low=1)
    # sbatch --time; unset: the partition's default. Text in sbatch's formats ("90" minutes, "12:00:00",
    # "2-00:00:00"); an unquoted number is seconds, since YAML reads an unquoted 12:00:00 as 43200
    time: int | str | None = None
    mem: str | None = None  # sbatch --mem per node, e.g. 64G
    sbatch_args: tuple[
        str, ...
    ] = ()  # more sbatch options, e.g. ["--qos=high", "--constraint=a100", "--exclusive"]

    def __post_init__(self) -> None:
        if self.time is not None:
            time_minutes(self.time)
        if self.mem is not None and not _MEM.match(str(self.mem)):
            raise ConfigError(
                f"'slurm.mem' is {self.mem!r}", fix="memory per node as sbatch takes it, e.g. 64G or 500M"
            )
        extra_parameters(self.sbatch_args)


def time_minutes(text: str | int) -> int:
    """sbatch's time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) as whole minutes, rounded up;
    an int is seconds (YAML's reading of unquoted H:MM:SS and MM:SS), at least 600 so that `time: 90`
    meant as minutes is an error rather than a 2-minute limit."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 600:
            raise ConfigError(
                f"'slurm.time' is {text}, read as {text} seconds (an unquoted number is seconds)",
                fix=f'quote it for minutes as sbatch reads it (time: "{text}") or write H:MM:SS',
            )
        return -(-text // 60)
    m = _TIME.match(str(text).strip())
    if not m:
        raise ConfigError(
            f"'slurm.time' is {text!r}", fix="use minutes (90), HH:MM:SS (12:00:00) or D-HH:MM:SS"
        )
    days, a, b, c = m.groups()
    nums = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (nums + [0, 0])[:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(nums) == 3:
        total = nums[0] * 3600 + nums[1] * 60 + nums[2]
    elif len(nums) == 2:  # MM:SS
        total = nums[0] * 60 + nums[1]
    else:
        total = nums[0] * 60
    return max(1, -(-total // 60))


def extra_parameters(args: Sequence[str]) -> dict[str, Any]:
    """`["--qos=high", "--exclusive"]` as submitit's additional_parameters ({"qos": "high", "exclusive": True})."""
    out: dict[str, Any] = {}
    for arg in args:
        if not isinstance(arg, str) or not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(
                f"'slurm.sbatch_args' has {arg!r}",
                fix="long sbatch options only: '--qos=high', '--exclusive'",
            )
        key, eq, value = arg[2:].partition("=")
        if key in _MANAGED:
            raise ConfigError(
                f"'slurm.sbatch_args' sets --{key}, which the executor sets itself", fix=f"remove {arg!r}"
            )
        out[key] = value if eq else True
    return out


def sbatch_parameters(  # noqa: PLR0913 - one sbatch line each
    opts: SlurmOptions,
    *,
    name: str,
    nodes: int = 1,
    tasks_per_node: int = 1,
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    dependencies: Sequence[str] = (),
) -> dict[str, Any]:
    """submitit SlurmExecutor.update_parameters(**this) for one task. `gpus_per_node` (the task's plan)
    overrides `opts.gpus_per_node`; `dependencies` are job ids this one runs after (afterok)."""
    gpus = gpus_per_node if gpus_per_node is not None else opts.gpus_per_node
    params: dict[str, Any] = {
        "job_name": name,
        "nodes": nodes,
        "ntasks_per_node": tasks_per_node,
        "partition": opts.partition,
        "account": opts.account,
        "gpus_per_node": gpus or None,
        "cpus_per_task": cpus_per_task or opts.cpus_per_task,
    }
    extra = extra_parameters(opts.sbatch_args)
    if opts.mem is not None:  # as sbatch takes it (submitit's own `mem` wants a float of GB)
        extra["mem"] = str(opts.mem)
    if dependencies:
        extra["dependency"] = "afterok:" + ":".join(str(d) for d in dependencies)
        extra["kill-on-invalid-dep"] = "yes"
    params = {k: v for k, v in params.items() if v is not None}
    # time=None leaves --time out (the partition's default limit); submitit's own default is 5 minutes
    params["time"] = time_minutes(opts.time) if opts.time is not None else None
    params["additional_parameters"] = extra
    return params


def _executor(folder: Path, opts: SlurmOptions, **resources: Any):
    if shutil.which("sbatch") is None:
        raise HarnessError(
            "sbatch not found: the slurm executor needs a SLURM client on this machine",
            fix="run on a SLURM login node, or use --executor local",
        )
    import submitit

    ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=0)
    ex.update_parameters(**sbatch_parameters(opts, **resources))
    return ex


def submit(  # noqa: PLR0913 - resources of one job
    fn: Callable[..., Any],
    *args: Any,
    folder: Path,
    opts: SlurmOptions,
    name: str,
    dependencies: Sequence[str] = (),
    nodes: int = 1,
    tasks_per_node: int = 1,
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    in_batch_script: bool = False,
    **kwargs: Any,
):
    """Submit `fn(*args, **kwargs)` as one job; it starts after every job in `dependencies` completed.
    By default fn runs under srun on each of the nodes * tasks_per_node tasks; `in_batch_script`
    runs it once, in the batch script on the first node, free to start its own srun steps (as
    multi-node training does: nodes=train.num_machines, in_batch_script=True). Returns the submitit Job."""
    ex = _executor(
        folder,
        opts,
        name=name,
        nodes=1 if in_batch_script else nodes,
        tasks_per_node=tasks_per_node,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        dependencies=dependencies,
    )
    if in_batch_script:
        # submitit counts nodes x tasks results to wait for: ask for the nodes behind its back, so that
        # it waits for the one result of the batch script
        extra = {**ex.parameters.get("additional_parameters", {}), "nodes": nodes}
        ex.update_parameters(use_srun=False, additional_parameters=extra)
    return ex.submit(fn, *args, **kwargs)


def submit_command(  # noqa: PLR0913 - as submit
    command: Sequence[str],
    *,
    folder: Path,
    opts: SlurmOptions,
    name: str,
    dependencies: Sequence[str] = (),
    nodes: int = 1,
    tasks_per_node: int = 1,
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    env: Mapping[str, str] | None = None,
    in_batch_script: bool = False,
):
    """Submit an argv (e.g. `python -m harness run-task ...`) as one job; its output goes to the job's log."""
    import submitit

    fn = submitit.helpers.CommandFunction(list(command), env=dict(env) if env else None, verbose=True)
    return submit(
        fn,
        folder=folder,
        opts=opts,
        name=name,
        dependencies=dependencies,
        nodes=nodes,
        tasks_per_node=tasks_per_node,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        in_batch_script=in_batch_script,
    )


def submit_array(  # noqa: PLR0913 - as submit
    fn: Callable[..., Any],
    args_per_task: Sequence[Sequence[Any]],
    *,
    folder: Path,
    opts: SlurmOptions,
    name: str,
    dependencies: Sequence[str] = (),
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    parallelism: int | None = None,
) -> list:
    """One array job of len(args_per_task) tasks, task i running fn(*args_per_task[i]). Returns one
    submitit Job per task ("<array id>_<i>"); `array_id(jobs)` is what a job waiting for all of them names."""
    ex = _executor(
        folder,
        opts,
        name=name,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        dependencies=dependencies,
    )
    if parallelism:
        ex.update_parameters(array_parallelism=parallelism)
    with ex.batch():
        jobs = [ex.submit(fn, *args) for args in args_per_task]
    return jobs


def submit_command_array(  # noqa: PLR0913 - as submit
    commands: Sequence[Sequence[str]],
    *,
    folder: Path,
    opts: SlurmOptions,
    name: str,
    dependencies: Sequence[str] = (),
    gpus_per_node: int | None = None,
    cpus_per_task: int | None = None,
    env: Mapping[str, str] | None = None,
    parallelism: int | None = None,
) -> list:
    """One array job, task i running the argv commands[i] (the K shards of a build)."""
    import submitit

    fns = [
        (submitit.helpers.CommandFunction(list(c), env=dict(env) if env else None, verbose=True),)
        for c in commands
    ]
    return submit_array(
        _call,
        fns,
        folder=folder,
        opts=opts,
        name=name,
        dependencies=dependencies,
        gpus_per_node=gpus_per_node,
        cpus_per_task=cpus_per_task,
        parallelism=parallelism,
    )


def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def array_id(jobs: Sequence[Any]) -> str:
    """The array's own id ("123" of "123_0", "123_1"): `afterok:123` waits for every task."""
    ids = {str(j.job_id).split("_")[0] for j in jobs}
    if len(ids) != 1:
        raise ValueError(f"jobs of several arrays: {sorted(ids)}")
    return ids.pop()
