"""The capacity plan: the paper configs fit their declared hardware, a smaller machine is refused before any
work (exit 2, one line per stage naming what does not fit, by how much, and the fix), and an experiment
without declared hardware (the demo, the tiny configs) is never refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _support import run_harness

from harness.experiment import load_experiment
from harness.stages import capacity
from harness.stages.plan import plan

SMALL = ["hardware.gpus_per_node=1", "hardware.gpu_memory_gib=24"]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "COLUMNS": "200",
    "OPENAI_API_KEY": "sk-dry-run",
}  # the judge key is checked


def _problems(name: str, overrides=()) -> list[str]:
    exp = load_experiment(name, list(overrides))
    return capacity.problems(exp, capacity.stage_plans(exp, plan(exp)))


@pytest.mark.parametrize("name", ["paper-7b", "paper-70b", "paper-7b-instructions", "paper-humpback"])
def test_paper_configs_fit_their_declared_hardware(name: str):
    exp = load_experiment(name)
    assert (exp.hardware.nodes, exp.hardware.gpus_per_node, exp.hardware.gpu_memory_gib) == (1, 8, 80)
    assert _problems(name) == []
    assert _problems(name, SMALL)  # and a 24 GB GPU does not hold them


def test_70b_served_on_one_gpu_is_refused_with_the_tensor_parallel_fix():
    lines = _problems("paper-70b", ["engine.tensor_parallel_size=1"])
    assert lines[0].startswith("build/back_and_forth: Llama-2-70b-hf needs 129 GiB of weights"), lines[0]
    assert "one GPU has 80" in lines[0] and "set engine.tensor_parallel_size=2 or more" in lines[0]


def test_70b_helpers_with_fsdp_are_refused_with_the_offload_fix():
    lines = _problems("paper-7b", ["train.accelerate_config=fsdp"])
    assert lines[0].startswith(
        "build/back_and_forth: train backward helper (200 steps, 2.0 epochs) Llama-2-70b-hf needs"
    ), lines[0]
    assert "GiB short: set train.accelerate_config=deepspeed-zero3" in lines[0]
    assert not any(line.startswith("train/") for line in lines)  # the 7B rows themselves fit with FSDP


def test_no_declared_hardware_refuses_nothing():
    assert _problems("paper-7b", ["hardware.gpus_per_node=null", "hardware.gpu_memory_gib=null"]) == []
    assert (
        _problems("demo") == [] and _problems("demo", SMALL) == []
    )  # tiny models: sizes unknown, never refused


def test_run_refuses_a_stage_that_does_not_fit_before_any_work(tmp_path: Path):
    r = run_harness(
        "run", "--config", "paper-7b", "--runs-dir", str(tmp_path), *SMALL, timeout=120, env=OFFLINE
    )
    assert r.returncode == 2, r.stderr
    assert "do not fit the declared hardware" in r.stderr
    lines = r.stderr.splitlines()
    first = lines[next(i for i, x in enumerate(lines) if "do not fit the declared hardware" in x) + 1]
    assert first.startswith("  build/back_and_forth: "), r.stderr
    assert not any(tmp_path.iterdir()), "a refused run wrote into the runs dir"
    d = run_harness(
        "run",
        "--config",
        "paper-7b",
        "--runs-dir",
        str(tmp_path),
        "--dry-run",
        *SMALL,
        timeout=120,
        env=OFFLINE,
    )
    assert d.returncode == 2 and "build/back_and_forth: train backward helper" in d.stdout


def test_dry_run_json_holds_the_capacity_plan(tmp_path: Path):
    r = run_harness(
        "run",
        "--config",
        "paper-70b",
        "--runs-dir",
        str(tmp_path),
        "--dry-run",
        "--json",
        timeout=120,
        env=OFFLINE,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    cap = out["capacity"]
    assert cap["hardware"] == {"nodes": 1, "gpus_per_node": 8, "gpu_memory_gib": 80, "declared": True}
    assert cap["problems"] == [] and cap["totals"]["gpu_hours"] > 0
    assert cap["assumptions"]["training_utilisation"] == 0.4
    build = next(s for s in cap["stages"] if s["stage"] == "build/back_and_forth")
    served = next(x for x in build["loads"] if x["role"] == "rewriter")
    assert (
        served["model"] == "Llama-2-70b-chat-hf"
        and served["gpus"] == 8
        and served["params"] == 68_976_648_192
    )
    trained = next(x for x in build["loads"] if x["mode"] == "train")
    assert trained["how"].startswith("ZeRO-3 + CPU optimizer") and trained["per_gpu_gib"] < 80
    # the graph's tasks: every planned stage has its capacity line; the report (no model) closes the graph
    assert [s["stage"] for s in out["stages"]] == [s["stage"] for s in cap["stages"]] + ["report"]


def test_helpers_train_with_their_own_length():
    from harness.experiment import helper_recipe
    from harness.stages.fingerprints import build_fingerprint

    exp = load_experiment("paper-7b")
    assert exp.train.recipe.max_steps == 1200  # the rows
    assert (helper_recipe(exp).max_steps, helper_recipe(exp).num_epochs) == (-1, 2)  # the helpers: 2 epochs
    plans = capacity.stage_plans(exp, plan(exp))
    roles = [x.role for p in plans if p.label == "build/back_and_forth" for x in p.loads if x.mode == "train"]
    assert roles == [
        "train backward helper (200 steps, 2.0 epochs)",
        "train seed_model helper (200 steps, 2.0 epochs)",
    ]
    unset = load_experiment("paper-7b", ["helpers.num_epochs=null"])
    assert helper_recipe(unset) == unset.train.recipe  # unset: the experiment's recipe, max_steps and all
    assert build_fingerprint(unset, "back_and_forth") != build_fingerprint(exp, "back_and_forth")
    demo = load_experiment("demo")
    assert helper_recipe(demo) is demo.train.recipe  # nothing changes for an experiment without helpers:
    assert build_fingerprint(demo, "back_and_forth") == build_fingerprint(
        load_experiment("demo", ["helpers.max_steps=null"]), "back_and_forth"
    )
