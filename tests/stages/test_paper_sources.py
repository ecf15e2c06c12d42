"""The shipped paper configs' data stages - seed, corpus, baselines, eval set - as the configs name
them (hub ids, pins, Dolma's URL list), run at tiny scale on the replicas of the real repositories
(`tests/fixtures/hub/`) through `HARNESS_HUB_MIRROR`, Dolma's files served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.core import sources
from tests.builders.test_real_sources import HUB, dolma_server, mirror  # noqa: F401  (fixtures)

CONFIGS = ("paper-7b", "paper-70b", "paper-7b-instructions", "paper-humpback")


@pytest.fixture
def real_eval_set(mirror, alpaca_eval_data):  # noqa: F811
    """The replica's AlpacaEval files hold the real 805 references of both protocols."""
    from harness.evaluation.eval_set import PROTOCOLS

    for proto in PROTOCOLS.values():
        rows = json.loads((alpaca_eval_data / "model_outputs" / f"{proto.reference}.json").read_text())
        (mirror / "tatsu-lab" / "alpaca_eval" / proto.hub_file).write_text(json.dumps(rows))
    return mirror


@pytest.mark.parametrize("config", CONFIGS)
def test_paper_data_stages_on_the_replicas(config, real_eval_set, tmp_path):
    from datasets_builders.corpus import iter_documents
    from datasets_builders.seed import load_seed
    from datasets_builders.steps import StepLog
    from harness.core.io import read_json
    from harness.evaluation.eval_set import load_eval_set
    from harness.experiment import load_experiment
    from harness.stages import build, paths

    exp0 = load_experiment(config)
    assert exp0.seed_data.source.endswith("@fdf72ae0827c1cda404aff25b6603abec9e3399b")
    assert (exp0.corpus.source, exp0.corpus.url_list) == ("hub:allenai/dolma", "urls/v1.txt")
    baselines = [n for n, s in exp0.datasets.items() if s.builder == "baseline"]
    overrides = [
        "base_model=tiny:tiny",
        "backend=hf",
        "seed_data.n=3",
        "corpus.max_documents=5",
        *[f"datasets.{n}.options.n=3" for n in baselines],
    ]
    exp = load_experiment(config, overrides)

    seed = load_seed(exp.seed_data)
    assert len(seed) == 3 and all(r.provenance["origin"] == "seed" for r in seed)
    log = StepLog(None)
    with log.step("corpus") as s:
        docs = list(iter_documents(exp.corpus, s, origins=log.sources))
    assert len(docs) == 5 and all("/cc_en_head/" in d.source for d in docs)
    rows = load_eval_set(exp.eval.eval_set, exp.eval.protocol)
    assert len(rows) == 805

    runs = tmp_path / "runs"
    outcomes = build.run(exp, runs, only=baselines)
    for o in outcomes:
        manifest = read_json(o.directory / "manifest.json")
        assert manifest["stats"]["records"] == 3, o.directory
        loader = (
            exp.datasets[o.directory.name].options["loader"] if o.directory.name in exp.datasets else None
        )
        if loader and loader != "oasst":  # a hub baseline records where its rows came from
            assert manifest["stats"]["sources"][0]["source"].startswith(("hub:", "github:")), manifest[
                "stats"
            ]
    assert {paths.build_dir(exp, n, runs) for n in baselines} == {o.directory for o in outcomes}


def test_a_copy_of_another_commit_than_the_pin_is_refused_before_work(real_eval_set, tmp_path, monkeypatch):
    """Another commit of oasst1 in the mirror than the configs pin: refused before any work."""
    from harness.core.errors import ConfigError
    from harness.experiment import load_experiment
    from harness.stages import build

    moved = tmp_path / "moved"
    shutil.copytree(real_eval_set, moved)
    for meta in (moved / "OpenAssistant" / "oasst1" / ".cache").rglob("*.metadata"):
        meta.write_text("3" * 40 + "\netag\n0\n")
    monkeypatch.setenv(sources.MIRROR_ENV, str(moved))
    with pytest.raises(ConfigError, match="the config pins fdf72ae0827c"):  # when the experiment loads
        exp = load_experiment("paper-humpback", ["base_model=tiny:tiny", "backend=hf", "seed_data.n=3"])
        build.run(exp, tmp_path / "runs", only=["seed_only"])
    assert not (tmp_path / "runs").exists() or not any(Path(tmp_path / "runs").rglob("dataset.jsonl"))
