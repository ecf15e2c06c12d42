"""A tiny random Llama for tests and the demo, made offline and deterministically.

The tokenizer is a byte-level BPE trained in-process on the standard library's docstrings; the
chat template marks assistant turns with `{% generation %}` so TRL's assistant-only loss can mask
everything else. Weights are random (fp32, head_dim 64 so vLLM's CPU attention accepts them).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from harness.core.chat import CHAT_TEMPLATE
from harness.core.stdlib_text import iter_stdlib_docstrings

# AlpacaEval judge prompts hold an instruction and two outputs beside a ~500-token template, so the
# context is 4096 (RoPE: the weights do not depend on it).
MAX_POSITIONS = 4096

SIZES = {
    # hidden, layers, heads, intermediate, vocab
    "tiny": (128, 2, 2, 256, 2048),
    "small": (512, 4, 8, 1408, 8192),
    "learner": (128, 2, 2, 256, 2048),  # tiny's shape with the usual 0.02 init (INIT_STD)
}
# A wider init than 0.02 gives peaked next-token distributions, so greedy decoding is not decided
# by float noise and engines can be compared token for token; but it also keeps a 2-layer model
# from learning to attend (the positive control's task stays at chance for hundreds of steps), so
# the model the control trains starts from the usual init.
INIT_STD = {"learner": 0.02}
WIDE_INIT = 0.15
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]

_TOKENIZER_TEXT_CHARS = 3_000_000


def engine_options(base_model: str, engine: Mapping[str, Any]) -> dict[str, Any]:
    """The engine options to load an experiment's models with: its `engine:` section, plus
    dtype float32 when the base model is a tiny one (`tiny:<size>`, made in fp32; vLLM, and hf on a
    GPU, would otherwise cast it). An explicit `engine.dtype` wins. The one rule for build and eval."""
    fp32 = {"dtype": "float32"} if base_model.startswith("tiny:") else {}
    return {**fp32, **engine}


def train_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer (transformers fast tokenizer) trained on stdlib docstrings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    total = 0

    def texts():
        nonlocal total
        for _, doc in iter_stdlib_docstrings(min_chars=40):
            if total >= _TOKENIZER_TEXT_CHARS:
                return
            total += len(doc)
            yield doc

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[3:],
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def make_tiny_model(
    out_dir: str | Path, *, size: Literal["tiny", "small", "learner"] = "tiny", seed: int = 0
) -> Path:
    """Write config, safetensors weights, tokenizer and generation config to `out_dir`."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    hidden, layers, heads, intermediate, vocab = SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(vocab)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=hidden // heads,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attention_dropout=0.0,
        initializer_range=INIT_STD.get(size, WIDE_INIT),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(out)
    (out / "harness_tiny_model.json").write_text(json.dumps({"size": size, "seed": seed}, indent=2) + "\n")
    return out


def sample_prompts(n: int, *, seed: int = 0) -> list[dict[str, str]]:
    """`n` instruction prompts built from stdlib docstring first lines (for demos and benchmarks)."""
    import random

    firsts = [
        doc.splitlines()[0].strip()
        for _, doc in itertools.islice(iter_stdlib_docstrings(min_chars=30), 20000)
    ]
    firsts = sorted({f for f in firsts if 20 <= len(f) <= 120})
    rng = random.Random(seed)
    picks = rng.sample(firsts, min(n, len(firsts)))
    verbs = ["Explain", "Summarise", "Give an example of", "Describe when to use"]
    return [{"id": f"p{i:04d}", "instruction": f"{verbs[i % len(verbs)]}: {p}"} for i, p in enumerate(picks)]
