"""Model sizes and the memory a model needs per GPU, from its `config.json` alone (no weights, no torch).

Sizes: a decoder-only transformer of the Llama family (the models the shipped experiments name):
embeddings, per layer the attention projections (q and o: hidden x hidden; k and v: hidden x
kv_heads * head_dim), the gated MLP (three hidden x intermediate matrices) and two RMSNorm vectors,
a final norm, and an output head unless it is tied to the embeddings. This is exact for Llama-2
(6,738,415,616 parameters at 7B, 68,976,648,192 at 70B, the published counts).

Memory per GPU, in bytes:
- serving (vLLM): bf16 weights split over the tensor-parallel ranks, plus the KV cache: per token
  2 (K and V) x layers x kv_heads x head_dim x 2 bytes, also split over the ranks (vLLM refuses to
  start unless one sequence of the engine's max length fits beside the weights);
- training, mixed precision with Adam: 16 bytes per trained parameter (bf16 weights 2, bf16 grads 2,
  fp32 master weights, momentum and variance 12), the ZeRO paper's (2 + 2 + K) Psi with K = 12. DDP keeps
  all of it on every GPU; FSDP full sharding and ZeRO-3 divide all of it by the number of GPUs;
  ZeRO-3 with optimizer offload keeps the 4 bytes of bf16 weights and grads sharded on the GPUs and
  moves the 12 bytes to host memory. LoRA: frozen bf16 weights (4-bit for QLoRA, 0.5 byte) plus 16
  bytes per adapter parameter. The transient gather of one layer's full weights (FSDP, ZeRO-3) is
  added as 2 bytes per parameter of one decoder layer.
- activations, per GPU at micro-batch b and length s (t = b*s tokens), an approximation after
  Korthikanti et al. 2022 with a fused attention kernel (no s x s scores kept): 34 x hidden bytes per
  token per layer in bf16 without gradient checkpointing; with it, each layer's input (2 x hidden
  bytes per token) plus one layer recomputed in full; plus the fp32 logits (4 x vocab bytes per token).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

GIB = 2**30
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "model_configs"
ADAM_MIXED = 16  # bytes per parameter: bf16 weights 2 + bf16 grads 2 + fp32 master, m, v 12
ACT_PER_TOKEN_LAYER = 34  # x hidden bytes, bf16, fused attention (Korthikanti et al. 2022, without 5as/h)


@dataclasses.dataclass(frozen=True)
class ModelShape:
    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied: bool = False
    max_positions: int = 4096

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        attn = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_heads * self.head_dim
        return attn + 3 * self.hidden * self.intermediate + 2 * self.hidden

    def params(self) -> int:
        head = 0 if self.tied else self.vocab * self.hidden
        return self.vocab * self.hidden + self.layers * self.layer_params() + self.hidden + head

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


def shape_from_config(cfg: dict[str, Any], name: str) -> ModelShape:
    heads = cfg["num_attention_heads"]
    return ModelShape(
        name=name,
        layers=cfg["num_hidden_layers"],
        hidden=cfg["hidden_size"],
        heads=heads,
        kv_heads=cfg.get("num_key_value_heads") or heads,
        intermediate=cfg["intermediate_size"],
        vocab=cfg["vocab_size"],
        tied=bool(cfg.get("tie_word_embeddings", False)),
        max_positions=cfg.get("max_position_embeddings", 4096),
    )


def config_path(model: str) -> Path | None:
    """The config.json of a model: a local directory's, the shipped copy for a hub id, else the Hub's
    (unless HF_HUB_OFFLINE); None when none can be read."""
    local = Path(model).expanduser()
    if (local / "config.json").is_file():
        return local / "config.json"
    if (FIXTURES / model / "config.json").is_file():
        return FIXTURES / model / "config.json"
    if local.exists() or model.count("/") != 1 or os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model, "config.json", etag_timeout=5))
    except Exception:  # noqa: BLE001 - unreachable, gated or unknown: the size is then unknown
        return None


def load_shape(model: str) -> ModelShape | None:
    path = config_path(model)
    if path is None:
        return None
    cfg = json.loads(path.read_text(encoding="utf-8"))
    if "num_hidden_layers" not in cfg:
        return None
    return shape_from_config(cfg, name=model.rstrip("/").rsplit("/", 1)[-1])


def serving_memory(shape: ModelShape, *, tp: int, max_len: int) -> dict[str, int]:
    """Bytes per GPU for one vLLM engine: bf16 weights and the KV cache of one full-length sequence."""
    return {"weights": shape.params() * 2 // tp, "kv_cache": shape.kv_bytes_per_token() * max_len // tp}


@dataclasses.dataclass(frozen=True)
class Strategy:
    """How a training run holds its state: ddp (a full copy per GPU), fsdp / zero3 (sharded over
    `gpus`), zero3 with `offload` (optimizer state and fp32 master weights in host memory)."""

    kind: str = "ddp"
    gpus: int = 1
    offload: bool = False
    lora_r: int | None = None
    lora_modules: int = 4  # adapted projections per layer (q, k, v, o)
    qlora: bool = False
    checkpointing: bool = False

    @property
    def sharded(self) -> bool:
        return self.kind in ("fsdp", "zero3") and self.gpus > 1

    def describe(self) -> str:
        text = {"ddp": "DDP" if self.gpus > 1 else "one GPU", "fsdp": "FSDP", "zero3": "ZeRO-3"}[self.kind]
        if self.offload:
            text += " + CPU optimizer"
        if self.lora_r:
            text += f", {'QLoRA' if self.qlora else 'LoRA'} r={self.lora_r}"
        return text + ", bf16" + (", grad. ckpt" if self.checkpointing else "")


def lora_params(shape: ModelShape, r: int, modules: int = 4) -> int:
    """Adapter parameters: r x (in + out) per adapted projection (q, k, v, o: in = hidden, out = hidden
    for q/o and kv_heads x head_dim for k/v; counted as hidden, an upper bound)."""
    return shape.layers * modules * r * 2 * shape.hidden


def state_memory(shape: ModelShape, st: Strategy) -> dict[str, int]:
    """Bytes per GPU of weights, gradients and optimizer state, and host bytes in all (`cpu`)."""
    p = shape.params()
    if st.lora_r:
        a = lora_params(shape, st.lora_r, st.lora_modules)
        frozen = p // 2 if st.qlora else 2 * p
        div = st.gpus if st.sharded else 1
        return {
            "weights": (frozen + 2 * a) // div,
            "gradients": 2 * a // div,
            "optimizer": 12 * a // div,
            "cpu": 0,
        }
    div = st.gpus if st.sharded else 1
    gather = 2 * shape.layer_params() if st.sharded else 0
    optimizer, cpu = 12 * p // div, 0
    if st.offload:
        optimizer, cpu = 0, 12 * p
    return {"weights": 2 * p // div + gather, "gradients": 2 * p // div, "optimizer": optimizer, "cpu": cpu}


def activation_memory(shape: ModelShape, *, micro_batch: int, max_len: int, checkpointing: bool) -> int:
    tokens = micro_batch * max_len
    full_layer = ACT_PER_TOKEN_LAYER * shape.hidden * tokens
    if checkpointing:
        body = shape.layers * 2 * shape.hidden * tokens + full_layer
    else:
        body = shape.layers * full_layer
    return body + 4 * shape.vocab * tokens
