"""Every baseline the paper configs name, read with `path: hub` from replicas of the real repositories
(`tests/fixtures/hub/`, through `HARNESS_HUB_MIRROR`: the code path of a hub id), and the same
replica as a local directory; pins, script-only repositories and sources that yield nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import baselines
from baselines.loader import load
from datasets_builders.steps import StepLog
from harness.core import sources
from harness.core.errors import ConfigError, InputError

HUB = Path(__file__).resolve().parents[1] / "fixtures" / "hub"


@pytest.fixture(autouse=True)
def mirror(monkeypatch):
    monkeypatch.setenv(sources.MIRROR_ENV, str(HUB))


def _load(loader, path="hub", n=None, files=None):
    log = StepLog(None)
    recs = load(baselines.source_module(loader), log, path=str(path), revision=None, n=n, seed=0, files=files)
    return recs, {s.name: s for s in log.steps}, log.sources


def test_sharegpt_first_chunks_and_human_first_turns():
    recs, steps, origin = _load("sharegpt")
    assert [r.provenance["conversation_id"] for r in recs] == [
        "QWJhYvA_0",
        "i6IyJda",
        "bnVvRS0_0",
        "PqR8sTu_0",
        "mNb7VcX_0",
        "dUp1Ica_0",
        "Lg7Hh2k_0",
    ]
    assert dict(steps["load"].dropped) == {
        "continuation_chunk": 3,
        "first_turn_not_human": 1,
        "no_reply": 1,
        "no_conversations": 1,
    }
    by_id = {r.provenance["conversation_id"]: r for r in recs}
    assert by_id["bnVvRS0_0"].instruction.startswith(
        "Explain what a hash table is"
    )  # the system turn passed over
    assert [m.role for m in by_id["bnVvRS0_0"].messages] == ["user", "assistant"]
    assert origin == [
        {
            "source": "hub:anon8231489123/ShareGPT_Vicuna_unfiltered",
            "commit": None,
            "directory": str(HUB / "anon8231489123" / "ShareGPT_Vicuna_unfiltered"),
        }
    ]
    # the replica as a local directory goes through the same code and gives the same records
    local, _, _ = _load("sharegpt", path=HUB / "anon8231489123" / "ShareGPT_Vicuna_unfiltered")
    assert [r.id for r in local] == [r.id for r in recs]


def test_openorca_reads_the_gpt4_file_by_default_and_keeps_system_prompts():
    recs, steps, _ = _load("openorca")
    assert [r.provenance.get("id", r.instruction[:12]) for r in recs] and len(recs) == 4
    assert dict(steps["load"].dropped) == {"empty_question": 1}
    with_system = [r for r in recs if r.messages[0].role == "system"]
    assert len(with_system) == 3 and with_system[0].messages[0].content.startswith("You are")
    assert not any("banana" in r.instruction for r in recs)  # the GPT-3.5 file is not read
    gpt35, _, _ = _load("openorca", files="3_5M-GPT3_5-Augmented.parquet")
    assert len(gpt35) == 3 and any("banana" in r.instruction for r in gpt35)


def test_alpaca_gpt4_evol_instruct_parquet_and_json():
    recs, steps, _ = _load("alpaca_gpt4")
    assert len(recs) == 4 and steps["dedup"].dropped["duplicate"] == 1
    assert dict(steps["load"].dropped) == {"empty_output": 1}
    assert "Rewrite the sentence in the passive voice.\n\nThe cat chased the mouse." in [
        r.instruction for r in recs
    ]
    assert not any(
        "### Instruction" in r.instruction for r in recs
    )  # the formatted `text` column is not used
    evol, steps, _ = _load("evol_instruct")
    assert len(evol) == 3 and dict(steps["load"].dropped) == {"empty_instruction": 1}


def test_self_instruct_from_the_pinned_github_file_without_templates():
    recs, steps, origin = _load("self_instruct")
    assert origin[0]["source"] == "github:yizhongw/self-instruct@0b26ccaa415992100fa32df62d41b994cf928e23"
    assert len(recs) == 6 and steps["dedup"].dropped["duplicate"] == 1
    assert dict(steps["load"].dropped) == {"empty_instruction": 1}
    for r in recs:
        assert not any(marker in r.instruction for marker in ("Task:", "Input:", "Output:")), r.instruction
        assert not r.response.endswith("<|endoftext|>")
    assert "Convert the temperature from Celsius to Fahrenheit.\n\n25 degrees Celsius" in [
        r.instruction for r in recs
    ]


def test_self_instruct_prompt_only_rows_lose_their_templates():
    from baselines.self_instruct import strip_template

    path = (
        HUB
        / "yizhongw"
        / "self-instruct"
        / "data"
        / "finetuning"
        / "self_instruct_221203"
        / "gpt3_finetuning_data.jsonl"
    )
    for row in map(json.loads, path.read_text().splitlines()):
        ins, inp = strip_template(row["prompt"])
        if row["prompt"].rstrip().endswith("Output:"):  # every template that marks the input keeps them apart
            assert (ins, inp) == (row["instruction"], row["input"]), row["prompt"]
        else:  # "{instruction}\n{input}\n\n": one block, no marker left
            assert ins == "\n".join(x for x in (row["instruction"], row["input"]) if x) and inp == ""


def test_a_script_only_repository_is_refused_with_the_fix():
    with pytest.raises(
        ConfigError, match=r"loading script \(self_instruct.py\).*path: hub reads github:yizhongw"
    ):
        _load("self_instruct", path=HUB / "yizhongw" / "self_instruct")


def test_the_pin_enters_the_fingerprint_and_a_copy_of_another_commit_is_refused(tmp_path, monkeypatch):
    from harness.stages.builders import builder_fingerprint_parts

    parts = builder_fingerprint_parts("baseline", {"loader": "self_instruct", "path": "hub"})
    assert parts["source"]["revision"] == "0b26ccaa415992100fa32df62d41b994cf928e23"
    moved = builder_fingerprint_parts(
        "baseline", {"loader": "self_instruct", "path": "hub", "revision": "1" * 40}
    )
    assert moved != parts
    assert "source" not in builder_fingerprint_parts("baseline", {"loader": "sharegpt", "path": "x.json"})

    root = tmp_path / "mirror"
    shutil.copytree(HUB / "OpenAssistant", root / "OpenAssistant")
    monkeypatch.setenv(sources.MIRROR_ENV, str(root))
    assert (
        sources.repo_dir("hub:OpenAssistant/oasst1@fdf72ae0827c1cda404aff25b6603abec9e3399b", key="k").commit
        == "fdf72ae0827c1cda404aff25b6603abec9e3399b"
    )
    with pytest.raises(ConfigError, match="is commit fdf72ae0827c, the config pins 222222222222"):
        sources.repo_dir("hub:OpenAssistant/oasst1@" + "2" * 40, key="seed_data.source")


def test_a_source_that_yields_nothing_or_too_little_fails_with_counts_and_cause(tmp_path):
    wrong = tmp_path / "ShareGPT_Vicuna_unfiltered"
    wrong.mkdir()
    (wrong / "ShareGPT_V3_unfiltered_cleaned_split.json").write_text(
        json.dumps([{"instruction": f"q{i}", "output": "a"} for i in range(5)])
    )  # Alpaca's schema under ShareGPT's name
    with pytest.raises(
        InputError, match=r"sharegpt: 0 records from 5 rows \(no_conversations=5\).*wrong schema"
    ):
        _load("sharegpt", path=wrong)
    with pytest.raises(InputError, match=r"7 records from 13 rows where 100 were asked.*smaller than asked"):
        _load("sharegpt", n=100)
    recs, _, _ = _load("sharegpt", n=10)  # more than half of what was asked: a warning, not a failure
    assert len(recs) == 7
    with pytest.raises(ConfigError, match="no file in .* matches nope-\\*.json"):
        _load("sharegpt", files="nope-*.json")


def test_sampling_is_the_same_whatever_the_file_order(tmp_path):
    rows = [
        {
            "id": f"c{i}_0",
            "conversations": [
                {"from": "human", "value": f"question {i}"},
                {"from": "gpt", "value": f"answer {i}"},
            ],
        }
        for i in range(200)
    ]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(rows))
    b.write_text(json.dumps(rows[::-1] + rows[:20]))  # reversed, and 20 repeats
    ra, sa, _ = _load("sharegpt", path=a, n=30)
    rb, sb, _ = _load("sharegpt", path=b, n=30)
    assert {r.id for r in ra} == {r.id for r in rb} and len(ra) == 30
    assert sa["sample"].dropped["not_sampled"] == 170
    assert sb["dedup"].dropped["duplicate"] == 20 and sb["sample"].dropped["not_sampled"] == 170


def test_hub_unreachable_names_the_mirror_and_a_local_copy(monkeypatch):
    """`path: hub` with neither the Hub nor a copy: one line naming the source and the offline fix."""
    monkeypatch.delenv(sources.MIRROR_ENV)
    code = (
        "import baselines; from baselines.loader import load; from datasets_builders.steps import StepLog\n"
        "from harness.core.errors import ConfigError\n"
        "try:\n    load(baselines.source_module('openorca'), StepLog(None), path='hub', revision=None, n=None, seed=0)\n"
        "except ConfigError as e:\n    print('ERROR', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != sources.MIRROR_ENV}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "ERROR options.path: hub:Open-Orca/OpenOrca is not reachable" in r.stdout, r.stdout + r.stderr
    assert "HARNESS_HUB_MIRROR" in r.stdout and "huggingface-cli download Open-Orca/OpenOrca" in r.stdout
    assert "names no commit" in r.stderr  # the unpinned source warned once
