"""The eval-set loader: alpaca_eval's files and format, the max_instances subset, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import ConfigError, InputError
from harness.evaluation import eval_set as es


def test_local_json_and_jsonl_load_the_same_rows(alpaca_eval_data: Path, tmp_path: Path) -> None:
    path = alpaca_eval_data / "model_outputs" / "text_davinci_003.json"
    rows = es.load_eval_set(str(path), "alpaca_eval_1")
    assert len(rows) == 805
    assert rows[0]["generator"] == "text_davinci_003"
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows[:7]), encoding="utf-8")
    assert es.load_eval_set(str(jsonl), "alpaca_eval_2") == rows[:7]


def test_bundled_demo_set() -> None:
    rows = es.load_eval_set("bundled:demo")
    assert len(rows) == 30
    assert all(r["instruction"] and isinstance(r["output"], str) for r in rows)
    with pytest.raises(ConfigError, match="bundled sets: demo"):
        es.load_eval_set("bundled:nope")


def test_hub_offline_says_to_pass_a_local_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="local copy") as e:
        es.load_eval_set("hub", "alpaca_eval_2")
    assert "tatsu-lab/alpaca_eval" in str(e.value)


def test_protocols_name_the_papers_and_leaderboard_settings() -> None:
    assert (es.get_protocol("alpaca_eval_1").reference, es.get_protocol("alpaca_eval_1").annotator) == (
        "text_davinci_003",
        "alpaca_eval_gpt4",
    )
    assert (es.get_protocol("alpaca_eval_2").reference, es.get_protocol("alpaca_eval_2").annotator) == (
        "gpt4_1106_preview",
        "weighted_alpaca_eval_gpt4_turbo",
    )
    with pytest.raises(ConfigError, match="alpaca_eval_2"):
        es.get_protocol("alpaca_eval2")


def test_max_instances_takes_alpaca_evals_subset(alpaca_eval_data: Path) -> None:
    """The same rows alpaca_eval.main.evaluate keeps: its reference DataFrame shuffled with seed 123."""
    from alpaca_eval import utils

    path = alpaca_eval_data / "model_outputs" / "gpt4_1106_preview.json"
    ours = es.select_instances(es.load_eval_set(str(path), "alpaca_eval_2"), 20)
    df = utils.load_or_convert_to_dataframe(str(path))
    theirs = df.sample(frac=1, random_state=123)[:20]
    assert [r["instruction"] for r in ours] == theirs["instruction"].tolist()
    assert [r["output"] for r in ours] == theirs["output"].tolist()
    assert es.select_instances(ours, None) == ours
    with pytest.raises(ConfigError):
        es.select_instances(ours, 0)


def test_bad_eval_rows_name_the_row(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([{"instruction": "a", "output": "x"}, {"instruction": "b"}]), encoding="utf-8")
    with pytest.raises(InputError, match=r"row \[1\] has no string 'output'"):
        es.load_eval_set(str(p))
    p.write_text(
        json.dumps([{"instruction": "a", "output": "x"}, {"instruction": "a", "output": "y"}]),
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="repeats the instruction"):
        es.load_eval_set(str(p))
    j = tmp_path / "bad.jsonl"
    j.write_text('{"instruction": "a", "output": "x"}\n{"output": "y"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2: row \[1\] has no string 'instruction'"):
        es.load_eval_set(str(j))
    with pytest.raises(ConfigError, match="not found"):
        es.load_eval_set(str(tmp_path / "missing.json"))


def test_outputs_not_matching_the_eval_set_list_the_first_mismatches() -> None:
    eval_rows = [{"instruction": f"q{i}", "output": "r"} for i in range(10)]
    outputs = [{"instruction": f"q{i}", "output": "o"} for i in range(3, 12)]
    with pytest.raises(InputError) as e:
        es.check_outputs_match(outputs, eval_rows, "outs.json")
    msg = str(e.value)
    assert "outs.json" in msg
    assert "2 output instruction(s) not in the eval set, first: 'q10'; 'q11'" in msg
    assert "3 eval instruction(s) without an output, first: 'q0'; 'q1'; 'q2'" in msg
    es.check_outputs_match(list(reversed(eval_rows)), eval_rows)  # order does not matter


def test_outputs_for_the_whole_set_serve_a_subset() -> None:
    full = [{"instruction": f"q{i}", "output": "r"} for i in range(10)]
    subset = es.select_instances(full, 4)
    es.check_outputs_match(full, subset, full_set=full)
    with pytest.raises(InputError, match="1 output instruction\\(s\\) not in the eval set, first: 'zz'"):
        es.check_outputs_match([*full, {"instruction": "zz", "output": "o"}], subset, full_set=full)
