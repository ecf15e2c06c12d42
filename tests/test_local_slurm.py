"""The local two-node SLURM of tests/slurm_cluster.py is a real cluster: `afterok` orders jobs,
and one job spans both nodes."""

from __future__ import annotations

import time
from pathlib import Path


def _wait_done(cluster, job_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = cluster.run("scontrol", "show", "job", "-o", job_id)
        state = out.split("JobState=")[1].split()[0]
        if state not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING"):
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not done after {timeout}s")


def test_afterok_dependency_runs_after_its_parent(local_slurm, tmp_path: Path):
    first = local_slurm.run(
        "sbatch", "--parsable", "-o", str(tmp_path / "a.out"), "--wrap", "sleep 2; date +%s.%N"
    ).strip()
    second = local_slurm.run(
        "sbatch",
        "--parsable",
        "-o",
        str(tmp_path / "b.out"),
        f"--dependency=afterok:{first}",
        "--wrap",
        "date +%s.%N",
    ).strip()
    assert "Dependency" in local_slurm.run("squeue", "-h", "-j", second, "-o", "%r")
    assert _wait_done(local_slurm, second) == "COMPLETED"
    assert _wait_done(local_slurm, first) == "COMPLETED"
    end_first = float((tmp_path / "a.out").read_text())
    start_second = float((tmp_path / "b.out").read_text())
    assert start_second > end_first


def test_one_job_runs_on_both_nodes(local_slurm):
    out = local_slurm.run(
        "srun", "-N2", "--ntasks-per-node=1", "bash", "-c", 'echo "$SLURMD_NODENAME $SLURM_NODEID"'
    )
    assert sorted(out.split("\n")[:2]) == ["node1 0", "node2 1"], out
