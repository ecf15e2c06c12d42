"""Judges without a model: specs, annotator configs, prompts and order as alpaca_eval makes them,
parsing (including failures), the alpaca_eval API judge's key check, cache placement and cost."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest
from _support import recompute_preference, weighted_preference

from harness.core.errors import BackendError, ConfigError
from harness.core.records import Generation
from harness.evaluation import judges, metrics


@pytest.fixture(scope="module")
def ae1_rows(alpaca_eval_data: Path) -> list[dict]:
    return json.loads((alpaca_eval_data / "annotations_ae1" / "alpaca-7b.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ae2_rows(alpaca_eval_data: Path) -> list[dict]:
    return json.loads((alpaca_eval_data / "annotations_ae2" / "vicuna-13b.json").read_text(encoding="utf-8"))


def test_parse_judge_specs() -> None:
    s = judges.parse_judge("local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=20:openai:m@http://h:1/v1")
    assert (s.kind, s.annotator, s.model, s.top_logprobs) == (
        "local",
        "weighted_alpaca_eval_gpt4_turbo",
        "openai:m@http://h:1/v1",
        20,
    )
    assert str(s) == "local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=20:openai:m@http://h:1/v1"
    assert judges.parse_judge("local:alpaca_eval_gpt4:@base").model == "@base"
    assert str(judges.parse_judge("alpaca_eval:alpaca_eval_gpt4")) == "alpaca_eval:alpaca_eval_gpt4"
    with pytest.raises(ConfigError, match="did you mean 'alpaca_eval_gpt4'"):
        judges.parse_judge("alpaca_eval:alpaca_eval_gpt")
    with pytest.raises(ConfigError, match="names no judge model"):
        judges.parse_judge("local:alpaca_eval_gpt4")
    with pytest.raises(ConfigError, match="bad option"):
        judges.parse_judge("local:alpaca_eval_gpt4,top=3:hf:/x")
    with pytest.raises(BackendError, match="unknown backend"):
        judges.parse_judge("local:alpaca_eval_gpt4:hff:/x")
    with pytest.raises(ConfigError):
        judges.parse_judge("gpt4")


def test_annotator_configs_come_from_the_installed_package() -> None:
    import alpaca_eval.constants

    root = Path(alpaca_eval.constants.EVALUATORS_CONFIG_DIR)
    w = judges.load_annotator("weighted_alpaca_eval_gpt4_turbo")
    assert w.weighted and w.parser == "logprob_parser" and w.randomize and w.batch_size == 1
    assert w.parser_kwargs == {"numerator_token": "m", "denominator_tokens": ["m", "M"], "is_binarize": False}
    assert Path(w.template_path) == root / "alpaca_eval_clf_gpt4_turbo" / "alpaca_eval_clf.txt"
    g = judges.load_annotator("alpaca_eval_gpt4")
    assert (g.parser, g.weighted, g.completions_kwargs["max_tokens"]) == ("ranking_parser", False, 100)
    assert Path(g.template_path).read_text(encoding="utf-8") == g.template


@pytest.mark.parametrize("annotator", ["alpaca_eval_gpt4", "weighted_alpaca_eval_gpt4_turbo"])
def test_prompts_and_output_order_match_alpaca_evals_annotator(annotator: str, ae1_rows: list[dict]) -> None:
    """Our rendered prompt for each pair = the prompt alpaca_eval's own annotator builds (with its switch)."""
    import pandas as pd
    from alpaca_eval.annotators import PairwiseAnnotator

    rows = [r for r in ae1_rows[:12] if r["output_1"] != r["output_2"]]
    single = next(
        iter(PairwiseAnnotator(annotators_config=annotator, caching_path=None, seed=0).annotators.values())
    )
    df = single._preprocess(
        pd.DataFrame([{k: r[k] for k in ("instruction", "output_1", "output_2")} for r in rows])
    )
    prompts, df = single._make_prompts(df)
    theirs = dict(zip(df["instruction"], zip(prompts, df["is_switched_outputs"])))
    cfg = judges.load_annotator(annotator)
    switched = 0
    for r in rows:
        swap = metrics.alpaca_eval_switched(r["instruction"])
        shown = (r["output_2"], r["output_1"]) if swap else (r["output_1"], r["output_2"])
        assert (judges.render_prompt(cfg, r["instruction"], *shown), swap) == theirs[r["instruction"]]
        switched += swap
    assert 0 < switched < len(rows)  # both orders occur


