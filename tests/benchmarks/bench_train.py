"""Benchmark: training throughput of the shared SFT recipe, padded batches vs packing.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_train.py
The tiny recipe on the tiny (or --size small) random Llama, real (instruction, response) records
from stdlib docstrings of varied length. For each configuration it trains `--steps` optimizer steps
through `harness.training.sft.train_stage` (the real trainer, in-process, fresh run directory) and
prints:
  * tokens/s: non-padding tokens the trainer consumed per second of `trainer.train` (TRL's count);
  * loss tokens/s: assistant tokens (the ones that carry loss) per second;
  * padding share: how much of each padded batch was padding (what packing saves);
Packing uses TRL's best-fit-decreasing packing, which is padding-free (sequences flattened, one
row per batch, attention kept per record through position ids).
On a GPU (bf16 by precision auto) it also prints model-FLOPs utilisation, 6 * params * tokens/s
over the GPU's peak (--peak-tflops, default 989 for an H100 SXM's dense bf16).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def records(n: int):
    from harness.core.records import InstructionRecord, Message
    from harness.core.stdlib_text import iter_stdlib_docstrings

    out = []
    for name, doc in itertools.islice(iter_stdlib_docstrings(min_chars=60), n):
        out.append(
            InstructionRecord(
                (Message("user", f"Explain {name}."), Message("assistant", doc[:1200])), "bench"
            )
        )
    return out


def run(model: Path, recs, work: Path, label: str, overrides: dict) -> dict:
    from harness.training.recipe import load_recipe
    from harness.training.sft import build_trainer, train_fingerprint, train_stage

    recipe = load_recipe(
        "tiny",
        {
            "max_steps": ARGS.steps,
            "save_steps": 10_000,
            "logging_steps": ARGS.steps,
            "max_length": ARGS.max_length,
            "precision": "auto",
            **overrides,
        },
    )
    fp = train_fingerprint(recipe, base=str(model), upstream={"records": str(len(recs))})
    out = train_stage(
        work / label, base_model=str(model), records=recs, recipe=recipe, fingerprint=fp, force=True
    )
    s = out.manifest.stats.to_dict()
    padding = None
    if not overrides.get("packing"):  # measure the padding share on real batches of this dataset
        trainer = build_trainer(work / label)
        real = total = 0
        for batch in itertools.islice(trainer.get_train_dataloader(), 20):
            real += int(batch["attention_mask"].sum())
            total += batch["input_ids"].numel()
        padding = 1 - real / total
    return {
        "label": label,
        "tokens_per_s": s["tokens_per_s"],
        "train_s": s["train_time_s"],
        "tokens": s["tokens_seen"],
        "loss_tokens_per_s": round(s["tokens_per_s"] * s["loss_token_share"], 1),
        "padding_share": padding,
        "precision": s["precision"],
    }


def main() -> None:
    import torch

    from harness.backends.tiny_model import make_tiny_model

    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    model = make_tiny_model(work / "model", size=ARGS.size) if not ARGS.model else Path(ARGS.model)
    recs = records(ARGS.records)
    rows = []
    for rep in range(ARGS.repeats):
        for label, over in (("padded", {}), ("packing", {"packing": True})):
            r = run(model, recs, work, f"{label}-{rep}", over)
            r["label"] = label
            rows.append(r)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(
        f"\nSFT throughput, {ARGS.size} model, {ARGS.records} records, {ARGS.steps} steps x batch 8, "
        f"max_length {ARGS.max_length}, {device}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    best = {}
    for r in rows:
        if r["label"] not in best or r["tokens_per_s"] > best[r["label"]]["tokens_per_s"]:
            best[r["label"]] = r
    print(
        f"{'config':<10} {'tokens/s':>10} {'loss tok/s':>11} {'train s':>8} {'padding':>8}   (best of {ARGS.repeats})"
    )
    for label, r in best.items():
        pad = f"{100 * r['padding_share']:.0f}%" if r["padding_share"] is not None else "0%"
        print(
            f"{label:<10} {r['tokens_per_s']:>10.0f} {r['loss_tokens_per_s']:>11.0f} {r['train_s']:>8.2f} {pad:>8}"
        )
    if torch.cuda.is_available():
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            n_params = sum(
                p.numel()
                for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).parameters()
            )
        for label, r in best.items():
            mfu = 6 * n_params * r["tokens_per_s"] / (ARGS.peak_tflops * 1e12)
            print(f"{label}: MFU {100 * mfu:.2f}% ({n_params / 1e6:.1f} M params, {r['precision']})")
    print(json.dumps({"rows": rows}, indent=None))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=["tiny", "small"], default="tiny")
    p.add_argument("--model", default=None, help="a local model directory instead of a tiny random Llama")
    p.add_argument("--records", type=int, default=400)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--peak-tflops", type=float, default=989.0)
    ARGS = p.parse_args()
    main()
