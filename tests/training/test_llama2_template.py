"""`recipe.chat_template: llama2`: a tiny training in Llama-2's `[INST]` format masks everything but
the answers, saves the format with the model, and the backends prompt the trained model with it."""

from __future__ import annotations

import pytest
from training.sft_data import make_records, train

from harness.core.chat import LLAMA2_CHAT_TEMPLATE, render_chat
from harness.core.errors import ConfigError
from harness.core.records import Message
from harness.experiment import eval_system_prompt, load_experiment
from harness.training.recipe import load_recipe
from harness.training.sft import build_trainer, train_fingerprint


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    records = make_records(40)
    recipe = load_recipe("tiny", {"chat_template": "llama2", "max_steps": 4})
    return train(tmp_path_factory.mktemp("llama2") / "run", f"hf:{tiny_model}", records, recipe), records


def test_loss_only_on_answers(trained):
    outcome, records = trained
    assert outcome.manifest.ok and outcome.manifest.stats.to_dict()["template"] == "llama2"
    trainer = build_trainer(outcome.directory)
    tok = trainer.processing_class
    by_ids = {
        tuple(
            tok.apply_chat_template([m.to_dict() for m in r.messages], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        ): r
        for r in records
    }
    checked = 0
    for ids, labels in zip(
        *(trainer.get_train_dataloader().__iter__().__next__()[k].tolist() for k in ("input_ids", "labels"))
    ):
        while ids and ids[-1] == tok.pad_token_id:
            ids, labels = ids[:-1], labels[:-1]
        record = by_ids[tuple(ids)]
        want = "".join(f" {m.content} {tok.eos_token}" for m in record.messages if m.role == "assistant")
        assert (
            tok.decode([t for t, lab in zip(ids, labels) if lab != -100], skip_special_tokens=False) == want
        )
        masked = tok.decode([t for t, lab in zip(ids, labels) if lab == -100 and t != tok.pad_token_id])
        assert "[INST]" in masked and "[/INST]" in masked and "<|user|>" not in masked
        if record.messages[0].role == "system":
            assert f"<<SYS>>\n{record.messages[0].content}\n<</SYS>>" in masked
        checked += 1
    assert checked >= 8


def test_saved_model_prompts_in_llama2_format(trained):
    """The model directory carries the template; every local backend renders through it, so the
    eval prompt (tag as the system turn) is Llama-2's and is a prefix of the trained text."""
    from transformers import AutoTokenizer

    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams

    outcome, _ = trained
    model = outcome.directory / "model"
    tok = AutoTokenizer.from_pretrained(str(model))
    assert tok.chat_template == LLAMA2_CHAT_TEMPLATE
    exp = load_experiment("demo")
    turns = (
        Message("system", eval_system_prompt(exp.train, "seed")),
        Message("user", "Explain os.path.join."),
    )
    prompt = render_chat(tok, turns)
    assert tok.decode(prompt, skip_special_tokens=False) == (
        f"<s>[INST] <<SYS>>\n{exp.train.seed_tag}\n<</SYS>>\n\nExplain os.path.join. [/INST]"
    )
    full = render_chat(tok, (*turns, Message("assistant", "It joins paths.")), add_generation_prompt=False)
    assert full[: len(prompt)] == prompt
    gen = load_generator(f"hf:{model}", dtype="float32")
    try:
        out = gen.generate([ChatRequest("q", turns, SamplingParams(temperature=0.0, max_tokens=8, seed=0))])
    finally:
        gen.close()
    assert out[0].prompt_tokens == len(prompt)


def test_template_enters_the_fingerprint():
    base = load_recipe("tiny")
    assert base.chat_template == "auto"
    assert train_fingerprint(base, base="hf:x", upstream={}) != train_fingerprint(
        load_recipe("tiny", {"chat_template": "llama2"}), base="hf:x", upstream={}
    )


def test_config_key():
    assert load_experiment("demo", ["train.chat_template=llama2"]).train.recipe.chat_template == "llama2"
    with pytest.raises(ConfigError, match="chat_template"):
        load_experiment("demo", ["train.chat_template=llama3"])
