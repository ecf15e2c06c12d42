"""The capacity plan shown: its totals, its JSON (`harness run --dry-run --json`), its table and the
lines under it (`harness.stages.capacity` computes it)."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.core.capacity import GIB
from harness.stages.capacity import ASSUMPTIONS, StagePlan, _gib, problems


def totals(plans: list[StagePlan]) -> dict[str, Any]:
    """GPU-hours in all and per dataset; a shared helper (one key) is counted once, in its first stage."""
    seen: set[str] = set()
    per_dataset: dict[str, float] = {}
    total = 0.0
    for p in plans:
        for load in p.loads:
            if load.key and load.key in seen:
                continue
            seen.add(load.key)
            hours = load.gpu_hours()
            total += hours
            if p.dataset:
                per_dataset[p.dataset] = per_dataset.get(p.dataset, 0.0) + hours
    return {"gpu_hours": round(total, 1), "per_dataset": {k: round(v, 1) for k, v in per_dataset.items()}}


def to_json(exp, plans: list[StagePlan]) -> dict[str, Any]:
    hw = exp.hardware
    stages = [
        {
            "stage": p.label,
            "dataset": p.dataset,
            "work": p.work,
            "loads": [
                {
                    "role": x.role,
                    "model": x.model,
                    "mode": x.mode,
                    "how": x.how,
                    "gpus": x.gpus,
                    "params": x.shape.params() if x.shape else None,
                    "per_gpu_gib": None if x.need is None else round(x.per_gpu / GIB, 2),
                    "parts_gib": None
                    if x.need is None
                    else {k: round(v / GIB, 2) for k, v in x.need.items()},
                    "cpu_gib": round(x.cpu / GIB, 1),
                    "tokens": x.tokens,
                    "gpu_hours": round(x.gpu_hours(), 2),
                }
                for x in p.loads
            ],
        }
        for p in plans
    ]
    return {
        "hardware": dataclasses.asdict(hw) | {"declared": hw.declared},
        "stages": stages,
        "totals": totals(plans),
        "assumptions": ASSUMPTIONS,
        "problems": problems(exp, plans),
    }


def table(exp, plans: list[StagePlan]):
    """The capacity plan as a rich table, one row per model a stage loads."""
    from rich.markup import escape
    from rich.table import Table

    hw = exp.hardware
    have = (
        f"{hw.nodes} x {hw.gpus_per_node} GPUs of {hw.gpu_memory_gib:g} GiB"
        if hw.declared
        else "no hardware declared: nothing refused"
    )
    t = Table(title=f"capacity plan ({have})")
    for col in ("stage", "model", "how", "GPUs", "GiB per GPU", "GPU-h"):
        t.add_column(col)
    for p in plans:
        for x in p.loads:
            parts = (
                "?"
                if x.need is None
                else f"{_gib(x.per_gpu)} ("
                + ", ".join(f"{k} {_gib(v)}" for k, v in x.need.items())
                + ")"
                + (f", host {_gib(x.cpu)}" if x.cpu else "")
            )
            t.add_row(
                p.label, f"{x.role}: {x.model}", x.how, str(x.gpus), escape(parts), f"{x.gpu_hours():,.1f}"
            )
    return t


def summary_lines(exp, plans: list[StagePlan]) -> list[str]:
    tot, a = totals(plans), ASSUMPTIONS
    per = ", ".join(f"{k} {v:,.0f}" for k, v in tot["per_dataset"].items())
    return [
        f"estimated GPU-hours: {tot['gpu_hours']:,.0f} in all ({per})",
        f"assumptions: {a['peak_tflops_per_gpu']} TFLOP/s peak per GPU (A100 bf16), utilisation "
        f"{a['training_utilisation']:.0%} training / {a['generation_utilisation']:.0%} generation; "
        f"FLOPs {a['training_flops_per_token']} per training token, {a['generation_flops_per_token']} per "
        f"generated or prompt token; {a['tokens_per_training_example']} tokens per training example, "
        f"prompts {a['prompt_tokens_per_request']}, outputs {a['generated_tokens_per_request']}",
    ]
