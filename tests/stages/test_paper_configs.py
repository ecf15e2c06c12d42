"""The paper experiments are ready for users with GPUs: their dry-run passes offline here."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import run_harness

from harness.experiment import load_experiment


@pytest.mark.parametrize("name", ["paper-7b", "paper-70b"])
def test_paper_dry_run_offline(tmp_path: Path, name: str):
    r = run_harness("run", "--config", name, "--runs-dir", str(tmp_path), "--dry-run", timeout=120,
                    env={"HF_HUB_OFFLINE": "1", "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    from harness.stages.rows import evaluated, rows, trainings

    exp = load_experiment(name)
    # a build per dataset, a train per training, an eval per evaluated row, then the analysis
    stages = len(exp.datasets) + len(trainings(exp)) + len(evaluated(exp)) + 1
    assert f"{stages} of {stages} stages to run" in r.stdout, r.stdout
    assert f"{len(rows(exp))} leaderboard rows" in r.stdout and "back_and_forth[tags=both]" in r.stdout
    assert not any(tmp_path.iterdir()), "a dry run wrote into the runs dir"


@pytest.mark.parametrize("name", ["paper-7b", "paper-70b"])
def test_paper_configs_carry_the_papers_protocol(name: str):
    exp = load_experiment(name)
    first_line = (Path(__file__).parents[2] / "harness" / "configs" / f"{name}.yaml").read_text().splitlines()[0]
    assert first_line == f"# harness run --config {name}"
    assert exp.eval.protocol == "alpaca_eval_1" and exp.eval.judge == "alpaca_eval:alpaca_eval_gpt4"
    assert (exp.eval.decoding.temperature, exp.eval.decoding.top_p) == (0.7, 0.9)
    assert exp.seed_data.n == 3200
    assert exp.train.recipe.weight_decay == 0.1
    assert exp.train.n == (12800 if name == "paper-7b" else 51200)
    assert {"back_and_forth", "humpback", "distillation", "sharegpt", "openorca"} <= set(exp.datasets)
    # every row trains on the shared assembly; distillation on back-and-forth's instructions; the
    # paper's eval tags (the better of two, selected on the test set) and training lengths
    assert all(ds.assembly == "shared" for ds in exp.datasets.values())
    assert exp.datasets["distillation"].instructions_from == "back_and_forth"
    assert exp.eval.tag_variants == ("seed", "both") and exp.train.select_checkpoint == "best_on_eval"
    assert (exp.train.recipe.max_steps, exp.train.checkpoints) == ((1200, (600, 900)) if name == "paper-7b"
                                                                   else (1600, ()))
