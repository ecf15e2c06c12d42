"""Each baseline source on small files shaped like the real ones, malformed rows included."""

from __future__ import annotations

import gzip
import json

import pytest

import baselines
from baselines.loader import load
from datasets_builders.steps import StepLog
from harness.core.errors import ConfigError, InputError
from harness.core.records import InstructionRecord, Message


def _load(loader, path=None, n=None, seed_records=()):
    log = StepLog(None)
    recs = load(
        baselines.source_module(loader),
        log,
        path=str(path) if path else None,
        revision=None,
        n=n,
        seed=0,
        seed_records=seed_records,
    )
    return recs, {s.name: s for s in log.steps}


def test_sharegpt_first_turns(tmp_path):
    rows = [
        {
            "id": "a",
            "conversations": [
                {"from": "human", "value": "Hi, what is Rust?"},
                {"from": "gpt", "value": "A systems language."},
                {"from": "human", "value": "More?"},
                {"from": "gpt", "value": "Later."},
            ],
        },
        {
            "id": "b",
            "conversations": [{"from": "gpt", "value": "I start."}, {"from": "human", "value": "odd"}],
        },
        {"id": "c", "conversations": []},
        {"id": "d", "conversations": [{"from": "human", "value": "alone"}]},
        {"id": "e", "conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "x"}]},
        {"id": "f", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]},
        "not a row",
        {
            "id": "g",
            "conversations": [
                {"from": "human", "value": "Hi, what is Rust?"},
                {"from": "gpt", "value": "A systems language."},
            ],
        },
    ]
    p = tmp_path / "sharegpt.json"
    p.write_text(json.dumps(rows))
    recs, steps = _load("sharegpt", p)
    assert [(r.instruction, r.response) for r in recs] == [("Hi, what is Rust?", "A systems language.")]
    assert dict(steps["load"].dropped) == {
        "first_turn_not_human": 1,
        "no_conversations": 1,
        "no_reply": 1,
        "empty_instruction": 1,
        "empty_response": 1,
        "malformed_row": 1,
    }
    assert steps["dedup"].dropped["duplicate"] == 1
    assert recs[0].provenance["conversation_id"] == "a"


def test_alpaca_gpt4_input_is_appended_and_bad_rows_counted(tmp_path):
    rows = [
        {"instruction": "Translate.", "input": "Hello", "output": "Bonjour"},
        {"instruction": "Name a color.", "input": "", "output": "Blue."},
        {"instruction": "", "input": "", "output": "x"},
        {"instruction": "Q", "output": None},
        {"instruction": "Q", "input": 3, "output": "A"},
    ]
    p = tmp_path / "alpaca_gpt4_data.json"
    p.write_text(json.dumps(rows))
    recs, steps = _load("alpaca_gpt4", p)
    assert [r.instruction for r in recs] == ["Translate.\n\nHello", "Name a color."]
    assert dict(steps["load"].dropped) == {"empty_instruction": 1, "missing_output": 1, "bad_input": 1}


def test_openorca_parquet_with_system_prompts(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "1M-GPT4-Augmented.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["niv.1", "flan.2", "t0.3"],
                "system_prompt": ["You are helpful.", "", None],
                "question": ["Sum 2 and 2.", "Capital of Peru?", None],
                "response": ["4", "Lima.", "orphan"],
            }
        ),
        p,
    )
    recs, steps = _load("openorca", p)
    assert [m.role for m in recs[0].messages] == ["system", "user", "assistant"]
    assert [m.role for m in recs[1].messages] == ["user", "assistant"]
    assert dict(steps["load"].dropped) == {"missing_question": 1}


def test_self_instruct_markers_are_stripped(tmp_path):
    rows = [
        {"prompt": "Make a list of 3 fruits.\n\nOutput:", "completion": " apple, pear, plum<|endoftext|>"},
        {"prompt": "Output:", "completion": "x"},
        {"prompt": "Say hi.", "completion": "<|endoftext|>"},
    ]
    p = tmp_path / "self_instruct.jsonl.gz"
    with gzip.open(p, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    recs, steps = _load("self_instruct", p)
    assert [(r.instruction, r.response) for r in recs] == [("Make a list of 3 fruits.", "apple, pear, plum")]
    assert dict(steps["load"].dropped) == {"empty_prompt": 1, "empty_completion": 1, "malformed_row": 1}


def test_evol_instruct_both_releases(tmp_path):
    rows = [
        {"instruction": "Explain X in depth.", "output": "X is..."},
        {
            "idx": "1",
            "conversations": [{"from": "human", "value": "Evolved Q"}, {"from": "gpt", "value": "A"}],
        },
        {"idx": "2", "conversations": [{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]},
        {"instruction": "No output"},
    ]
    p = tmp_path / "evol.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recs, steps = _load("evol_instruct", p)
    assert [r.instruction for r in recs] == ["Explain X in depth.", "Evolved Q"]
    assert dict(steps["load"].dropped) == {"first_turn_not_human": 1, "missing_output": 1}


def test_oasst_defaults_to_the_seed_set_and_reads_files(tmp_path):
    seed = [
        InstructionRecord(
            (Message("user", f"q{i}"), Message("assistant", f"a{i}")), "seed", {"origin": "seed"}
        )
        for i in range(5)
    ]
    recs, _ = _load("oasst", seed_records=seed)
    assert [r.instruction for r in recs] == [f"q{i}" for i in range(5)]
    p = tmp_path / "oasst.jsonl"
    p.write_text(
        json.dumps({"instruction": "Q", "response": "A"})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "only a question"}]})
        + "\n"
    )
    recs, steps = _load("oasst", p)
    assert len(recs) == 1 and dict(steps["load"].dropped) == {"no_first_turn": 1}


def test_bundled_demo_files_sampling_and_errors(tmp_path):
    a, _ = _load("alpaca_gpt4")
    s, _ = _load("sharegpt")
    assert len(a) == 48 and len(s) == 48
    sub1, steps = _load("alpaca_gpt4", n=10)
    sub2, _ = _load("alpaca_gpt4", n=10)
    assert [r.id for r in sub1] == [r.id for r in sub2] and len(sub1) == 10
    assert steps["sample"].dropped["not_sampled"] == 38
    with pytest.raises(ConfigError, match="did you mean 'sharegpt'"):
        baselines.source_module("sharegtp")
    with pytest.raises(ConfigError, match="file not found"):
        _load("sharegpt", tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[{]")
    with pytest.raises(InputError, match="bad.json"):
        _load("sharegpt", bad)
