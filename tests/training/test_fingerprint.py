"""The one fingerprint of a trained model (`train_fingerprint`): the recipe's semantic fields, the
base model, and where the records come from; the experiment's train stage, the build sub-stage and
`harness train --model ...` all key their runs by it."""

from __future__ import annotations

import dataclasses

from harness.experiment import load_experiment
from harness.stages import fingerprints
from harness.stages.base import base_identity
from harness.training.recipe import load_recipe
from harness.training.sft import train_fingerprint


def test_what_the_model_learns_changes_it_and_nothing_else():
    recipe = load_recipe("tiny")
    fp = train_fingerprint(recipe, base="hf:m", upstream={"data": "abc"})
    assert fp == train_fingerprint(load_recipe("tiny"), base="hf:m", upstream={"data": "abc"})
    # where and how fast a run goes: same model, same fingerprint
    for field, value in [
        ("save_steps", 7),
        ("logging_steps", 1),
        ("gradient_checkpointing", True),
        ("accelerate_config", "ddp"),
        ("name", "renamed"),
    ]:
        assert (
            train_fingerprint(
                dataclasses.replace(recipe, **{field: value}), base="hf:m", upstream={"data": "abc"}
            )
            == fp
        ), field
    others = [
        train_fingerprint(
            dataclasses.replace(recipe, learning_rate=2e-3), base="hf:m", upstream={"data": "abc"}
        ),
        train_fingerprint(dataclasses.replace(recipe, max_steps=31), base="hf:m", upstream={"data": "abc"}),
        train_fingerprint(recipe, base="hf:other", upstream={"data": "abc"}),
        train_fingerprint(recipe, base="hf:m", upstream={"data": "abd"}),
        train_fingerprint(recipe, base="hf:m", upstream={"data": "abc"}, data={"n": 10}),
    ]
    assert len({fp, *others}) == 1 + len(others)


def test_the_experiment_stage_uses_the_rule_on_its_config():
    exp = load_experiment("demo")
    fp = fingerprints.train_fingerprint(exp, "humpback")
    from harness.training.data import ASSEMBLY_VERSION

    assembly = {
        k: v for k, v in dataclasses.asdict(exp.train).items() if k not in fingerprints.TRAIN_KEYS_NOT_LEARNED
    }
    assembly |= {"n": exp.train.n, "assembly": "shared", "version": ASSEMBLY_VERSION}
    assert fp == train_fingerprint(
        exp.train.recipe,
        base=base_identity(exp),
        data=assembly,
        upstream={"build": fingerprints.build_fingerprint(exp, "humpback"), "dataset": fingerprints.UNBUILT},
    )
    # a change to how training sets are assembled, to the recipe, or to one dataset's build
    assert fingerprints.train_fingerprint(load_experiment("demo", ["train.n=10"]), "humpback") != fp
    assert (
        fingerprints.train_fingerprint(load_experiment("demo", ["train.learning_rate=2e-3"]), "humpback")
        != fp
    )
    changed = load_experiment("demo", ["datasets.humpback.options.iterations=1"])
    assert fingerprints.train_fingerprint(changed, "humpback") != fp
    assert fingerprints.train_fingerprint(changed, "back_and_forth") == fingerprints.train_fingerprint(
        exp, "back_and_forth"
    )
    assert fingerprints.train_fingerprint(load_experiment("demo", ["train.save_steps=3"]), "humpback") == fp
    assert (
        fingerprints.train_fingerprint(load_experiment("demo", ["datasets.humpback.n=10"]), "humpback") != fp
    )
    assert (
        fingerprints.train_fingerprint(load_experiment("demo", ["train.checkpoints=[2]"]), "humpback") != fp
    )


def test_a_local_responder_s_weights_enter_the_build_fingerprint(tiny_model, tmp_path):
    """A fixed responder (or any builder model) named as a local directory: new weights at the same path
    make a new build fingerprint, so the dataset is rebuilt; a hub id or @-reference adds nothing."""
    import shutil

    model = tmp_path / "responder"
    shutil.copytree(tiny_model, model)
    over = [
        "datasets.fixed.builder=fixed_responder",
        "datasets.fixed.options.instructions_from=distillation",
        f"datasets.fixed.options.responder=hf:{model}",
    ]
    before = fingerprints.build_fingerprint(load_experiment("demo", over), "fixed")
    assert fingerprints.build_fingerprint(load_experiment("demo", over), "fixed") == before
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert fingerprints.build_fingerprint(load_experiment("demo", over), "fixed") != before
    hub = [*over[:2], "datasets.fixed.options.responder=vllm:org/model"]
    assert fingerprints.local_model_identities(load_experiment("demo", hub).datasets["fixed"]) == {}
    assert fingerprints.local_model_identities(load_experiment("demo").datasets["humpback"]) == {}


def test_a_dataset_made_from_another_rebuilds_when_that_one_is_rebuilt_with_other_records(
    tmp_path, tiny_model
):
    """A forced or nondeterministic rebuild of an input dataset that writes other records, under the same
    config fingerprint, changes the build-stage fingerprint of the dataset made from it (a fixed
    responder's), and the analysis's; a dataset without inputs keeps its config fingerprint."""
    import dataclasses

    from harness.core.io import write_json
    from harness.core.runs import MANIFEST, describe_outputs, read_manifest
    from harness.stages import analyze, build

    over = [
        "datasets.fixed.builder=fixed_responder",
        "datasets.fixed.options.instructions_from=sharegpt",
        f"datasets.fixed.options.responder=hf:{tiny_model}",
    ]
    exp = load_experiment("demo", over)
    assert fingerprints.build_stage_fingerprint(exp, "sharegpt", tmp_path) == fingerprints.build_fingerprint(
        exp, "sharegpt"
    )
    unbuilt = fingerprints.build_stage_fingerprint(exp, "fixed", tmp_path)
    [sharegpt] = build.run(exp, tmp_path, only=["sharegpt"])
    built = fingerprints.build_stage_fingerprint(exp, "fixed", tmp_path)
    analysis = analyze.analysis_fingerprint(exp, with_outputs=False, runs_dir=tmp_path)
    assert built != unbuilt

    data = sharegpt.directory / "dataset.jsonl"  # the rebuild wrote other records; its manifest says so
    data.write_text("".join(data.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")
    m = read_manifest(sharegpt.directory)
    write_json(
        sharegpt.directory / MANIFEST,
        dataclasses.replace(m, outputs=describe_outputs(sharegpt.directory, list(m.outputs))).to_dict(),
    )
    assert fingerprints.build_stage_fingerprint(exp, "fixed", tmp_path) not in (built, unbuilt)
    assert analyze.analysis_fingerprint(exp, with_outputs=False, runs_dir=tmp_path) != analysis
    assert fingerprints.build_fingerprint(exp, "sharegpt") == fingerprints.build_stage_fingerprint(
        exp, "sharegpt", tmp_path
    )
