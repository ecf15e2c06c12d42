"""Two processes through `accelerate launch` on the CPU (DDP over gloo): the same recipe trains,
the ranks split each global batch between them, and one model is saved."""

from __future__ import annotations

from training.sft_data import make_records, train

from harness.training.recipe import load_recipe

QUICK = {"max_steps": 10, "save_steps": 100, "logging_steps": 2}


def test_two_processes_consume_the_global_batch_of_one(tiny_model, tmp_path):
    records = make_records(200, offset=300)
    # 2 ranks x 4 per step x 10 steps = 80 examples: less than one epoch
    two = train(
        tmp_path / "two",
        f"hf:{tiny_model}",
        records,
        load_recipe("tiny", {**QUICK, "num_processes": 2, "per_device_batch_size": 4}),
    )
    one = train(
        tmp_path / "one",
        f"hf:{tiny_model}",
        records,
        load_recipe("tiny", {**QUICK, "per_device_batch_size": 8}),
    )
    s, s1 = two.manifest.stats.to_dict(), one.manifest.stats.to_dict()
    print(
        f"\n2 ranks x 4: {s['tokens_seen']} tokens, {s['tokens_per_s']} tokens/s; 1 x 8: {s1['tokens_seen']} tokens"
    )
    assert s["num_processes"] == 2 and s["steps"] == 10 and s["effective_batch"] == 8 == s1["effective_batch"]
    assert set(s["peak_memory"]) == {"rank0", "rank1"}
    # TRL sums its token count over ranks: the two ranks together consumed exactly the examples one
    # process with a batch of 8 does (two ranks reading the same batches would count 40 examples twice)
    assert s["tokens_seen"] == s1["tokens_seen"]
    assert all(p["loss"] == p["loss"] for p in s["loss_curve"]) and len(s["loss_curve"]) == 5
    model_dirs = [p for p in (tmp_path / "two").rglob("config.json") if "checkpoint" not in str(p)]
    assert model_dirs == [tmp_path / "two" / "model" / "config.json"]
    assert (tmp_path / "two" / "model" / "model.safetensors").is_file()
