"""Every builder end to end on the tiny model (hf): counts, provenance, stable ids, caching,
and a crash in the rewrite step that leaves the trained sub-stage models alone."""

from __future__ import annotations

import json

import pytest

from harness.core.io import read_jsonl
from harness.core.records import provenance_of
from harness.core.runs import read_manifest

WEB_BUILDERS = ("back_and_forth", "humpback", "distillation", "strict")


def _records(outcome):
    """The dataset's rows with their provenance read back as a dict."""
    return [
        {**r, "provenance": provenance_of(r["provenance"])}
        for r in read_jsonl(outcome.directory / "dataset.jsonl")
    ]


def test_every_dataset_is_built_with_counts_that_add_up(built):
    exp, runs, outcomes = built
    assert set(outcomes) == set(exp.datasets)
    for name, o in outcomes.items():
        m = o.manifest
        assert m.ok
        steps = m.stats.steps
        assert steps, name
        for step, s in steps.items():
            assert s["kept"] + sum(s["dropped"].values()) == s["seen"], (name, step, s)
        assert m.stats.records == m.records("dataset.jsonl")
        # each step sees what the one before it kept (Humpback: every round re-rates all augmented pairs)
        seq = [(k, v) for k, v in steps.items() if not (name == "humpback" and k == "curate_m0")]
        for (_, before), (_, after) in zip(seq, seq[1:]):
            assert after["seen"] == before["kept"], (name, steps)
        if name == "humpback":
            assert steps["curate_m0"]["seen"] == steps["backtranslate"]["kept"]
        drops = read_jsonl(o.directory / "drops.jsonl")
        written = sum(sum(v for r, v in s["dropped"].items() if r != "not_sampled") for s in steps.values())
        assert len(drops) == written
        assert all({"step", "reason", "id"} <= d.keys() for d in drops)


def test_the_robust_options_give_non_empty_datasets_and_strict_parsing_counts_failures(built):
    _, _, outcomes = built
    for name in ("back_and_forth", "humpback", "distillation", "alpaca_gpt4", "sharegpt"):
        assert _records(outcomes[name]), name
    assert len(_records(outcomes["alpaca_gpt4"])) == 20  # sampled to n
    strict = outcomes["strict"].manifest.stats.to_dict()
    curate = strict["steps"]["curate"]
    # the tiny model never writes "Score: N"; every failure is a counted drop, none a crash
    assert strict["parse_failures"]["text_parse_failures"] == curate["seen"] - curate["kept"]
    assert (
        sum(n for r, n in curate["dropped"].items() if r.startswith("score_"))
        == curate["seen"] - curate["kept"]
    )
    bf = outcomes["back_and_forth"].manifest.stats.to_dict()
    assert (
        bf["parse_failures"]["missing_res"] + bf["parse_failures"]["unclosed_res"] > 0
    )  # rescued, still counted
    assert bf["steps"]["curate"]["logprob_failures"] == 0


def test_provenance_on_every_record(built):
    _, _, outcomes = built
    for name in WEB_BUILDERS:
        for r in _records(outcomes[name]):
            p = r["provenance"]
            assert p["origin"] == "web"
            assert p["document_id"] and p["web_text"] and p["instruction"] == r["messages"][0]["content"]
            assert "score" in p and "judge_text" in p, name
    for r in _records(outcomes["back_and_forth"]):
        p = r["provenance"]
        assert p["rewritten"] and p["rewrite_raw"] is not None and p["variant"] == "filtering+rewriting"
        assert r["messages"][1]["content"] != p["web_text"] or p["rewrite_parse_failure"] is None
    for r in _records(outcomes["humpback"]):
        assert r["messages"][1]["content"] == r["provenance"]["web_text"]  # Humpback keeps the web text
        assert r["provenance"]["curation_step"] == "curate_m1"
    for r in _records(outcomes["distillation"]):
        assert r["provenance"]["distilled"]
    for name in ("alpaca_gpt4", "sharegpt"):
        assert all(r["provenance"]["dataset"] == name for r in _records(outcomes[name]))


def test_distillation_answers_back_and_forths_instructions(built):
    _, _, outcomes = built
    filtered = {
        r["provenance"]["document_id"]: r["provenance"]["instruction"]
        for r in _records(outcomes["back_and_forth"])
    }
    distilled = {
        r["provenance"]["document_id"]: r["provenance"]["instruction"]
        for r in _records(outcomes["distillation"])
    }
    assert distilled and set(filtered) <= set(distilled)
    assert all(distilled[d] == filtered[d] for d in filtered)


