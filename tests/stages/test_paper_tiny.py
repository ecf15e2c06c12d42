"""Every shipped paper experiment end to end at tiny scale: the tiny model, the bundled seed and eval
sets, stdlib docstrings as the corpus, a few records and tokens, a local judge - the papers' rows,
ablations, fixed-responder rows and the MAUVE web-text set all built, trained, judged and reported.

`tiny_overlay(exp)` turns a paper experiment into its tiny twin with dotted overrides only: the same
datasets, builders and variants, every helper model replaced by the tiny seed/backward models, every
hub source by a bundled or written file. All experiments run under one name in one runs directory,
so a dataset whose tiny settings are the same in two experiments is built and trained once.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from harness.core.io import read_json
from harness.core.io import read_jsonl as _read_jsonl
from harness.core.records import provenance_of

CONFIGS = ("paper-7b", "paper-70b", "paper-7b-instructions", "paper-humpback")
MODEL_KEYS = {
    "backward_model": "@backward",
    "judge": "@seed_model",
    "rewriter": "@seed_model",
    "teacher": "@seed_model",
    "responder": "@seed_model",
}
# robust parsing for random models (as in demo.yaml), threshold 1 keeps every rated pair, few tokens;
# logprob scoring reads no sampled reply, so the paper configs' score_sampling is off here
# (tests/builders/test_score_sampling.py runs it on the tiny model); an 8-token cap cuts every
# rewrite and answer, which the paper configs' `truncated: drop` would drop (test_truncation_policy)
TINY_OPTIONS = {
    "score_mode": "logprobs",
    "score_sampling": "false",
    "logprobs_k": 2048,
    "threshold": 1.0,
    "missing_res": "keep_output",
    "truncated": "by_content",
    "instruction_max_tokens": 8,
    "score_max_tokens": 1,
    "rewrite_max_tokens": 8,
    "answer_max_tokens": 8,
}
# rows in each public dataset's own format, for the loaders that have no bundled demo file
BASELINE_ROWS = {
    "openorca": [
        {
            "id": f"o{i}",
            "system_prompt": "",
            "question": f"What is {i} plus {i}?",
            "response": f"{i} plus {i} is {2 * i}.",
        }
        for i in range(24)
    ],
    "evol_instruct": [
        {"instruction": f"List {i} colours.", "output": ", ".join(["red", "blue", "green"] * i)}
        for i in range(1, 25)
    ],
    "self_instruct": [
        {"prompt": f"Write the number {i} in words.\n\nOutput:", "completion": f" number {i}<|endoftext|>"}
        for i in range(24)
    ],
}


def read_jsonl(path):
    """A built dataset's rows, provenance parsed (it is stored as a JSON string)."""
    return [{**r, "provenance": provenance_of(r.get("provenance"))} for r in _read_jsonl(path)]


def tiny_overlay(exp, files: dict[str, Path]) -> list[str]:
    """Dotted overrides that make `exp` run on the tiny model in seconds, keeping its datasets."""
    from harness.stages.builders import builder_module

    out = [
        "name=tinypaper",
        "base_model=tiny:tiny",
        "backend=hf",
        "seed_data.source=bundled:demo",
        "seed_data.n=16",
        "corpus.source=stdlib",
        "corpus.data_files=null",
        "corpus.min_chars=200",
        "corpus.max_chars=1500",
        "corpus.max_tokens=null",
        "corpus.max_documents=24",
        "corpus.header_filter=false",
        "train.recipe=tiny",
        "train.n=8",
        "train.max_steps=2",
        "train.per_device_batch_size=4",
        "train.max_length=256",
        "helpers.num_epochs=null",  # the helpers as the rows: train.max_steps
        "eval.eval_set=bundled:demo",
        "eval.judge=local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:@base",
        "eval.max_instances=2",
        "eval.decoding.max_tokens=4",
        "decoding.max_tokens=12",
        "analysis.mauve_features=null",
        "analysis.mauve_seeds=1",
        "analysis.max_texts=50",
        "analysis.enabled=false",
    ]  # 2 eval outputs a row are too few to compare: refused with the analysis on
    if getattr(exp.train, "checkpoints", None):
        out.append("train.checkpoints=[1]")
    if exp.analysis.instruction_tagger:  # the tiny base model as the tagger (it writes no tags: counted)
        out += ["analysis.instruction_tagger=@base", "analysis.max_tagged=8", "analysis.tagger_max_tokens=8"]
    for name, spec in exp.datasets.items():
        if getattr(spec, "sizes", None):
            out.append(f"datasets.{name}.sizes=[4,8]")
        key = f"datasets.{name}.options"
        if spec.builder == "baseline":
            loader = spec.options["loader"]
            out.append(f"{key}.path={files[loader]}" if loader in files else f"{key}.path=null")
            continue
        fields = {f.name for f in dataclasses.fields(builder_module(spec.builder).Options)}
        out += [f"{key}.{k}={v}" for k, v in {**TINY_OPTIONS, **MODEL_KEYS}.items() if k in fields]
    return out


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory):
    """Each paper experiment's tiny twin run in turn (build, train, eval, analysis, report)."""
    from harness.experiment import load_experiment
    from harness.stages import analyze, build, evaluate, report, train

    root = tmp_path_factory.mktemp("papers")
    files = {}
    for loader, rows in BASELINE_ROWS.items():
        files[loader] = root / f"{loader}.jsonl"
        files[loader].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs, done, seconds = root / "runs", {}, {}
    for config in CONFIGS:
        t0 = time.perf_counter()
        overlay = tiny_overlay(load_experiment(config), files)
        exp = load_experiment(config, overlay)
        for stage in (build, train, evaluate):
            stage.run(exp, runs)
        if load_experiment(
            config
        ).analysis.web_text_of:  # the datasets' analysis (the MAUVE table) alone: its
            # fingerprint is the builds' and the analysis settings', so the eval's size is only for the load check
            analyze.run(
                load_experiment(config, [*overlay, "analysis.enabled=true", "eval.max_instances=20"]),
                runs,
                with_outputs=False,
            )
        done[config] = (exp, report.run(exp, runs, results_dir=root / "results", force=True))
        seconds[config] = round(time.perf_counter() - t0, 1)
    print(f"\ntiny paper experiments, seconds each: {seconds}")
    return runs, done


