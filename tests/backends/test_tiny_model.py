"""`harness tiny-model`: deterministic, vLLM-loadable shape, a chat template with generation markers."""

from __future__ import annotations

import json

from _support import run_harness

from harness.core.io import file_sha256


def test_tiny_model_is_deterministic_and_has_generation_markers(tiny_model, tmp_path):
    r = run_harness("tiny-model", str(tmp_path / "again"), "--seed", "0")
    assert r.returncode == 0, r.stderr
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert file_sha256(tiny_model / name) == file_sha256(tmp_path / "again" / name), name
    r = run_harness("tiny-model", str(tmp_path / "other"), "--seed", "1")
    assert file_sha256(tiny_model / "model.safetensors") != file_sha256(
        tmp_path / "other" / "model.safetensors"
    )

    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["head_dim"] == 64 and cfg["dtype"] == "float32" and cfg["model_type"] == "llama"

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = [{"role": "user", "content": "What is a list?"}, {"role": "assistant", "content": "A sequence."}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask = enc["assistant_masks"]
    assistant_ids = [t for t, m in zip(enc["input_ids"], mask) if m]
    assert tok.decode(assistant_ids) == "A sequence.</s>"  # only the answer (and its end) is marked
    assert sum(mask) < len(mask)