def test_distillation_from_an_instruction_pool(built):
    _, _, outcomes = built
    o = outcomes["distill_pool"]
    assert o.manifest.stats.steps["instructions"]["dropped"] == {"no_instruction": 2}
    recs = _records(o)
    assert sorted(r["messages"][0]["content"] for r in recs) == ["Name a prime number.", "What is a list?"]
    assert [r["id"] for r in recs] == sorted(r["id"] for r in recs)  # dataset.jsonl is in record-id order
    assert all(r["messages"][1]["content"] and r["provenance"]["pool_line"] for r in recs)


def test_humpback_and_back_and_forth_share_the_backward_and_seed_models(built):
    _, runs, outcomes = built
    sub = {name: outcomes[name].manifest.stats.substages for name in ("back_and_forth", "humpback")}
    for purpose in ("backward", "seed_model"):
        assert sub["back_and_forth"][purpose]["directory"] == sub["humpback"][purpose]["directory"]
    assert "humpback_m1" in sub["humpback"]
    shared = outcomes["humpback"].directory.parent / "_shared"
    assert sorted(p.name.split("-")[0] for p in shared.iterdir()) == ["backward", "humpback_m1", "seed_model"]


def test_each_model_engine_starts_once_per_build(built):
    """One engine per model per process: backtranslate, curate, rewrite and answer with one model,
    over five datasets, load it once; the manifests count the starts and their seconds."""
    from _support import engine_starts, substage_models

    _, runs, outcomes = built
    build_dir = next(iter(outcomes.values())).directory.parent
    starts = engine_starts(build_dir)
    assert set(starts) == substage_models(build_dir) and len(starts) == 3  # backward, seed model, humpback M1
    assert all(n == 1 for n in starts.values()), starts
    assert all(o.manifest.stats.engine_start_s >= 0 for o in outcomes.values())


def test_rerun_is_a_cache_hit(built):
    from harness.stages import build

    exp, runs, _ = built
    again = build.run(exp, runs)
    assert all(o.skipped for o in again)


def test_crash_in_rewrite_keeps_trained_models_and_ids_are_stable(built, monkeypatch):
    """Kill the rewrite step, rebuild without the request cache: no retraining, the same records."""
    from datasets_builders import common
    from harness.stages import build, paths

    exp, runs, outcomes = built
    before = _records(outcomes["back_and_forth"])
    shared = paths.shared_dir(exp, runs)
    manifests = {p.name: (p / "manifest.json").read_text() for p in shared.iterdir()}

    def boom(*args, **kwargs):
        raise RuntimeError("injected crash in rewrite")

    monkeypatch.setattr(common, "rewrite", boom)
    with pytest.raises(RuntimeError, match="injected"):
        build.run(exp, runs, only=["back_and_forth"], force=True)
    assert read_manifest(paths.build_dir(exp, "back_and_forth", runs)).status == "failed"
    monkeypatch.undo()

    paths.request_cache(exp, runs).unlink()  # regenerate everything: per-request seeds make it reproducible
    for suffix in ("-wal", "-shm"):
        paths.request_cache(exp, runs).with_name(f"requests.sqlite{suffix}").unlink(missing_ok=True)
    (rebuilt,) = build.run(exp, runs, only=["back_and_forth"])
    assert not rebuilt.skipped
    assert all(s["skipped"] for s in rebuilt.manifest.stats.substages.values())
    assert {p.name: (p / "manifest.json").read_text() for p in shared.iterdir()} == manifests
    assert [r["id"] for r in _records(rebuilt)] == [r["id"] for r in before]
    assert json.dumps(_records(rebuilt)) == json.dumps(before)


def test_cli_prints_one_line_per_step(built, build_experiment):
    from _support import run_harness

    path, runs = build_experiment
    r = run_harness("build", "--config", str(path), "--runs-dir", str(runs), "--only", "humpback")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "build humpback: cached" in out
    for step in ("corpus:", "backtranslate:", "curate_m0:", "curate_m1:", "final_dedup:"):
        assert step in out
    bad = run_harness(
        "build", "--config", str(path), "--runs-dir", str(runs), "datasets.humpback.options.treshold=3"
    )
    assert bad.returncode == 2 and "did you mean 'datasets.humpback.options.threshold'" in bad.stderr
