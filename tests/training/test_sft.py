"""The shared SFT trainer on the tiny Llama (CPU): it learns, it masks, it saves a usable model.

One module-scoped training run (300 records, 30 steps of the tiny recipe) feeds every test here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from training.sft_data import train

from harness.core.chat import CHAT_TEMPLATE
from harness.core.runs import read_manifest
from harness.training.recipe import load_recipe
from harness.training.sft import build_trainer


@pytest.fixture(scope="module")
def trained(tiny_model, sft_records, tmp_path_factory):
    run = tmp_path_factory.mktemp("sft") / "run"
    outcome = train(run, f"hf:{tiny_model}", sft_records, load_recipe("tiny"))
    return outcome


def test_loss_finite_and_decreasing(trained):
    curve = trained.manifest.stats.loss_curve
    losses = [p["loss"] for p in curve]
    print(f"\nloss curve: {losses}")
    assert len(losses) >= 5 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 1.0  # a random tiny model learns the docstrings' tokens fast
    assert min(losses[-2:]) < min(losses[:2])


def test_parameters_changed(trained, tiny_model):
    from safetensors.torch import load_file

    before = load_file(str(Path(tiny_model) / "model.safetensors"))
    after = load_file(str(trained.directory / "model" / "model.safetensors"))
    assert before.keys() == after.keys()
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert len(changed) == len(before), f"unchanged: {sorted(set(before) - set(changed))}"


def test_labels_are_minus_100_outside_assistant_turns(trained, sft_records):
    """A real batch from the trainer's dataloader: the labelled tokens are exactly the assistant
    contents, each followed by EOS; every system/user token and every header is -100."""
    trainer = build_trainer(trained.directory)
    tok = trainer.processing_class
    by_ids = {
        tuple(
            tok.apply_chat_template([m.to_dict() for m in r.messages], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        ): r
        for r in sft_records
    }
    batch = next(iter(trainer.get_train_dataloader()))
    checked_multi = checked_system = 0
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        while ids and ids[-1] == tok.pad_token_id:  # right padding
            ids, labels = ids[:-1], labels[:-1]
        record = by_ids[tuple(ids)]
        want = "".join(m.content + tok.eos_token for m in record.messages if m.role == "assistant")
        got = tok.decode([t for t, lab in zip(ids, labels) if lab != -100], skip_special_tokens=False)
        assert got == want
        masked = tok.decode([t for t, lab in zip(ids, labels) if lab == -100 and t != tok.pad_token_id])
        for m in record.messages:
            if m.role != "assistant":
                assert m.content in masked
        assert "<|user|>" in masked and "<|assistant|>" in masked
        checked_multi += sum(m.role == "assistant" for m in record.messages) > 1
        checked_system += record.messages[0].role == "system"
    print(
        f"\nchecked {len(batch['input_ids'])} examples ({checked_multi} multi-turn, {checked_system} with system)"
    )


def test_manifest_stats(trained):
    s = trained.manifest.stats.to_dict()
    assert trained.manifest.ok
    assert s["records_kept"] == 300 and s["steps"] == 30 and s["resumed_from_step"] == 0
    assert s["tokens_seen"] > 0 and s["tokens_per_s"] > 0 and s["wall_time_s"] > 0
    assert s["peak_memory"]["rank0"]["peak_rss_mib"] > 0
    assert s["precision"] == "fp32" and s["template"] == "model"
    model = trained.directory / "model"
    tok_cfg = json.loads((model / "tokenizer_config.json").read_text())
    template = tok_cfg.get("chat_template") or (model / "chat_template.jinja").read_text()
    assert template == CHAT_TEMPLATE
    gen = json.loads((model / "generation_config.json").read_text())
    assert gen["eos_token_id"] is not None and gen["pad_token_id"] is not None
    assert not list(trained.directory.glob("checkpoints/checkpoint-*"))  # removed once the model is saved
    assert "model/model.safetensors" in trained.manifest.outputs


def _requests():
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.core.records import Message

    return [
        ChatRequest(f"q{i}", (Message("user", q),), SamplingParams(temperature=1.0, max_tokens=24, seed=0))
        for i, q in enumerate(["Explain os.path.join.", "Explain json.dumps."])
    ]


def test_saved_model_generates_with_hf(trained):
    from harness.backends import load_generator

    out = load_generator(f"hf:{trained.directory / 'model'}").generate(_requests())
    assert all(g.completion_tokens > 0 for g in out) and any(g.text.strip() for g in out)


def test_saved_model_generates_with_vllm(trained):
    from harness.backends import load_generator

    out = load_generator(f"vllm:{trained.directory / 'model'}", dtype="float32", max_model_len=512).generate(
        _requests()
    )
    assert all(g.completion_tokens > 0 for g in out) and any(g.text.strip() for g in out)


def test_rerun_is_cached_and_force_retrains(trained, tiny_model, sft_records):
    again = train(trained.directory, f"hf:{tiny_model}", sft_records, load_recipe("tiny"))
    assert again.skipped and again.fingerprint == trained.fingerprint
    # another recipe or other records: another fingerprint
    other = train(
        trained.directory.parent / "other",
        f"hf:{tiny_model}",
        sft_records[:50],
        load_recipe("tiny", {"max_steps": 2}),
        force=False,
    )
    assert not other.skipped and other.fingerprint != trained.fingerprint
    forced = train(
        trained.directory, f"hf:{tiny_model}", sft_records, load_recipe("tiny", {"max_steps": 3}), force=True
    )
    assert not forced.skipped and forced.manifest.stats.steps == 3
    assert read_manifest(trained.directory).stats.resumed_from_step == 0
