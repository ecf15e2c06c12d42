"""`train.num_machines`: two nodes of the local SLURM cluster (tests/slurm_cluster.py), one
`accelerate launch` each with one CPU rank (gloo), train the tiny model to the same weights as one
node with two ranks and the same global batch; outside SLURM the key is refused in one line."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

import pytest
from _support import run_harness
from training.sft_data import make_records, write_records

from harness.core.errors import ConfigError
from harness.training.launch import check_machines, rendezvous_port
from harness.training.recipe import load_recipe

STEPS = ["max_steps=4", "save_steps=100", "logging_steps=2", "per_device_batch_size=4", "num_processes=2"]


def test_num_machines_outside_slurm_is_one_line_naming_the_key():
    recipe = load_recipe("tiny", {"num_machines": 2, "num_processes": 2})
    with pytest.raises(ConfigError, match=r"train.num_machines=2 .* not one") as e:
        check_machines(recipe, env={})
    assert "--executor slurm" in e.value.fix and "num_machines=1" in e.value.fix
    with pytest.raises(ConfigError, match="has 1 node"):
        check_machines(recipe, env={"SLURM_JOB_ID": "7", "SLURM_JOB_NUM_NODES": "1"})
    with pytest.raises(ConfigError, match="does not split evenly"):
        from harness.training.recipe import check_recipe

        check_recipe(load_recipe("tiny", {"num_machines": 2, "num_processes": 3}), "recipe")


def test_the_port_is_derived_from_the_job_id():
    assert rendezvous_port("123") == rendezvous_port("123") == 20123
    assert rendezvous_port("20123") == 20123 and rendezvous_port("124") != rendezvous_port("123")


def _weights(directory: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(directory / "model" / "model.safetensors"))


def test_two_nodes_train_the_weights_of_one_node_with_two_ranks(local_slurm, tiny_model, tmp_path):
    data = write_records(tmp_path / "train.jsonl", make_records(64, offset=500))
    common = ["train", "--model", f"hf:{tiny_model}", "--data", str(data), "--recipe", "tiny"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}

    t0 = time.monotonic()
    one = run_harness(*common, "--output", str(tmp_path / "one"), *STEPS, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    t_one = time.monotonic() - t0

    argv = [
        sys.executable,
        "-m",
        "harness.cli",
        *common,
        "--output",
        str(tmp_path / "two"),
        *STEPS,
        "num_machines=2",
    ]
    out = tmp_path / "two.out"
    t0 = time.monotonic()
    job = local_slurm.run(
        "sbatch",
        "--parsable",
        "--nodes=2",
        "--ntasks-per-node=1",
        "-o",
        str(out),
        "--chdir",
        str(tmp_path),
        "--wrap",
        shlex.join(argv),
    ).strip()
    while (
        state := local_slurm.run("scontrol", "show", "job", "-o", job).split("JobState=")[1].split()[0]
    ) in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING"):
        assert time.monotonic() - t0 < 400, f"job {job} still {state}"
        time.sleep(1)
    t_two = time.monotonic() - t0
    log = out.read_text() + "".join(p.read_text() for p in (tmp_path / "two").glob("launch.log"))
    assert state == "COMPLETED", log[-4000:]
    head = (tmp_path / "two" / "launch.log").read_text().splitlines()[:2]
    assert head[0].endswith("is shared by the 2 nodes (node1, node2)"), head
    assert "--num_machines 2" in head[1] and '--machine_rank "$SLURM_NODEID"' in head[1], head
    assert "--main_process_ip 127.0.0.1 " in head[1]
    assert f"--main_process_port {rendezvous_port(job)}" in head[1]

    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(
        f"\n1 node x 2 ranks: {t_one:.1f}s; 2 nodes x 1 rank (SLURM job {job}): {t_two:.1f}s; "
        f"max |weight difference| {diff:.3g}"
    )
    assert diff == 0.0
