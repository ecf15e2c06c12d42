"""SLURM jobs as stages see them: each job's state from `sacct`, or from `scontrol` on clusters
without accounting, mapped onto a stage's status (ok, pending, running, failed with the state and
the log path, blocked by a failed dependency); waiting for jobs and cancelling them. Submission is
`harness.core.slurm`."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time as _time
from collections.abc import Sequence
from pathlib import Path

# SLURM job states (sbatch(1), squeue(1) "JOB STATE CODES") by the stage status they mean
PENDING_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "STOPPED"}
)
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SPECIAL_EXIT"})
FAILED_STATES = frozenset(
    {
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "PREEMPTED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
    }
)
DEPENDENCY_FAILED = "DependencyNeverSatisfied"
# sbatch options the executor sets itself: an extra argument may not override them


def log_path(folder: Path, job_id: str) -> Path:
    """Where submitit writes job `job_id`'s stdout (task 0) under `folder`."""
    from submitit.core.utils import JobPaths

    return JobPaths(folder, job_id=str(job_id), task_id=0).stdout


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """One job (or array task) as SLURM reports it, and what that means for its stage."""

    job_id: str
    state: str  # SLURM's state word: COMPLETED, FAILED, TIMEOUT, ... or UNKNOWN when SLURM no longer knows it
    reason: str = ""  # why it is pending or was cancelled (e.g. DependencyNeverSatisfied)
    exit_code: str = ""
    log: Path | None = None

    @property
    def status(self) -> str:
        return stage_status(self.state, self.reason)

    def describe(self) -> str:
        """One line for `harness status`: "job 12 FAILED (exit 1:0), log: /path"."""
        bits = [f"job {self.job_id} {self.state}"]
        if self.reason and self.reason not in ("None", "(null)"):
            bits.append(f"({self.reason})")
        if self.exit_code and self.exit_code != "0:0" and self.status == "failed":
            bits.append(f"(exit {self.exit_code})")
        text = " ".join(bits)
        return f"{text}, log: {self.log}" if self.log and self.status in ("failed", "running", "ok") else text


def stage_status(state: str, reason: str = "") -> str:
    """A SLURM state as a stage's status: ok, pending, running, failed, blocked (a dependency failed)
    or unknown (SLURM has forgotten the job: read its manifest)."""
    state = state.split()[0].upper() if state else "UNKNOWN"  # sacct: "CANCELLED by 0"
    if DEPENDENCY_FAILED in reason and state in PENDING_STATES | {"CANCELLED"}:
        return "blocked"
    if state == "COMPLETED":
        return "ok"
    if state in PENDING_STATES:
        return "pending"
    if state in RUNNING_STATES:
        return "running"
    if state in FAILED_STATES:
        return "failed"
    return "unknown"


def query(job_ids: Sequence[str], *, folder: Path | None = None) -> dict[str, JobInfo]:
    """The state of each job (an array's id gives all its tasks, keyed "<array>_<i>"), from sacct,
    or from scontrol where accounting is disabled. Jobs SLURM no longer knows come back UNKNOWN.
    With `folder` (the submitit folder), each carries its log path."""
    ids = [str(j) for j in job_ids]
    if not ids:
        return {}
    infos = _from_sacct(ids)
    if infos is None:
        infos = _from_scontrol(ids)
    for jid in ids:
        if not _known(infos, jid):
            infos[jid] = JobInfo(job_id=jid, state="UNKNOWN")
    if folder is not None:
        infos = {k: dataclasses.replace(v, log=log_path(folder, k)) for k, v in infos.items()}
    return infos


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def _from_sacct(ids: list[str]) -> dict[str, JobInfo] | None:
    if shutil.which("sacct") is None:
        return None
    proc = _run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,Reason,ExitCode", "-j", ",".join(ids)])
    if proc.returncode != 0:  # "Slurm accounting storage is disabled": fall back to scontrol
        return None
    out: dict[str, JobInfo] = {}
    ranged: list[JobInfo] = []  # an array's tasks not started yet
    for line in proc.stdout.splitlines():
        infos, is_range = _sacct_record(line)
        ranged += infos if is_range else []
        out.update({i.job_id: i for i in infos if not is_range})
    for info in ranged:  # a task listed on its own (it has started) says more
        out.setdefault(info.job_id, info)
    return _completed_by_scontrol(ids, out)