def test_chatml_prompt_becomes_messages() -> None:
    cfg = judges.load_annotator("weighted_alpaca_eval_gpt4_turbo")
    msgs = judges.chatml_messages(judges.render_prompt(cfg, "Say hi", "hi", "hello"))
    assert [m.role for m in msgs] == ["system", "user"]
    assert '"""Say hi"""' in msgs[1].content and "<|im_end|>" not in msgs[1].content


def _from_raw(raw: dict) -> Generation:
    content = raw["logprobs"]["content"][0]
    top = tuple((t["token"], t["logprob"]) for t in content["top_logprobs"])
    return Generation("x", raw["message"]["content"], raw.get("finish_reason", "length"), 100, 1, top)


def test_weighted_parse_reproduces_real_ae2_preferences(ae2_rows: list[dict]) -> None:
    """GPT-4-turbo's stored top logprobs through our parser give the stored preferences (after the switch)."""
    import ast

    cfg = judges.load_annotator("weighted_alpaca_eval_gpt4_turbo")
    checked = 0
    for row in ae2_rows[:40]:
        if row["output_1"] == row["output_2"] or not row.get("raw_completion"):
            continue
        stored = row["raw_completion"]
        stored = ast.literal_eval(stored) if isinstance(stored, str) else stored
        pref, raw, err = judges.parse_completion(cfg, _from_raw(stored))
        assert err is None
        if metrics.alpaca_eval_switched(row["instruction"]):
            pref = 3 - pref
        assert pref == pytest.approx(row["preference"], abs=1e-6)
        assert weighted_preference(raw) == pytest.approx(
            3 - pref if metrics.alpaca_eval_switched(row["instruction"]) else pref, abs=1e-12
        )
        checked += 1
    assert checked >= 35


def test_unparseable_judge_outputs_are_null_with_a_reason() -> None:
    ranking = judges.load_annotator("alpaca_eval_gpt4")
    weighted = judges.load_annotator("weighted_alpaca_eval_gpt4_turbo")
    good = "[{'model': 'model_1', 'rank': 2}, {'model': 'model_2', 'rank': 1}]"
    assert judges.parse_completion(ranking, Generation("a", good, "stop", 9, 9))[::2] == (2.0, None)
    cases = [
        (ranking, Generation("a", "model_1 is better, clearly", "stop", 9, 9), "ranking_parser"),
        (ranking, Generation("a", "[{'model': 'model_1', 'rank': 3}]", "stop", 9, 9), "ranking_parser"),
        (ranking, Generation("a", "  ", "length", 9, 9), "empty"),
        (ranking, Generation("a", "", "prompt_too_long", 5000, 0), "does not fit"),
        (weighted, Generation("a", "x", "length", 9, 1, (("x", -0.1), ("y", -2.0))), "none of ['M', 'm']"),
        (weighted, Generation("a", "Both", "length", 9, 1, None), "not one of the annotator's tokens"),
    ]
    for cfg, gen, reason in cases:
        pref, _, err = judges.parse_completion(cfg, gen)
        assert pref is None and reason in err, (gen, err)
    # without logprobs a weighted annotator's one-token answer is read as a hard choice
    assert judges.parse_completion(weighted, Generation("a", "M", "length", 9, 1))[0] == 2.0
    # a draw only when the parser says so: missing "M" in the top list is p(m)=1, not a tie
    assert judges.parse_completion(weighted, Generation("a", "m", "length", 9, 1, (("m", -0.5),)))[0] == 1.0


