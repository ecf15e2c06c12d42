"""Chat templates, applied in one place: the harness's own template (`CHAT_TEMPLATE`) and a Llama-2
`[INST]` one (`LLAMA2_CHAT_TEMPLATE`), the format both papers fine-tuned in.

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

# The harness chat template: `<|system|>/<|user|>/<|assistant|>` headers, each turn ended by the EOS
# token. The assistant turn sits inside `{% generation %}` so that TRL's assistant-only loss trains
# its content and its EOS and masks everything else. The tiny model ships it; the trainer installs
# it on a base model without a template (Llama-2-7b-hf) or when a recipe asks for it.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Llama-2's chat format, written for this project from the format's structure: each user turn is
# `<s>[INST] ... [/INST]`, the system turn sits inside the first user turn between `<<SYS>>` lines,
# and each answer follows with a space and ends with a space and EOS. The answer (with its EOS) is
# the `{% generation %}` part, so assistant-only loss trains it and masks the rest. A prompt ends
# with `[/INST]`, so the generation prompt adds nothing and a prompt is a prefix of the trained
# text. A system turn anywhere but first, or an assistant turn without a user turn before it, is
# an error (the format has no place for either).
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] %}{% set turns = messages[1:] %}"
    "{% else %}{% set system = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}"
    "{% if message['role'] == 'user' %}"
    "{{ bos_token }}[INST] {% if loop.first and system %}<<SYS>>\n{{ system }}\n<</SYS>>\n\n{% endif %}"
    "{{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'assistant' and not loop.first and turns[loop.index0 - 1]['role'] == 'user' %}"
    "{% generation %} {{ message['content'] }} {{ eos_token }}{% endgeneration %}"
    "{% else %}"
    "{{ raise_exception('the llama2 chat template takes an optional first system turn, then user and assistant "
    "turns in turn') }}"
    "{% endif %}"
    "{% endfor %}"
)

# The templates a recipe can name (`recipe.chat_template`), besides `auto` (the model's own).
NAMED_TEMPLATES = {"harness": CHAT_TEMPLATE, "llama2": LLAMA2_CHAT_TEMPLATE}


def template_hash(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return "none"
    if isinstance(template, dict):
        template = "\n".join(f"{k}:{v}" for k, v in sorted(template.items()))
    return text_hash(template)


def render_chat(
    tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = True
) -> list[int]:
    """Token ids of `messages` under the tokenizer's chat template, ready for generation."""
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', '?')} has no chat template",
            fix="use a chat model, or a base model directory whose tokenizer_config.json "
            "sets chat_template (harness tiny-model writes one)",
        )
    out = tokenizer.apply_chat_template(
        [m.to_dict() for m in messages],
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        return_dict=False,
    )
    if isinstance(out, dict) or hasattr(out, "input_ids") and not isinstance(out, list):
        out = out["input_ids"]
    return list(out)
