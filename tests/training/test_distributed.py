"""Two processes through `accelerate launch` on the CPU (DDP over gloo): the same recipe trains,
each rank sees its own shard of the data, and one model is saved."""

from __future__ import annotations

import json

from training.sft_data import make_records

from harness.training.recipe import load_recipe
from harness.training.sft import train_stage


def test_two_processes_train_on_disjoint_shards(tiny_model, tmp_path):
    records = make_records(200, offset=300)
    # 2 ranks x 4 per step x 10 steps = 80 examples: less than one epoch, so no rank repeats a record
    recipe = load_recipe("tiny", {"num_processes": 2, "per_device_batch_size": 4, "max_steps": 10,
                                  "save_steps": 100, "logging_steps": 2})
    out = train_stage(tmp_path / "run", base_model=f"hf:{tiny_model}", records=records, recipe=recipe)
    s = out.manifest["stats"]
    assert s["num_processes"] == 2 and s["steps"] == 10 and s["effective_batch"] == 8
    seen = {r: json.loads((tmp_path / "run" / "seen" / f"rank{r}.json").read_text())["ids"] for r in (0, 1)}
    known = {r.id for r in records}
    print(f"\nrank 0 collated {len(seen[0])} examples, rank 1 {len(seen[1])}; tokens/s {s['tokens_per_s']}")
    assert len(seen[0]) >= 40 and len(seen[1]) >= 40
    assert set(seen[0]) <= known and set(seen[1]) <= known
    assert not set(seen[0]) & set(seen[1])
    assert all(p["loss"] == p["loss"] for p in s["loss_curve"]) and len(s["loss_curve"]) == 5
    model_dirs = [p for p in (tmp_path / "run").rglob("config.json") if "checkpoint" not in str(p)]
    assert model_dirs == [tmp_path / "run" / "model" / "config.json"]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
