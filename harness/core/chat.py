"""Chat templates, applied in one place.

Every local backend turns messages into a prompt through `render_chat`, so `hf` and `vllm` see the
same token ids, and the template's hash can go into manifests and cache keys. The tokenizer is any
object with `apply_chat_template` and `chat_template` (a transformers tokenizer); nothing is
imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.core.errors import BackendError
from harness.core.fingerprint import text_hash
from harness.core.records import Message


def template_hash(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return "none"
    if isinstance(template, dict):
        template = "\n".join(f"{k}:{v}" for k, v in sorted(template.items()))
    return text_hash(template)


def render_chat(tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> list[int]:
    """Token ids of `messages` under the tokenizer's chat template, ready for generation."""
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no chat template",
                           fix="use a chat model, or a base model directory whose tokenizer_config.json "
                               "sets chat_template (harness tiny-model writes one)")
    out = tokenizer.apply_chat_template([m.to_dict() for m in messages], add_generation_prompt=add_generation_prompt,
                                        tokenize=True, return_dict=False)
    if isinstance(out, dict) or hasattr(out, "input_ids") and not isinstance(out, list):
        out = out["input_ids"]
    return list(out)
