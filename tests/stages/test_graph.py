"""The stage graph: every task after what it needs, the same graph printed by the dry run, and each
task runnable on its own in another process (`harness task`), giving what `harness run` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _support import PROJECT_ROOT, run_harness

from harness.experiment import load_experiment
from harness.stages import graph
from harness.stages.context import Run

JUDGE = "local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:@base"
SMALL = [
    "train.max_steps=2",
    "train.save_steps=100",
    "eval.max_instances=20",
    "eval.decoding.max_tokens=4",
    f"eval.judge={JUDGE}",
]


def _in_order(tasks) -> None:
    seen: set[str] = set()
    for t in tasks:
        assert set(t.needs) <= seen, f"{t.id} needs {set(t.needs) - seen} before it"
        seen.add(t.id)
    assert len(seen) == len(tasks), "task ids repeat"


def test_the_demo_graph_has_every_stage_after_its_needs(tmp_path: Path) -> None:
    exp = load_experiment("demo")
    tasks = graph.graph(Run(exp, tmp_path))
    _in_order(tasks)
    ids = [t.id for t in tasks]
    assert ids[0] == "base-model" and ids[-2:] == ["analysis", "report"]
    assert {f"build/{n}" for n in exp.datasets} <= set(ids)
    train = next(t for t in tasks if t.id == "train/humpback")
    assert train.needs == ("base-model", "build/humpback") and train.writes == ("model/",)
    assert next(t for t in tasks if t.id == "eval/humpback").needs == ("base-model", "train/humpback")
    assert not any(t.cached for t in tasks)  # nothing built under tmp_path


def test_shards_are_tasks_and_the_merge_needs_them_all(tmp_path: Path) -> None:
    exp = load_experiment("demo")
    tasks = graph.graph(Run(exp, tmp_path, only=["humpback"], num_shards=3))
    _in_order(tasks)
    shards = [t for t in tasks if t.stage == "build" and t.part]
    assert [t.id for t in shards] == [f"build/humpback/shard-{i}-of-3" for i in range(3)]
    merge = next(t for t in tasks if t.id == "build/humpback")
    assert merge.needs == tuple(t.id for t in shards) and merge.item == ("merge", 3)
    assert len({t.directory for t in shards}) == 3  # two shards never write one directory


def _two_baselines(tmp_path: Path) -> Path:
    """The demo with its two baseline datasets only (no generation): cheap enough for one process per task."""
    data = yaml.safe_load((PROJECT_ROOT / "harness" / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    data["datasets"] = {k: v for k, v in data["datasets"].items() if k in ("alpaca_gpt4", "sharegpt")}
    data.setdefault("analysis", {})["reference"] = "alpaca_gpt4"
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _board(results: Path) -> list[dict]:
    board = json.loads((results / "demo" / "leaderboard.json").read_text(encoding="utf-8"))
    return [{k: v for k, v in r.items() if k != "fingerprints"} for r in board["rows"]]


@pytest.mark.timeout(900)
def test_each_task_in_its_own_process_gives_what_harness_run_gives(tmp_path: Path) -> None:
    config = str(_two_baselines(tmp_path))
    env = {"OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    one = run_harness(
        "run",
        "--config",
        config,
        *SMALL,
        "--runs-dir",
        str(tmp_path / "a"),
        "--results-dir",
        str(tmp_path / "a-results"),
        env=env,
    )
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]

    runs, results = str(tmp_path / "b"), str(tmp_path / "b-results")
    dry = run_harness("run", "--config", config, *SMALL, "--runs-dir", runs, "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    ids = [s["stage"] for s in json.loads(dry.stdout)["stages"]]
    assert ids == [
        "base-model",
        "build/alpaca_gpt4",
        "build/sharegpt",
        "train/alpaca_gpt4",
        "train/sharegpt",
        "eval/alpaca_gpt4",
        "eval/sharegpt",
        "analysis",
        "report",
    ]

    early = run_harness("task", "--config", config, "train/sharegpt", *SMALL, "--runs-dir", runs, env=env)
    assert early.returncode == 2 and "needs base-model, build/sharegpt, not finished" in early.stderr, (
        early.stderr
    )
    assert not (tmp_path / "b" / "demo" / "train").exists()  # refused before any work

    for task in ids:
        r = run_harness(
            "task", "--config", config, task, *SMALL, "--runs-dir", runs, "--results-dir", results, env=env
        )
        assert r.returncode == 0, f"{task}: " + r.stdout[-2000:] + r.stderr[-3000:]
    assert _board(tmp_path / "b-results") == _board(tmp_path / "a-results")

    again = run_harness("task", "--config", config, "train/sharegpt", *SMALL, "--runs-dir", runs, env=env)
    assert again.returncode == 0 and "task train/sharegpt: cached" in again.stdout, (
        again.stdout + again.stderr
    )
    unknown = run_harness("task", "--config", config, "train/sharegtp", *SMALL, "--runs-dir", runs, env=env)
    assert unknown.returncode == 2 and "train/sharegpt" in unknown.stderr, unknown.stderr
