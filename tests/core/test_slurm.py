"""harness.core.slurm against the real two-node SLURM of tests/slurm_cluster.py: submitit jobs,
afterok chains, an array with a failing task (its dependant never runs and says why), the states
SLURM reports mapped to stage statuses, and the submission overhead of one trivial job."""

from __future__ import annotations

import time

import pytest

from harness.core.config import from_dict
from harness.core.errors import ConfigError
from harness.core.slurm import (
    SlurmOptions,
    array_id,
    query,
    sbatch_parameters,
    stage_status,
    submit,
    submit_array,
    submit_command,
    submit_command_array,
    time_minutes,
    wait,
)


# ---------------------------------------------------------------- options -> sbatch, no cluster needed
def test_options_become_sbatch_parameters():
    opts = from_dict(
        SlurmOptions,
        {
            "partition": "gpu",
            "account": "lab",
            "gpus_per_node": 8,
            "time": "1-12:00:00",
            "mem": "500G",
            "sbatch_args": ["--qos=high", "--exclusive"],
        },
        prefix="slurm.",
    )
    p = sbatch_parameters(opts, name="train-x", nodes=2, gpus_per_node=4, dependencies=["11", "12_3"])
    assert p["partition"] == "gpu" and p["account"] == "lab" and p["nodes"] == 2 and p["ntasks_per_node"] == 1
    assert p["gpus_per_node"] == 4  # the task's plan wins over the section's default
    assert p["time"] == 36 * 60
    assert p["additional_parameters"] == {
        "qos": "high",
        "exclusive": True,
        "mem": "500G",
        "dependency": "afterok:11:12_3",
        "kill-on-invalid-dep": "yes",
    }
    assert (
        sbatch_parameters(SlurmOptions(), name="x")["time"] is None
    )  # the partition's default, not submitit's 5 min


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("90", 90),
        ("12:00:00", 720),
        ("1-0", 1440),
        ("2-03:30", 3090),
        ("0:30", 1),
        ("00:10:01", 11),
        (43200, 720),
        (5400, 90),
    ],
)
def test_time_formats(text, minutes):
    assert time_minutes(text) == minutes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"time": "tomorrow"}, "slurm.time"),
        ({"mem": "lots"}, "slurm.mem"),
        ({"time": 90}, "read as 90 seconds"),
        ({"sbatch_args": ["-p gpu"]}, "long sbatch options"),
        ({"sbatch_args": ["--dependency=afterany:1"]}, "sets --dependency"),
    ],
)
def test_bad_options_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(SlurmOptions, data, prefix="slurm.")