def test_wide_top_logprobs_are_trimmed_in_raw_completion() -> None:
    weighted = judges.load_annotator("weighted_alpaca_eval_gpt4_turbo")
    top = tuple((f"t{i}", -float(i)) for i in range(100)) + (("M", -200.0), ("m", -201.0))
    pref, raw, err = judges.parse_completion(weighted, Generation("a", "t0", "length", 9, 1, top))
    kept = [t["token"] for t in raw["logprobs"]["content"][0]["top_logprobs"]]
    assert kept == ["t0", "t1", "t2", "t3", "t4", "M", "m"]
    assert err is None and pref == pytest.approx(2 - 1 / (1 + math.e))
    assert weighted_preference(raw) == pytest.approx(pref)


def test_api_judge_needs_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_CLIENT_CONFIG_PATH", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as e:
        judges.judge_with_alpaca_eval(
            "alpaca_eval_gpt4", [{"instruction": "q", "output_1": "a", "output_2": "b"}], output_dir=tmp_path
        )
    assert "local:alpaca_eval_gpt4:<model spec>" in str(e.value)


def test_api_judge_cache_lives_in_the_run_directory(tmp_path: Path) -> None:
    import alpaca_eval.constants

    configs = Path(alpaca_eval.constants.EVALUATORS_CONFIG_DIR)
    before = sorted(p.name for p in configs.rglob("*"))
    ann = judges.make_api_annotator("weighted_alpaca_eval_gpt4_turbo", tmp_path / "run")
    assert (
        Path(ann.caching_path)
        == tmp_path / "run" / "alpaca_eval_cache" / "annotations_seed0_weighted_alpaca_eval_gpt4_turbo.json"
    )
    assert ann.seed == 0
    assert sorted(p.name for p in configs.rglob("*")) == before  # nothing written into site-packages


def test_api_cost_estimate_is_tokens_times_alpaca_evals_price(ae1_rows: list[dict]) -> None:
    pairs = ae1_rows[:20]
    est = judges.estimate_api_cost("alpaca_eval_gpt4", pairs)
    cfg = judges.load_annotator("alpaca_eval_gpt4")
    chars = sum(
        len(judges.render_prompt(cfg, p["instruction"], p["output_1"], p["output_2"]))
        for p in pairs
        if p["output_1"] != p["output_2"]
    )
    assert est["n_judgments"] == sum(p["output_1"] != p["output_2"] for p in pairs)
    assert est["prompt_tokens"] == chars // 4
    assert est["completion_tokens"] == 100 * est["n_judgments"]
    assert est["price_per_token"] == pytest.approx(0.03 / 1000)  # alpaca_eval's table for gpt-4
    assert est["usd"] == pytest.approx(est["total_tokens"] * 0.03 / 1000, abs=1e-4)
    # alpaca_eval's evaluator leaderboard lists ~$13.6 per 1000 examples for this annotator
    assert est["usd_leaderboard"] == pytest.approx(13.601944 * est["n_judgments"] / 1000, abs=1e-3)
    turbo = judges.estimate_api_cost("weighted_alpaca_eval_gpt4_turbo", pairs)
    assert (
        turbo["price_per_token"] == pytest.approx(0.01 / 1000)
        and turbo["completion_tokens"] == turbo["n_judgments"]
    )


