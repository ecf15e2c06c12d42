"""The model side of a training run: the base model as the recipe loads it, the finished model out.

In: the tokenizer with the training template (pad = EOS when the model has no pad token), the base
model with the recipe's dropout and dtype (fp32 master weights for full fine-tuning; a frozen LoRA
base may sit in the compute dtype; 4-bit for QLoRA), and the LoRA config.

Out (`save_model`): `model/` with the weights in the training precision (a LoRA adapter merged into
the base first), the tokenizer with the inference template, and a generation config that stops at
the template's end-of-turn token: a directory the hf, vllm and openai backends load as is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError
from harness.training.recipe import Recipe

# Config attributes that hold dropout probabilities across architectures (Llama has only
# attention_dropout; GPT-2 style models have resid/embd/attn_pdrop; BERT-like hidden_dropout_prob).
DROPOUT_KEYS = (
    "attention_dropout",
    "hidden_dropout",
    "dropout",
    "resid_pdrop",
    "embd_pdrop",
    "attn_pdrop",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "activation_dropout",
)


def resolve_precision(precision: str) -> str:
    """`auto`: bf16 on a GPU that supports it (fp16 on older GPUs), fp32 on CPU."""
    if precision != "auto":
        return precision
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def _torch_dtype(precision: str) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_tokenizer(base_model: str, template: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    tokenizer.chat_template = template
    if tokenizer.pad_token is None:  # Llama-2 has none; TRL would pick EOS too, say so explicitly
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base_model: str, recipe: Recipe, precision: str) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    qlora = bool(recipe.lora and recipe.lora.load_in_4bit)
    if qlora and not torch.cuda.is_available():
        raise ConfigError(
            "recipe key 'lora.load_in_4bit' (QLoRA) needs a GPU and bitsandbytes",
            fix="set lora.load_in_4bit=false on CPU",
        )
    config = AutoConfig.from_pretrained(base_model)
    for key in DROPOUT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, float | int) and not isinstance(value, bool):
            setattr(config, key, recipe.dropout)
    # Full fine-tuning keeps fp32 master weights (mixed precision autocasts); a LoRA base is frozen.
    dtype = _torch_dtype(precision) if recipe.lora else torch.float32
    kwargs: dict[str, Any] = {"config": config, "dtype": dtype}
    if qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    return AutoModelForCausalLM.from_pretrained(base_model, **kwargs)


def lora_config(recipe: Recipe) -> Any:
    if not recipe.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=list(recipe.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def save_model(
    trainer: Any, directory: Path, job: dict[str, Any], lora: bool, precision: str, name: str = "model"
) -> None:
    """Every rank: gather and save the weights; the main rank finishes `directory/<name>/`
    (`model`, or `steps/<k>` for a listed checkpoint)."""
    acc = trainer.accelerator
    tmp = directory / f"{name}.tmp"
    adapter = directory / ("adapter" if name == "model" else f"{name}.adapter")
    if acc.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    acc.wait_for_everyone()
    trainer.save_model(str(adapter if lora else tmp))  # collective: gathers sharded weights
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return
    if lora:
        _merge_adapter(job["base_model"], adapter, tmp, _torch_dtype(precision))
        if name != "model":
            shutil.rmtree(adapter, ignore_errors=True)
    elif precision in ("bf16", "fp16"):
        _recast(tmp, _torch_dtype(precision))
    tokenizer = trainer.processing_class
    tokenizer.chat_template = job["inference_template"]
    tokenizer.save_pretrained(str(tmp))
    _write_generation_config(tmp, tokenizer)
    final = directory / name
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _merge_adapter(base_model: str, adapter: Path, out: Path, dtype: Any) -> None:
    """Reload the base in the final dtype (never merge into 4-bit weights), merge, save."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)


def _recast(model_dir: Path, dtype: Any) -> None:
    """Save the fp32 master weights in the training precision (half the disk, what vLLM expects)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    model.save_pretrained(str(model_dir), safe_serialization=True)


def _write_generation_config(model_dir: Path, tokenizer: Any) -> None:
    """Generation stops at the template's end-of-turn token (EOS) and pads with the pad token."""
    from transformers import GenerationConfig

    try:
        gen = GenerationConfig.from_pretrained(str(model_dir))
    except OSError:
        gen = GenerationConfig()
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(model_dir))