def test_states_map_to_stage_statuses():
    assert stage_status("COMPLETED") == "ok"
    assert stage_status("PENDING") == stage_status("REQUEUED") == "pending"
    assert stage_status("RUNNING") == stage_status("COMPLETING") == "running"
    for state in ("FAILED", "CANCELLED by 0", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY"):
        assert stage_status(state) == "failed", state
    assert stage_status("CANCELLED", "DependencyNeverSatisfied") == "blocked"
    assert stage_status("PENDING", "DependencyNeverSatisfied") == "blocked"
    assert stage_status("") == "unknown"


# ---------------------------------------------------------------- on the local cluster
@pytest.fixture
def slurm(local_slurm, monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    return tmp_path / "jobs"


def test_a_python_function_runs_as_a_job_and_its_overhead_is_measured(slurm):
    def where(x):
        import os
        import time

        return x * 2, os.environ["SLURMD_NODENAME"], time.time()

    t0 = time.time()
    job = submit(where, 21, folder=slurm, opts=SlurmOptions(time="5"), name="probe")
    submitted = time.time()
    infos = wait([job.job_id], folder=slurm, timeout=120, poll=0.2)
    ended = time.time()
    value, node, started = job.result()
    assert value == 42 and node in ("node1", "node2")
    info = infos[job.job_id]
    assert info.status == "ok" and info.state == "COMPLETED" and info.log.is_file()
    print(
        f"\nsubmission overhead of one trivial job: sbatch {submitted - t0:.2f}s, submit->start "
        f"{started - t0:.2f}s, submit->COMPLETED seen {ended - t0:.2f}s"
    )


def test_a_dependency_chain_runs_in_order(slurm, tmp_path):
    trace = tmp_path / "trace.txt"

    def step(name):
        import time

        time.sleep(0.5)
        with open(trace, "a") as f:
            f.write(name + "\n")

    a = submit(step, "a", folder=slurm, opts=SlurmOptions(), name="a")
    b = submit(step, "b", folder=slurm, opts=SlurmOptions(), name="b", dependencies=[a.job_id])
    c = submit_command(
        ["bash", "-c", f"echo c >> {trace}"],
        folder=slurm,
        opts=SlurmOptions(),
        name="c",
        dependencies=[a.job_id, b.job_id],
    )
    assert query([c.job_id])[c.job_id].status in ("pending", "running", "ok")
    infos = wait([a.job_id, b.job_id, c.job_id], timeout=120, poll=0.3)
    assert {i.status for i in infos.values()} == {"ok"}, infos
    assert trace.read_text().split() == ["a", "b", "c"]


def test_a_failed_array_task_blocks_its_dependant_and_is_reported(slurm, tmp_path):
    marker = tmp_path / "merged"

    def shard(i):
        if i == 1:
            raise RuntimeError("shard 1 made to fail")
        return i

    def merge():
        marker.write_text("ran")

    shards = submit_array(shard, [(0,), (1,), (2,)], folder=slurm, opts=SlurmOptions(), name="shards")
    assert [j.job_id for j in shards] == [f"{array_id(shards)}_{i}" for i in range(3)]
    merged = submit(merge, folder=slurm, opts=SlurmOptions(), name="merge", dependencies=[array_id(shards)])
    infos = wait([array_id(shards), merged.job_id], folder=slurm, timeout=120, poll=0.3)
    aid = array_id(shards)
    assert infos[f"{aid}_0"].status == infos[f"{aid}_2"].status == "ok"
    failed = infos[f"{aid}_1"]
    assert failed.status == "failed" and failed.state == "FAILED"
    assert "shard 1 made to fail" in failed.log.read_text() + failed.log.with_suffix(".err").read_text()
    blocked = infos[merged.job_id]
    assert blocked.status == "blocked" and blocked.state == "CANCELLED", blocked
    assert "DependencyNeverSatisfied" in blocked.describe() and "log" not in blocked.describe()
    assert not marker.exists()
    print(f"\n{failed.describe()}\n{blocked.describe()}")


def test_a_two_node_job_runs_the_function_once_per_node(slurm):
    def node():
        import os

        return os.environ["SLURMD_NODENAME"], os.environ["SLURM_NODEID"]

    job = submit(node, folder=slurm, opts=SlurmOptions(), name="two", nodes=2)
    assert sorted(job.results()) == [("node1", "0"), ("node2", "1")]

    def batch():
        import os
        import subprocess

        here = os.environ["SLURMD_NODENAME"], os.environ["SLURM_JOB_NUM_NODES"]
        return here, subprocess.run(["srun", "hostname"], capture_output=True, text=True).stdout.split()

    once = submit(batch, folder=slurm, opts=SlurmOptions(), name="once", nodes=2, in_batch_script=True)
    # the batch script, once, on the first node of two; its own srun step spans both
    ((here, step),) = once.results()
    assert here == ("node1", "2") and len(step) == 2


def test_an_array_of_commands(slurm, tmp_path):
    jobs = submit_command_array(
        [["bash", "-c", f"echo {i} > {tmp_path}/shard{i}"] for i in range(2)],
        folder=slurm,
        opts=SlurmOptions(),
        name="cmds",
    )
    infos = wait([array_id(jobs)], timeout=120, poll=0.3)
    assert sorted(infos) == [j.job_id for j in jobs] and {i.status for i in infos.values()} == {"ok"}
    assert [(tmp_path / f"shard{i}").read_text().strip() for i in range(2)] == ["0", "1"]


def test_jobs_slurm_forgot_are_unknown(slurm):
    assert query(["999999"])["999999"].status == "unknown"


def test_the_experiment_carries_a_slurm_section():
    from harness.experiment import load_experiment

    exp = load_experiment(
        "demo", ["slurm.partition=gpu", "slurm.time=12:00:00", "slurm.sbatch_args=[--qos=high]"]
    )
    assert exp.slurm == SlurmOptions(
        partition="gpu", time=43200, sbatch_args=("--qos=high",)
    )  # YAML's 12:00:00
    assert sbatch_parameters(exp.slurm, name="x")["time"] == 720
    with pytest.raises(ConfigError, match="slurm.partiton"):
        load_experiment("demo", ["slurm.partiton=gpu"])