def _sacct_record(line: str) -> tuple[list[JobInfo], bool]:
    """One `sacct -P` line (JobID|State|Reason|ExitCode) as jobs: one, or (True) the pending tasks
    of an array's range."""
    jid, state, reason, code = (line.split("|") + ["", "", "", ""])[:4]
    if not jid:
        return [], False
    if state.strip() == "CANCELLED" and reason == "Dependency":
        # cancelled by SLURM itself (a user's scancel reads "CANCELLED by <uid>") while waiting on
        # its dependency: the parent failed (--kill-on-invalid-dep, kill_invalid_depend). The
        # database keeps the reason it had before, where scontrol says DependencyNeverSatisfied
        reason = DEPENDENCY_FAILED
    state = state.split()[0] if state.strip() else "UNKNOWN"  # "CANCELLED by 0"
    if "_[" not in jid:
        return [JobInfo(job_id=jid, state=state, reason=reason, exit_code=code)], False
    base, rng = jid.split("_[", 1)  # "12_[1-3%2]": tasks not started yet, one record for them all
    return [JobInfo(f"{base}_{i}", state, reason) for i in _expand(rng.rstrip("]").split("%")[0])], True


def _completed_by_scontrol(ids: list[str], out: dict[str, JobInfo]) -> dict[str, JobInfo]:
    """What the accounting database lacks, or has not caught up with, from scontrol (which knows
    every job that has not ended, and ended ones for MinJobAge)."""
    # slurmctld hands a new job's record to slurmdbd a few seconds after sbatch returns: until then
    # sacct does not list it, but scontrol knows it (rather than calling it UNKNOWN, i.e. forgotten)
    if missing := [j for j in ids if not _known(out, j)]:
        out.update(_from_scontrol(missing))
    # An array's own record can reach the database before its tasks' do, listed for a moment as a
    # plain job "12" that has ended (its other tasks, a failed one among them, not yet there).
    # A pending job's record keeps the reason it was written with: a dependant written while its
    # parent ran says "Dependency" even once the parent has failed and it can never run (scontrol:
    # DependencyNeverSatisfied). For both, scontrol has the truth while it knows the job.
    ended = {j for j in ids if j in out and "_" not in j and out[j].status not in ("pending", "running")}
    waiting = {j for j in ids if any(_waits_on_parent(v) for v in _own(out, j).values())}
    if not (check := sorted(ended | waiting)) or not (fresh := _from_scontrol(check)):
        return out
    for jid in check:
        mine = _own(fresh, jid)
        if not mine or (jid in ended and jid not in waiting and set(mine) == {jid}):
            continue  # scontrol has forgotten it, or it is the plain job sacct says it is
        for k in _own(out, jid):
            del out[k]
        out.update(mine)
    return out


def _own(infos: dict[str, JobInfo], job_id: str) -> dict[str, JobInfo]:
    """The job's entry in `infos`, or (for an array's id) its tasks'."""
    return {k: v for k, v in infos.items() if k == job_id or k.startswith(job_id + "_")}


def _waits_on_parent(info: JobInfo) -> bool:
    return info.status == "pending" and info.reason == "Dependency"


def _known(infos: dict[str, JobInfo], job_id: str) -> bool:
    """Whether `infos` has the job, or (for an array's id) any of its tasks."""
    return job_id in infos or any(k.startswith(job_id + "_") for k in infos)


def _expand(ranges: str) -> list[int]:
    out: list[int] = []
    for part in ranges.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _from_scontrol(ids: list[str]) -> dict[str, JobInfo]:
    out: dict[str, JobInfo] = {}
    for jid in ids:
        proc = _run(["scontrol", "show", "job", "-o", jid])
        if proc.returncode != 0:  # "Invalid job id specified": purged after MinJobAge
            continue
        for line in proc.stdout.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobState" not in fields:
                continue
            own = fields.get("JobId", jid)
            if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
                task = fields["ArrayTaskId"]
                if not task.isdigit():  # pending tasks, "2-3" or "2-3%4": one record for several
                    for i in _expand(task.split("%")[0]):
                        out[f"{fields['ArrayJobId']}_{i}"] = JobInfo(
                            f"{fields['ArrayJobId']}_{i}", fields["JobState"], fields.get("Reason", "")
                        )
                    continue
                own = f"{fields['ArrayJobId']}_{task}"
            out[own] = JobInfo(
                job_id=own,
                state=fields["JobState"],
                reason=fields.get("Reason", ""),
                exit_code=fields.get("ExitCode", ""),
            )
    return out


def wait(
    job_ids: Sequence[str], *, folder: Path | None = None, timeout: float | None = None, poll: float = 2.0
) -> dict[str, JobInfo]:
    """Poll `query` until no job is pending or running (or `timeout` seconds pass); the last states."""
    deadline = None if timeout is None else _time.monotonic() + timeout
    while True:
        infos = query(job_ids, folder=folder)
        if all(i.status not in ("pending", "running") for i in infos.values()):
            return infos
        if deadline is not None and _time.monotonic() > deadline:
            return infos
        _time.sleep(poll)


def cancel(job_ids: Sequence[str]) -> None:
    """scancel the jobs (an array id cancels every task)."""
    if job_ids:
        _run(["scancel", *map(str, job_ids)])
