"""Bad input never crashes the trainer: empty data and unusable records are clear errors or counted
drops, overlong records are dropped or truncated with a count, unknown recipe keys get a did-you-mean."""

from __future__ import annotations

import json
import shutil

import pytest
from _support import run_harness
from training.sft_data import train

from harness.core.errors import ConfigError, InputError
from harness.core.records import InstructionRecord, Message
from harness.core.runs import read_manifest
from harness.training.recipe import load_recipe

QUICK = {"max_steps": 2, "save_steps": 100, "logging_steps": 1}


def _no_assistant(i: int) -> InstructionRecord:
    return InstructionRecord((Message("user", f"question {i} with no answer"),), "test")


def test_empty_dataset_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(InputError, match="no trainable records: 0 given"):
        train(tmp_path / "run", str(tiny_model), [], load_recipe("tiny", QUICK))
    assert read_manifest(tmp_path / "run").status == "failed"


def test_records_without_assistant_turn_are_dropped_and_counted(tiny_model, sft_records, tmp_path):
    records = [*sft_records[:20], *(_no_assistant(i) for i in range(5))]
    out = train(tmp_path / "run", str(tiny_model), records, load_recipe("tiny", QUICK))
    s = out.manifest.stats.to_dict()
    assert s["dropped_no_assistant"] == 5 and s["records_kept"] == 20 and s["steps"] == 2
    drops = [json.loads(x) for x in (tmp_path / "run" / "drops.jsonl").read_text().splitlines()]
    assert [d["reason"] for d in drops] == ["no_assistant_turn"] * 5
    with pytest.raises(InputError, match="5 without an assistant turn"):
        train(tmp_path / "only-bad", str(tiny_model), records[20:], load_recipe("tiny", QUICK))


@pytest.mark.parametrize("overlong", ["drop", "truncate"])
def test_overlong_records_are_dropped_or_truncated(tiny_model, sft_records, tmp_path, overlong):
    long_one = InstructionRecord((Message("user", "Repeat."), Message("assistant", "word " * 400)), "test")
    prompt_too_long = InstructionRecord((Message("user", "word " * 400), Message("assistant", "ok")), "test")
    recipe = load_recipe("tiny", {**QUICK, "max_length": 128, "overlong": overlong})
    out = train(tmp_path / "run", str(tiny_model), [*sft_records[:16], long_one, prompt_too_long], recipe)
    s = out.manifest.stats.to_dict()
    print(
        f"\noverlong={overlong}: {s['dropped_too_long']} dropped, {s['truncated']} truncated, "
        f"{s['dropped_no_assistant_after_truncation']} dropped after truncation"
    )
    if overlong == "drop":
        assert s["dropped_too_long"] >= 2 and s["truncated"] == 0
    else:
        # the long answer is cut to max_length; the long prompt leaves no answer token and is dropped
        assert s["truncated"] >= 1 and s["dropped_no_assistant_after_truncation"] == 1
    assert s["records_kept"] + s["dropped_too_long"] + s["dropped_no_assistant_after_truncation"] == 18
    assert s["steps"] == 2 and all(p["loss"] == p["loss"] for p in s["loss_curve"])


def test_unknown_recipe_key_has_did_you_mean(tiny_model, sft_records, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        load_recipe("tiny", {"learning_rat": 1e-4})
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in sft_records[:4]))
    p = run_harness(
        "train",
        "--model",
        f"hf:{tiny_model}",
        "--data",
        str(data),
        "--output",
        str(tmp_path / "o"),
        "max_step=3",
        timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert "unknown key 'max_step'" in p.stderr and "did you mean 'max_steps'" in p.stderr
    p = run_harness(
        "train",
        "--model",
        f"hf:{tiny_model}",
        "--data",
        str(data),
        "--output",
        str(tmp_path / "o"),
        "--recipe",
        "tinny",
        timeout=120,
    )
    assert p.returncode == 2 and "did you mean 'tiny'" in p.stderr


def test_base_model_without_template_gets_the_harness_template(tiny_model, sft_records, tmp_path):
    """A base model such as Llama-2-7b-hf ships no chat template: the trainer installs its own."""
    base = tmp_path / "no-template"
    shutil.copytree(tiny_model, base)
    cfg = json.loads((base / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(cfg))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    from transformers import AutoTokenizer

    assert not AutoTokenizer.from_pretrained(base).chat_template
    out = train(tmp_path / "run", str(base), sft_records[:16], load_recipe("tiny", QUICK))
    assert out.manifest.stats.template == "harness"
    saved = AutoTokenizer.from_pretrained(tmp_path / "run" / "model")
    assert "{% generation %}" in saved.chat_template
