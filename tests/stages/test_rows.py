"""`rows(exp)`: the one expansion of an experiment into trainings and leaderboard rows, the names
and directories they get, their fingerprints, and the config errors of the keys that make them."""

from __future__ import annotations

import pytest

from harness.core.errors import ConfigError
from harness.experiment import load_experiment
from harness.stages import fingerprints, paths
from harness.stages.rows import evaluated, instruction_group, rows, trainings


def test_demo_rows_keep_the_dataset_names_and_directories(tmp_path):
    exp = load_experiment("demo")
    assert [r.name for r in rows(exp)] == list(exp.datasets)
    for r in rows(exp):
        assert paths.train_dir(exp, r.training.key, tmp_path) == tmp_path / "demo" / "train" / r.dataset
        assert paths.eval_dir(exp, r.eval_key, tmp_path) == tmp_path / "demo" / "eval" / r.dataset
        assert (r.eval_tags, r.training.assembly, r.n) == ("seed", "shared", 48)


def test_sizes_checkpoints_variants_and_selection_make_rows():
    exp = load_experiment(
        "demo",
        [
            "datasets.humpback.sizes=[16,32]",
            "train.checkpoints=[2]",
            "eval.tag_variants=[none,both]",
            "train.select_checkpoint=best_on_eval",
            "datasets.sharegpt.assembly=as_published",
        ],
    )
    names = [r.name for r in rows(exp, ["humpback", "sharegpt"])]
    assert names == [
        "humpback@16@step2[tags=none]",
        "humpback@16@step2[tags=both]",
        "humpback@16[tags=none]",
        "humpback@16[tags=both]",
        "humpback@16@selected",
        "humpback@32@step2[tags=none]",
        "humpback@32@step2[tags=both]",
        "humpback@32[tags=none]",
        "humpback@32[tags=both]",
        "humpback@32@selected",
        # trained without tags: prompted without them, one variant
        "sharegpt@step2[tags=none]",
        "sharegpt[tags=none]",
        "sharegpt@selected",
    ]
    assert [t.key for t in trainings(exp, ["humpback"])] == ["humpback@16", "humpback@32"]
    ev = evaluated(exp)
    assert not any(r.selected for r in ev) and len({r.eval_key for r in ev}) == len(ev)
    assert all("[" not in r.eval_key for r in ev)
    # one training, several evals: the variants share the train fingerprint, not the eval's
    a, b = (r for r in ev if r.name in ("humpback@16[tags=none]", "humpback@16[tags=both]"))
    assert fingerprints.train_fingerprint(exp, a.training.key) == fingerprints.train_fingerprint(
        exp, b.training.key
    )
    assert fingerprints.eval_fingerprint(exp, a.eval_key) != fingerprints.eval_fingerprint(exp, b.eval_key)
    assert fingerprints.train_fingerprint(exp, "humpback@16") != fingerprints.train_fingerprint(
        exp, "humpback@32"
    )


def test_models_trained_without_tags_are_prompted_without_them():
    exp = load_experiment("demo", ["train.tags=false"])
    assert {r.eval_tags for r in rows(exp)} == {"none"}
    assert [r.name for r in rows(exp)] == list(exp.datasets)


def test_eval_tags_and_assembly_enter_the_fingerprints():
    exp = load_experiment("demo")
    fp = fingerprints.eval_fingerprint(exp, "humpback")
    assert fingerprints.eval_fingerprint(load_experiment("demo", ["eval.tags=none"]), "humpback") != fp
    assert (
        fingerprints.eval_fingerprint(load_experiment("demo", ["train.seed_tag=Be kind."]), "humpback") != fp
    )
    bare = load_experiment("demo", ["datasets.sharegpt.assembly=without_seed"])
    assert fingerprints.train_fingerprint(bare, "sharegpt") != fingerprints.train_fingerprint(exp, "sharegpt")
    assert fingerprints.train_fingerprint(bare, "humpback") == fingerprints.train_fingerprint(exp, "humpback")
    linked = load_experiment("demo", ["datasets.back_and_forth.instructions_from=distillation"])
    assert instruction_group(linked, "distillation") == ["distillation", "back_and_forth"]
    assert fingerprints.train_fingerprint(linked, "distillation") != fingerprints.train_fingerprint(
        exp, "distillation"
    )
    assert fingerprints.train_fingerprint(linked, "humpback") == fingerprints.train_fingerprint(
        exp, "humpback"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.tag_baselines=true"], "'train.tag_baselines' was removed"),
        (["datasets.humpback.instructions_from=nope"], "'datasets.humpback.instructions_from' is 'nope'"),
        (
            [
                "datasets.humpback.instructions_from=distillation",
                "datasets.distillation.instructions_from=humpback",
            ],
            "makes a cycle",
        ),
        (["datasets.humpback.assembly=mixed"], "datasets.humpback.assembly"),
        (["eval.tag_variants=[none,all]"], "'eval.tag_variants' holds 'all'"),
        (["train.select_checkpoint=best_on_eval"], "nothing to select from"),
        (["train.max_steps=5", "train.checkpoints=[5]"], "ends at max_steps 5"),
        (["datasets.humpback.sizes=[16,16]"], "'datasets.humpback.sizes'"),
    ],
)
def test_bad_row_keys_fail_before_any_work(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_experiment("demo", overrides)
