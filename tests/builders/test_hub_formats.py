"""Built datasets as the Hugging Face ecosystem expects them, on the shared build of every builder and
two baselines (whose provenance fields differ): all of them load together with
`datasets.load_dataset("json", ...)`, TRL's SFTTrainer trains on the loaded set as it is, and every
dataset directory carries a Hub dataset card."""

from __future__ import annotations

import json


def test_every_built_dataset_loads_together_and_trains_in_trl(built, tmp_path):
    import datasets
    from trl import SFTConfig, SFTTrainer

    from harness.core.records import InstructionRecord
    from harness.stages import paths
    from harness.training.model import load_tokenizer

    exp, runs, outcomes = built
    files = [str(o.directory / "dataset.jsonl") for o in outcomes.values() if o.manifest.stats.records]
    keys = [set(json.loads(json.loads(open(f).readline())["provenance"])) for f in files]
    assert len({frozenset(k) for k in keys}) > 2  # builders and baselines record different provenance
    data = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert len(data) == sum(o.manifest.stats.records for o in outcomes.values())
    assert set(data.column_names) == {"id", "messages", "source", "provenance"}
    row = data[0]
    assert InstructionRecord.from_dict(row).id == row["id"]  # a loaded row is still a record

    base = str(paths.base_model_dir(exp, runs))
    from transformers import AutoTokenizer

    template = AutoTokenizer.from_pretrained(base).chat_template
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        max_length=128,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=base, args=args, train_dataset=data, processing_class=load_tokenizer(base, template)
    )
    result = trainer.train()
    assert trainer.state.global_step == 2 and result.training_loss > 0


def test_every_built_dataset_has_a_hub_card(built):
    from huggingface_hub import DatasetCard

    exp, runs, outcomes = built
    for name, o in outcomes.items():
        card = DatasetCard.load(o.directory / "README.md")
        assert card.data.license and card.data.configs[0]["data_files"][0]["path"] == "dataset.jsonl", name
        assert f"--only {name}" in card.text and f"records: {o.manifest.stats.records:,}" in card.text, name
        for step in o.manifest.stats.steps:  # every step with its drops
            assert f"| {step} |" in card.text, (name, step)