def test_api_judge_runs_alpaca_evals_annotator_with_the_network_call_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ae1_rows: list[dict]
) -> None:
    """Offline, only alpaca_eval's single OpenAI request is replaced; its annotator, switch, parser,
    price and cache run for real, and the result agrees with our own parsing of the same completions."""
    import alpaca_eval.decoders.openai as openai_decoder

    calls = []

    def fake_request(args, **kwargs):  # stands in for one OpenAI chat completion
        prompt_batch, _ = args
        calls.append(prompt_batch)
        top = [
            {"token": "m", "logprob": -0.3},
            {"token": "M", "logprob": -1.5},
            {"token": "x", "logprob": -4.0},
        ]
        return [
            {
                "text": "m",
                "total_tokens": 700,
                "finish_reason": "length",
                "index": 0,
                "message": {"content": "m", "role": "assistant"},
                "logprobs": {"content": [{"token": "m", "logprob": -0.3, "top_logprobs": top}]},
            }
            for _ in prompt_batch
        ]

    monkeypatch.setattr(openai_decoder, "_openai_completion_helper", fake_request)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-offline-test")
    pairs = [r for r in ae1_rows[:8] if r["output_1"] != r["output_2"]]
    run = judges.judge_with_alpaca_eval("weighted_alpaca_eval_gpt4_turbo", pairs, output_dir=tmp_path)
    assert len(calls) == len(pairs) and len(run.annotations) == len(pairs)
    assert (
        tmp_path / "alpaca_eval_cache" / "annotations_seed0_weighted_alpaca_eval_gpt4_turbo.json"
    ).is_file()
    for a in run.annotations:
        assert a["preference"] == pytest.approx(recompute_preference(a), abs=1e-12)
    assert {round(a["preference"], 6) for a in run.annotations} == {
        round(2 - 1 / (1 + math.exp(-1.2)), 6),
        round(1 + 1 / (1 + math.exp(-1.2)), 6),
    }  # both orders were shown
    assert run.stats["api_total_tokens"] == 700 * len(pairs)
    assert run.stats["api_usd"] == pytest.approx(700 * len(pairs) * 0.01 / 1000, abs=1e-4)
    # a second run is served by alpaca_eval's cache in the run directory: no request
    again = judges.judge_with_alpaca_eval("weighted_alpaca_eval_gpt4_turbo", pairs, output_dir=tmp_path)
    assert len(calls) == len(pairs)
    # (alpaca_eval's JSON cache keeps 10 decimals)
    assert [a["preference"] for a in again.annotations] == pytest.approx(
        [a["preference"] for a in run.annotations], abs=1e-9
    )


def test_api_judge_run_prints_cost_before_and_tokens_after(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, alpaca_eval_data: Path, capsys
) -> None:
    import alpaca_eval.decoders.openai as openai_decoder

    from harness.cli import main

    def fake_request(args, **kwargs):  # one OpenAI chat completion, answered offline
        top = [{"token": "M", "logprob": -0.2}, {"token": "m", "logprob": -1.8}]
        return [
            {
                "text": "M",
                "total_tokens": 650,
                "logprobs": {"content": [{"token": "M", "logprob": -0.2, "top_logprobs": top}]},
            }
            for _ in args[0]
        ]

    monkeypatch.setattr(openai_decoder, "_openai_completion_helper", fake_request)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-offline-test")
    server = socket.create_server(("127.0.0.1", 0))  # the judge's reachability check connects to it
    monkeypatch.setenv("OPENAI_API_BASE", f"http://127.0.0.1:{server.getsockname()[1]}/v1")
    monkeypatch.delenv("OPENAI_CLIENT_CONFIG_PATH", raising=False)
    refs = alpaca_eval_data / "model_outputs" / "text_davinci_003.json"
    outputs = json.loads((alpaca_eval_data / "model_outputs" / "alpaca-7b.json").read_text(encoding="utf-8"))
    model_outputs = tmp_path / "alpaca-7b.json"
    model_outputs.write_text(json.dumps(outputs), encoding="utf-8")
    rc = main(
        [
            "eval",
            "--model-outputs",
            str(model_outputs),
            "--judge",
            "alpaca_eval:weighted_alpaca_eval_gpt4_turbo",
            "--eval-set",
            str(refs),
            "--max-instances",
            "5",
            "--output",
            str(tmp_path / "out"),
            "--no-cache",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert (
        "judge cost estimate: 5 judgments by weighted_alpaca_eval_gpt4_turbo (gpt-4-1106-preview)"
        in " ".join(captured.err.split())
    )
    assert "judge tokens spent: 3,250 ($0.0325)" in captured.out
    server.close()
    m = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert m["tokens"]["judge"] == 3250 and m["cost_estimate"]["n_judgments"] == 5 and m["n_total"] == 5
