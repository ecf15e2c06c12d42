"""`harness run --executor slurm` on a real two-node SLURM (tests/slurm_cluster.py on 127.0.0.1): the
stage graph as jobs with afterok dependencies, sharded builds as array jobs, the same leaderboard as
one process, and a failed shard that stops its merge and is the only build resubmitted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from _support import PROJECT_ROOT, run_harness

TIMEOUT = 1800


def _rows(results: Path, name: str = "demo") -> list[dict]:
    board = json.loads((results / name / "leaderboard.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in r.items() if k != "fingerprints"} for r in board["rows"]]


def _env(cluster) -> dict[str, str]:
    return {**cluster.env, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


@pytest.mark.timeout(TIMEOUT)
def test_the_demo_as_sharded_slurm_jobs_gives_the_committed_leaderboard(local_slurm, tmp_path: Path) -> None:
    """The demo with build.num_shards=2 (each build 2 shards: array jobs) and each stage a job: the leaderboard equals the
    committed results/demo (made in one process with one thread), every figure to the last digit."""
    runs, results = tmp_path / "runs", tmp_path / "results"
    t0 = time.perf_counter()
    r = run_harness(
        "run",
        "--config",
        "demo",
        "--executor",
        "slurm",
        "build.num_shards=2",
        "--wait",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
        env=_env(local_slurm),
        timeout=TIMEOUT,
    )
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "build/humpback/shard-1-of-2: job" in r.stdout and "report: job" in r.stdout, r.stdout
    assert _rows(results) == _rows(PROJECT_ROOT / "results"), "the SLURM run's leaderboard differs"
    jobs = json.loads((runs / "demo" / "slurm" / "jobs.json").read_text(encoding="utf-8"))
    assert "_" in jobs["build/humpback/shard-0-of-2"]["job_id"]  # an array task
    print(f"\ndemo on the local SLURM, 2 shards per build, {len(jobs)} jobs: {wall:.0f} s")

    again = run_harness(
        "run",
        "--config",
        "demo",
        "--executor",
        "slurm",
        "build.num_shards=2",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
        env=_env(local_slurm),
    )
    assert again.returncode == 0 and "submitted 1 job(s)" in again.stdout, again.stdout  # the report alone


def _demo_with(tmp_path: Path, datasets: tuple[str, ...], *, analysis: dict, max_steps: int) -> Path:
    """The demo's config with some of its datasets only (baselines: no generation), written to tmp_path."""
    data = yaml.safe_load((PROJECT_ROOT / "harness" / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    data["datasets"] = {k: v for k, v in data["datasets"].items() if k in datasets}
    data["analysis"] = {**data.get("analysis", {}), **analysis}
    data.setdefault("train", {})["max_steps"] = max_steps
    path = tmp_path / "demo-part.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.timeout(TIMEOUT)
def test_a_failed_shard_leaves_its_merge_unrun_and_is_resubmitted_alone(local_slurm, tmp_path: Path) -> None:
    config = str(
        _demo_with(tmp_path, ("alpaca_gpt4", "sharegpt"), analysis={"reference": "alpaca_gpt4"}, max_steps=2)
    )
    runs, results = tmp_path / "runs", tmp_path / "results"
    blocker = runs / "demo" / "build" / "sharegpt" / "shards" / "00001-of-00002"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the shard's directory goes: the shard's job fails\n")
    args = [
        "run",
        "--config",
        config,
        "--executor",
        "slurm",
        "--num-shards",
        "2",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
    ]
    first = run_harness(*args, "--wait", env=_env(local_slurm), timeout=TIMEOUT)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    assert not (runs / "demo" / "build" / "sharegpt" / "dataset.jsonl").exists()  # the merge never ran
    assert (runs / "demo" / "build" / "alpaca_gpt4" / "dataset.jsonl").is_file()  # the other chain went on

    st = run_harness("status", "--config", config, "--runs-dir", str(runs), "--json", env=_env(local_slurm))
    assert st.returncode == 0, st.stderr
    states = {s["stage"]: s for s in json.loads(st.stdout)["stages"]}
    shard = states["build/sharegpt/shard-1-of-2"]
    assert shard["state"] == "failed" and "FAILED" in shard["note"] and "log: " in shard["note"], shard
    assert states["build/sharegpt/shard-0-of-2"]["state"] == "done"
    assert states["build/sharegpt"]["state"] == "failed" and "dependency" in states["build/sharegpt"]["note"]
    assert states["train/alpaca_gpt4"]["state"] == "done"

    blocker.unlink()
    second = run_harness(*args, "--wait", env=_env(local_slurm), timeout=TIMEOUT)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    submitted = [line.split(":")[0].strip() for line in second.stdout.splitlines() if ": job " in line]
    assert [s for s in submitted if s.startswith("build/")] == [
        "build/sharegpt/shard-1-of-2",
        "build/sharegpt",
    ]
    assert "train/alpaca_gpt4" not in submitted and "train/sharegpt" in submitted, submitted
    assert (results / "demo" / "leaderboard.json").is_file()


@pytest.mark.timeout(TIMEOUT)
def test_a_two_node_training_job_gives_the_one_node_weights(local_slurm, tmp_path: Path) -> None:
    """train.num_machines=2: the executor asks SLURM for two nodes for the training job, which starts one
    accelerate launch per node; the weights equal one node's with the same two ranks (global batch)."""
    from safetensors.torch import load_file

    config = str(
        _demo_with(tmp_path, ("alpaca_gpt4",), analysis={"enabled": False, "reference": None}, max_steps=3)
    )
    over = ["train.num_processes=2", "eval.max_instances=20"]
    local = run_harness(
        "run",
        "--config",
        config,
        *over,
        "--runs-dir",
        str(tmp_path / "a"),
        "--results-dir",
        str(tmp_path / "ra"),
        env=_env(local_slurm),
        timeout=TIMEOUT,
    )
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    runs = tmp_path / "b"
    r = run_harness(
        "run",
        "--config",
        config,
        *over,
        "train.num_machines=2",
        "--executor",
        "slurm",
        "--wait",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(tmp_path / "rb"),
        env=_env(local_slurm),
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    job = json.loads((runs / "demo" / "slurm" / "jobs.json").read_text(encoding="utf-8"))["train/alpaca_gpt4"]
    shown = local_slurm.run("scontrol", "show", "job", "-o", job["job_id"])
    assert "NumNodes=2" in shown, shown
    train = runs / "demo" / "train" / "alpaca_gpt4"
    assert "shared by the 2 nodes" in (train / "launch.log").read_text(encoding="utf-8").splitlines()[0]
    a = load_file(tmp_path / "a" / "demo" / "train" / "alpaca_gpt4" / "model" / "model.safetensors")
    b = load_file(train / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), (
        "2 nodes x 1 rank != 1 node x 2 ranks"
    )
