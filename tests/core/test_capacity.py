"""Model sizes and memory from config.json, checked against the published figures and the references
people use: DeepSpeed's ZeRO formulas (the ZeRO paper's (2 + 2 + K) x Psi / N_d, K = 12 for mixed-precision
Adam) and accelerate's `calculate_maximum_sizes` / `estimate_training_usage` on an empty-weights model."""

from __future__ import annotations

import pytest

from harness.core.capacity import GIB, Strategy, load_shape, serving_memory, state_memory

LLAMA = {
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Llama-2-70b-hf": 68_976_648_192,
    "meta-llama/Llama-2-70b-chat-hf": 68_976_648_192,
}


@pytest.mark.parametrize("model,params", LLAMA.items())
def test_parameter_counts_are_the_published_ones(model: str, params: int):
    assert load_shape(model).params() == params


def test_kv_cache_per_token_in_bf16():
    assert load_shape("meta-llama/Llama-2-7b-hf").kv_bytes_per_token() == 2 * 32 * 32 * 128 * 2 == 512 * 1024
    assert load_shape("meta-llama/Llama-2-70b-hf").kv_bytes_per_token() == 2 * 80 * 8 * 128 * 2 == 320 * 1024


@pytest.mark.parametrize("model", ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf"])
def test_kv_cache_per_token_agrees_with_vllms_own_accounting(model: str):
    """vLLM sizes its KV cache in pages of one attention layer's block (`FullAttentionSpec`)."""
    import torch
    from vllm.v1.kv_cache_interface import FullAttentionSpec

    shape = load_shape(model)
    block = 16
    spec = FullAttentionSpec(
        block_size=block, num_kv_heads=shape.kv_heads, head_size=shape.head_dim, dtype=torch.bfloat16
    )
    assert shape.kv_bytes_per_token() == spec.page_size_bytes * shape.layers // block


def test_a_local_model_directory_is_read(tmp_path):
    import json
    import shutil

    from harness.core.capacity import FIXTURES

    shutil.copy(FIXTURES / "meta-llama/Llama-2-7b-hf/config.json", tmp_path / "config.json")
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert load_shape(str(tmp_path)).params() == LLAMA["meta-llama/Llama-2-7b-hf"]
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "tie_word_embeddings": True}))
    assert load_shape(str(tmp_path)).params() == LLAMA["meta-llama/Llama-2-7b-hf"] - 32000 * 4096
    assert load_shape(str(tmp_path / "missing")) is None


def test_70b_weights_do_not_fit_one_80gb_gpu():
    shape = load_shape("meta-llama/Llama-2-70b-hf")
    assert serving_memory(shape, tp=1, max_len=4096)["weights"] / GIB == pytest.approx(128.48, abs=0.01)
    assert serving_memory(shape, tp=8, max_len=4096)["kv_cache"] == 320 * 1024 * 4096 // 8


@pytest.mark.parametrize("model", ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf"])
def test_model_states_agree_with_deepspeed_zero_formulas(model: str):
    shape = load_shape(model)
    p, gather = shape.params(), 2 * shape.layer_params()
    for n in (1, 8, 64):
        ddp = state_memory(shape, Strategy("ddp", gpus=n))
        assert (
            ddp["weights"] + ddp["gradients"] + ddp["optimizer"] == 16 * p
        )  # DDP / ZeRO-0: (2 + 2 + 12) Psi
    for n in (8, 64):
        z3 = state_memory(shape, Strategy("zero3", gpus=n))
        # ZeRO-3: (2 + 2 + 12) Psi / N_d, plus one layer's gathered bf16 weights (exact up to integer division)
        assert abs(z3["weights"] + z3["gradients"] + z3["optimizer"] - gather - 16 * p / n) <= 2
        off = state_memory(shape, Strategy("zero3", gpus=n, offload=True))
        assert abs(off["weights"] + off["gradients"] - gather - 4 * p / n) <= 2 and off["optimizer"] == 0
        assert off["cpu"] == 12 * p  # fp32 master weights, momentum, variance in host memory
        assert state_memory(shape, Strategy("fsdp", gpus=n)) == z3  # FSDP full shard: the same division


def test_lora_keeps_frozen_weights_and_trains_small_adapters():
    shape = load_shape("meta-llama/Llama-2-7b-hf")
    lora = state_memory(shape, Strategy("ddp", lora_r=16))
    assert lora["weights"] > 2 * shape.params() and lora["optimizer"] < 0.01 * 12 * shape.params()
    qlora = state_memory(shape, Strategy("ddp", lora_r=16, qlora=True))
    assert qlora["weights"] < lora["weights"] / 3


@pytest.mark.parametrize("model", ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-70b-hf"])
def test_weights_and_optimizer_agree_with_accelerate_estimate_memory(model: str):
    """accelerate's numbers on an empty-weights model built from the same config.json: its size is the
    parameter count times the dtype's bytes (exact), its fp32 Adam training total 16 bytes per parameter (exactly ours: the
    same 16 bytes, split fp32 weights/grads/m/v instead of bf16 weights/grads + fp32 master/m/v); its
    mixed-precision figure also counts fp16 gradients beside the fp32 ones (18 bytes), within 12% of ours."""
    transformers = pytest.importorskip("transformers")
    from accelerate import init_empty_weights
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes

    from harness.core.capacity import config_path

    config = transformers.AutoConfig.from_pretrained(str(config_path(model).parent))
    with init_empty_weights():
        empty = transformers.AutoModelForCausalLM.from_config(config)
    total, _ = calculate_maximum_sizes(empty)  # in the config's dtype (float16 for Llama-2)
    shape = load_shape(model)
    assert sum(x.numel() for x in empty.parameters()) == shape.params()  # transformers' own count
    buffers = sum(
        b.numel() * b.element_size() for b in empty.buffers()
    )  # rotary inv_freq: a few hundred bytes
    assert total == next(empty.parameters()).element_size() * shape.params() + buffers
    total = 4 * shape.params()  # fp32, accelerate's base for its training estimate
    ours = state_memory(shape, Strategy("ddp"))
    ours_total = ours["weights"] + ours["gradients"] + ours["optimizer"]
    fp32 = estimate_training_usage(total, "float32")
    assert fp32["model"] + fp32["gradients"] + fp32["optimizer"] == ours_total
    mixed = estimate_training_usage(total, "float16")
    assert abs(mixed["model"] + mixed["gradients"] + mixed["optimizer"] - ours_total) / ours_total <= 0.125