def test_every_row_of_every_paper_experiment_is_trained_and_judged(tiny_runs):
    _, done = tiny_runs
    for config, (exp, result) in done.items():
        rows = {r["dataset"]: r for r in result.board["rows"]}
        # variant rows (<name>@<N>, <name>@step<k>, <name>[tags=<v>]) carry their dataset's name first
        assert {n.split("@")[0].split("[")[0] for n in rows} == set(exp.datasets), config
        for name, r in rows.items():
            assert r["records"] and r["win_rate"] is not None and r["n_eval"] == 2, (config, name)
            assert r["label"] == exp.datasets[name.split("@")[0].split("[")[0]].label, (config, name)


def test_ablation_variants_differ_as_the_paper_says(tiny_runs):
    runs, done = tiny_runs
    exp, _ = done["paper-7b"]
    from harness.stages import paths

    recs = {
        n: read_jsonl(paths.build_dir(exp, n, runs) / "dataset.jsonl")
        for n in ("back_and_forth", "bf_filtering", "bf_rewriting")
    }
    assert all(r["provenance"].get("rewritten") for r in recs["back_and_forth"] + recs["bf_rewriting"])
    assert not any(r["provenance"].get("rewritten") for r in recs["bf_filtering"])
    assert all("score" in r["provenance"] for r in recs["bf_filtering"] + recs["back_and_forth"])
    assert not any("score" in r["provenance"] for r in recs["bf_rewriting"])


def test_fixed_responder_rows_answer_their_sources_instructions(tiny_runs):
    runs, done = tiny_runs
    exp, _ = done["paper-7b-instructions"]
    from harness.stages import paths

    for name in ("fixed_back_and_forth", "fixed_humpback", "fixed_sharegpt", "fixed_openorca"):
        source = exp.datasets[name].options["instructions_from"]
        mine = read_jsonl(paths.build_dir(exp, name, runs) / "dataset.jsonl")
        theirs = {
            m["content"].strip()
            for r in read_jsonl(paths.build_dir(exp, source, runs) / "dataset.jsonl")
            for m in r["messages"][:2]
            if m["role"] == "user"
        }
        assert mine and {r["messages"][0]["content"] for r in mine} <= theirs, name
        assert all(r["provenance"]["distilled"] and r["source"] == f"fixed_responder:{source}" for r in mine)


def test_the_mauve_table_compares_distilled_rewritten_and_web_text(tiny_runs):
    runs, done = tiny_runs
    exp, _ = done["paper-7b"]
    from harness.stages import paths

    report = read_json(paths.analysis_dir(exp, runs) / "responses.json")
    pairs = {frozenset((p["a"], p["b"])) for p in report["pairs"]}
    assert {
        frozenset(("distillation", "back_and_forth")),
        frozenset(("distillation", "back_and_forth:web_text")),
    } <= pairs
    # the paper config's instruction-complexity analysis ran too (on the tiny tagger: nothing readable)
    tags = read_json(paths.analysis_dir(exp, runs) / "instruction_tags.json")
    assert set(tags["sets"]) == set(exp.datasets) and all(
        0 < s["instructions"] <= 8 for s in tags["sets"].values()
    )


def test_humpback_iteration_ablation_rows(tiny_runs):
    runs, done = tiny_runs
    exp, _ = done["paper-humpback"]
    from harness.core.runs import read_manifest
    from harness.stages import paths

    m1 = read_manifest(paths.build_dir(exp, "humpback_m1", runs)).stats
    m0 = read_manifest(paths.build_dir(exp, "humpback_m0", runs)).stats
    assert "curate_m1" in m1.steps and "humpback_m1" in m1.substages
    assert "curate_m1" not in m0.steps and not any(k.startswith("humpback_m") for k in m0.substages)
    assert all(
        r["provenance"]["document_meta"].get("segment") is not None
        for r in read_jsonl(paths.build_dir(exp, "humpback_m0", runs) / "dataset.jsonl")
    )
