"""The experiment-level train stage on the demo experiment: a missing build is a clear error; a real
built baseline trains with the config-derived fingerprint, so the planner predicts the cache hit."""

from __future__ import annotations

import pytest

from harness.core.errors import StageError
from harness.experiment import load_experiment
from harness.stages import fingerprints, paths


def test_missing_build_names_the_command(tmp_path):
    from harness.stages import train

    exp = load_experiment("demo")
    with pytest.raises(StageError, match="harness build --config demo"):
        train.run(exp, tmp_path, only=["alpaca_gpt4"])


def test_trains_a_built_dataset_with_the_planned_fingerprint(tmp_path):
    from harness.stages import build, train
    from harness.stages.plan import plan

    exp = load_experiment("demo", ["train.max_steps=3", "train.save_steps=100"])
    build.run(exp, tmp_path, only=["alpaca_gpt4"])
    [outcome] = train.run(exp, tmp_path, only=["alpaca_gpt4"])
    assert not outcome.skipped
    assert outcome.fingerprint == fingerprints.train_fingerprint(exp, "alpaca_gpt4", tmp_path)
    assert outcome.directory == paths.train_dir(exp, "alpaca_gpt4", tmp_path)
    s = outcome.manifest.stats.to_dict()
    # a baseline trains like every row: exactly train.n of its records, the tagged seed set mixed in
    assembly = s["assembly"]
    assert (assembly["n_trained"], assembly["assembly"]) == (48, "shared") and assembly["seed_records"] > 0
    assert s["records_kept"] == 48 + assembly["seed_records"] and s["steps"] == 3
    assert (paths.trained_model_dir(exp, "alpaca_gpt4", tmp_path) / "config.json").is_file()
    steps = {st.label: st for st in plan(exp, tmp_path, only=["alpaca_gpt4"])}
    assert any("train" in label and st.cached for label, st in steps.items())
    [again] = train.run(exp, tmp_path, only=["alpaca_gpt4"])
    assert again.skipped


def test_a_checkpoint_beyond_the_run_fails_before_training(tiny_model, sft_records, tmp_path):
    """A listed step the run never reaches (max_steps unset, so config validation cannot know) is an
    error when training begins, not a missing row after it."""
    import dataclasses

    from harness.core.errors import ConfigError
    from harness.training.recipe import load_recipe
    from harness.training.sft import train_stage

    recipe = dataclasses.replace(
        load_recipe("tiny"), max_steps=-1, num_epochs=1
    )  # 16 records / batch 8: 2 steps
    with pytest.raises(ConfigError, match="lists step 5, but this run has 2 steps"):
        train_stage(
            tmp_path / "run",
            base_model=str(tiny_model),
            records=sft_records[:16],
            recipe=recipe,
            fingerprint="x",
            save_at_steps=[5],
        )
