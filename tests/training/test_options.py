"""Recipe options on the tiny model: packing (padding-free, best-fit decreasing), gradient
checkpointing, and LoRA through peft with the adapter merged on save."""

from __future__ import annotations

import pytest
from training.sft_data import train

from harness.training.recipe import LoraOptions, load_recipe

QUICK = {"max_steps": 3, "save_steps": 100, "logging_steps": 1}


def test_packing_with_gradient_checkpointing(tiny_model, sft_records, tmp_path):
    options = {"packing": True, "gradient_checkpointing": True, "max_length": 128, "per_device_batch_size": 4}
    out = train(
        tmp_path / "run", str(tiny_model), sft_records[:64], load_recipe("tiny", {**QUICK, **options})
    )
    s = out.manifest.stats.to_dict()
    losses = [p["loss"] for p in s["loss_curve"]]
    print(f"\n{options}: losses {losses}, {s['tokens_seen']} tokens")
    assert s["steps"] == 3 and len(losses) == 3 and all(x == x for x in losses)
    # packed rows of up to 128 tokens hold several records each (padding-free: no pad tokens)
    assert s["tokens_seen"] > 3 * 4 * 90


def test_lora_adapter_is_merged_on_save(tiny_model, sft_records, tmp_path):
    import dataclasses

    from safetensors.torch import load_file

    recipe = load_recipe("tiny", {**QUICK, "learning_rate": 1e-2})
    recipe = dataclasses.replace(recipe, lora=LoraOptions(r=4, alpha=8))
    out = train(tmp_path / "run", f"hf:{tiny_model}", sft_records[:32], recipe)
    model = tmp_path / "run" / "model"
    assert not (model / "adapter_config.json").exists() and not (tmp_path / "run" / "adapter").exists()
    before, after = (
        load_file(str(tiny_model / "model.safetensors")),
        load_file(str(model / "model.safetensors")),
    )
    assert before.keys() == after.keys()  # plain weights: no lora_A/lora_B left
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert changed and all(any(t in k for t in ("q_proj", "k_proj", "v_proj", "o_proj")) for k in changed)
    assert out.manifest.stats.steps == 3


def test_padding_free_without_packing(tiny_model, sft_records, tmp_path):
    from harness.core.errors import ConfigError

    with pytest.raises(ConfigError, match="overlong=drop"):
        train(
            tmp_path / "bad",
            str(tiny_model),
            sft_records[:8],
            load_recipe("tiny", {**QUICK, "padding_free": True, "overlong": "truncate"}),
        )
    out = train(
        tmp_path / "run",
        str(tiny_model),
        sft_records[:32],
        load_recipe("tiny", {**QUICK, "padding_free": True, "max_length": 128}),
    )
    s = out.manifest.stats.to_dict()
    assert (
        s["steps"] == 3 and s["dropped_too_long"] > 0 and all(p["loss"] == p["loss"] for p in s["loss_curve"])
    )
