"""The capacity plan: per stage of the plan, the models it loads, how, the memory per GPU they need
against the declared hardware (`hardware:`), the GPUs used, the work and an estimated GPU-hours figure.

A build serves each model its builder uses through the experiment's backend (vLLM with
`engine.tensor_parallel_size`) and first trains the helpers it names (`@backward`, `@seed_model`,
Humpback's M1) with the experiment's recipe; a training stage trains the base model with the recipe's
strategy (its accelerate config: DDP, FSDP, ZeRO-3 with or without offload; LoRA/QLoRA); an eval serves
the trained model. Memory comes from `harness.core.capacity`; a model whose config.json cannot be read
is listed with an unknown size and never refused.

GPU-hours: FLOPs over an assumed throughput. Training costs 6 x params FLOPs per token, generation 2 x
params per (prompt or generated) token; one GPU delivers PEAK_FLOPS x the utilisation below. Token
counts rest on the stated ASSUMPTIONS (mean lengths), so the figure is an order of magnitude, not a quote.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.core.capacity import (
    GIB,
    ModelShape,
    Strategy,
    activation_memory,
    load_shape,
    serving_memory,
    state_memory,
)
from harness.core.errors import HarnessError
from harness.evaluation.eval_set import ALPACA_EVAL_SIZE
from harness.stages.builders import MODEL_OPTIONS, parse_options

PEAK_FLOPS = 312e12  # A100 bf16 dense, per GPU
ASSUMPTIONS = {
    "peak_tflops_per_gpu": 312,
    "training_utilisation": 0.4,
    "generation_utilisation": 0.2,
    "training_flops_per_token": "6 x params",
    "generation_flops_per_token": "2 x params",
    "tokens_per_training_example": 512,
    "prompt_tokens_per_request": "half of corpus.max_tokens (512 if unset)",
    "generated_tokens_per_request": "half of decoding.max_tokens",
    "eval_prompt_tokens": 64,
}


class CapacityError(HarnessError):
    """A stage does not fit the declared hardware."""


@dataclasses.dataclass(frozen=True)
class Load:
    """One model a stage puts on GPUs: served (`serve`) or trained (`train`)."""

    role: str
    model: str
    mode: str  # serve | train
    how: str
    gpus: int
    need: dict[str, int] | None  # bytes per GPU by part; None: the size is unknown
    cpu: int = 0
    tokens: int = 0
    flops_per_token: int = 0
    key: str = ""  # loads with one key (a shared helper) are counted once in the totals
    shape: ModelShape | None = None

    @property
    def per_gpu(self) -> int | None:
        return None if self.need is None else sum(self.need.values())

    def gpu_hours(self) -> float:
        util = (
            ASSUMPTIONS["training_utilisation"]
            if self.mode == "train"
            else ASSUMPTIONS["generation_utilisation"]
        )
        return self.flops_per_token * self.tokens / (PEAK_FLOPS * util) / 3600


@dataclasses.dataclass(frozen=True)
class StagePlan:
    label: str
    dataset: str | None
    loads: tuple[Load, ...]
    work: str = ""


def _engine(exp) -> tuple[int, int | None, float]:
    e = exp.engine
    return (
        int(e.get("tensor_parallel_size", 1)),
        e.get("max_model_len"),
        float(e.get("gpu_memory_utilization", 0.9)),
    )


def _model_of(spec: str) -> str:
    from harness.backends.spec import parse_spec

    if spec.startswith("tiny:"):
        return spec
    return parse_spec(spec).model


def _shape(spec: str) -> ModelShape | None:
    if spec.startswith("tiny:"):
        return None
    return load_shape(_model_of(spec))


def serve_load(exp, role: str, spec: str, *, requests: int | None, prompt: int, generated: int) -> Load:
    tp, max_len, _ = _engine(exp)
    shape = _shape(spec)
    vllm = exp.backend == "vllm" or spec.startswith("vllm:")
    tp = tp if vllm else 1
    how = f"vLLM, TP={tp}" if vllm else "transformers, one GPU"
    name = shape.name if shape else _model_of(spec)
    if shape is None:
        return Load(role, name, "serve", how, tp, None)
    need = serving_memory(shape, tp=tp, max_len=max_len or shape.max_positions)
    tokens = (requests or 0) * (prompt + generated)
    return Load(
        role, name, "serve", how, tp, need, tokens=tokens, flops_per_token=2 * shape.params(), shape=shape
    )


def strategy_of(exp) -> Strategy:
    """The recipe's strategy: its accelerate config's kind and offload, LoRA, checkpointing, processes."""
    r = exp.train.recipe
    kind, offload = "ddp", False
    if r.accelerate_config:
        from harness.core.config import load_yaml
        from harness.training.launch import accelerate_config_path

        cfg, _ = load_yaml(accelerate_config_path(r.accelerate_config))
        ds = cfg.get("deepspeed_config") or {}
        if cfg.get("distributed_type") == "FSDP":
            kind = "fsdp"
        elif cfg.get("distributed_type") == "DEEPSPEED" and int(ds.get("zero_stage", 0)) == 3:
            kind, offload = "zero3", ds.get("offload_optimizer_device", "none") not in ("none", None)
    lora = r.lora
    return Strategy(
        kind=kind,
        gpus=r.num_processes,
        offload=offload,
        lora_r=lora.r if lora else None,
        lora_modules=len(lora.target_modules) if lora else 4,
        qlora=bool(lora and lora.load_in_4bit),
        checkpointing=r.gradient_checkpointing,
    )


def train_steps(exp, examples: int | None, *, helper: bool = False) -> int | None:
    """Optimizer steps of a training on `examples` records: the recipe's max_steps, else its epochs; a
    helper's from the helpers' recipe (`helpers:`)."""
    from harness.experiment import helper_recipe

    r = helper_recipe(exp) if helper else exp.train.recipe
    if r.max_steps > 0:
        return r.max_steps
    if examples is None:
        return None
    return int(
        r.num_epochs * examples / (r.per_device_batch_size * r.gradient_accumulation_steps * r.num_processes)
    )


def train_need(exp, shape: ModelShape, st: Strategy) -> tuple[dict[str, int], int]:
    """Bytes per GPU (weights, gradients, optimizer, activations) and host bytes of one training."""
    r = exp.train.recipe
    need = state_memory(shape, st)
    cpu = need.pop("cpu")
    need["activations"] = activation_memory(
        shape, micro_batch=r.per_device_batch_size, max_len=r.max_length, checkpointing=st.checkpointing
    )
    return need, cpu


def train_load(exp, role: str, spec: str, *, examples: int | None, key: str = "") -> Load:
    """A training of `spec` on `examples` records; a helper (`key` set) with the helpers' length, its role
    naming its steps and epochs."""
    st, r = strategy_of(exp), exp.train.recipe
    steps = train_steps(exp, examples, helper=bool(key)) or 0
    batch = r.per_device_batch_size * r.gradient_accumulation_steps * r.num_processes
    if key:
        epochs = f", {steps * batch / examples:.1f} epochs" if examples and steps else ""
        role = f"{role} ({steps or '?'} steps{epochs})"
    shape = _shape(spec)
    name = shape.name if shape else _model_of(spec)
    if shape is None:
        return Load(role, name, "train", st.describe(), st.gpus, None, key=key)
    need, cpu = train_need(exp, shape, st)
    tokens = steps * batch * min(ASSUMPTIONS["tokens_per_training_example"], r.max_length)
    return Load(
        role,
        name,
        "train",
        st.describe(),
        st.gpus,
        need,
        cpu=cpu,
        tokens=tokens,
        flops_per_token=6 * shape.params(),
        key=key,
        shape=shape,
    )


def _roles(builder: str, o: Any) -> list[str]:
    """The options naming the models a builder runs (the steps its options switch on)."""
    if builder == "back_and_forth":
        return (
            ["backward_model"]
            + (["judge"] if o.variant != "rewriting" else [])
            + (["rewriter"] if o.variant != "filtering" else [])
        )
    if builder == "humpback":  # no M0 without curation (iterations: 0)
        return ["backward_model"] + (["judge"] if o.iterations else [])
    if builder == "distillation":
        corpus = getattr(o, "instructions_from", "corpus") == "corpus"
        return (["backward_model"] + (["judge"] if getattr(o, "filter", True) else []) if corpus else []) + [
            "teacher"
        ]
    return [k for k in MODEL_OPTIONS if isinstance(getattr(o, k, None), str)]


def _resolve(exp, role: str, ref: str, requests: int | None, sizes: tuple[int, int]) -> list[Load]:
    """A model reference as the loads it makes: a helper is trained (on the seed) and then served."""
    purpose, _, base = ref.partition(":")
    if purpose in ("@seed_model", "@backward"):
        base = base or exp.base_model
        seed = exp.seed_data.n  # None (the whole seed set): its size is unknown before it loads
        trained = train_load(exp, f"train {purpose[1:]} helper", base, examples=seed, key=f"{purpose}:{base}")
        return [
            trained,
            serve_load(
                exp,
                role,
                f"{exp.backend}:{_model_of(base)}",
                requests=requests,
                prompt=sizes[0],
                generated=sizes[1],
            ),
        ]
    spec = exp.base_model if ref == "@base" else ref
    return [serve_load(exp, role, spec, requests=requests, prompt=sizes[0], generated=sizes[1])]


def build_loads(exp, name: str) -> tuple[list[Load], str]:
    ds = exp.datasets[name]
    if ds.builder == "baseline":
        return [], "a public dataset loaded, no model"
    o = parse_options(ds.builder, ds.options, prefix=f"datasets.{name}.options.")
    docs = exp.corpus.max_documents if ds.builder != "fixed_responder" else None
    sizes = ((exp.corpus.max_tokens or 1024) // 2, exp.decoding.max_tokens // 2)
    loads: list[Load] = []
    for role in _roles(ds.builder, o):
        loads += _resolve(exp, role.replace("_model", ""), getattr(o, role), docs, sizes)
    if ds.builder == "humpback":
        base = o.judge.partition(":")[2] if o.judge.startswith("@seed_model:") else exp.base_model
        for k in range(1, o.iterations):
            loads.append(
                train_load(exp, f"train humpback M{k}", base, examples=None, key=f"m{k}:{base}:{name}")
            )
            loads.append(
                serve_load(
                    exp,
                    f"judge M{k}",
                    f"{exp.backend}:{_model_of(base)}",
                    requests=docs,
                    prompt=sizes[0],
                    generated=sizes[1],
                )
            )
    work = (
        f"up to {docs:,} documents, one request per document per model"
        if docs
        else "requests: as many as the source dataset's instructions (unknown here)"
    )
    return loads, work


def stage_plans(exp, steps) -> list[StagePlan]:
    """One StagePlan per planned stage (`harness.stages.plan.plan`)."""
    from harness.stages.rows import evaluated, trainings

    by_train = {t.key: t for t in trainings(exp)}
    by_eval = {r.eval_key: r for r in evaluated(exp)}
    out = []
    for s in steps:
        if s.stage == "build":
            loads, work = build_loads(exp, s.dataset)
            out.append(StagePlan(s.label, s.dataset, tuple(loads), work))
        elif s.stage == "train":
            t = by_train[s.dataset]
            n = (t.n or 0) + ((exp.seed_data.n or 0) if t.assembly == "shared" else 0)
            load = train_load(exp, "train", exp.base_model, examples=n or None)
            out.append(StagePlan(s.label, t.dataset, (load,), f"{train_steps(exp, n or None) or '?'} steps"))
        elif s.stage == "eval":
            n = exp.eval.max_instances or ALPACA_EVAL_SIZE
            load = serve_load(
                exp,
                "generate",
                exp.base_model,
                requests=n,
                prompt=ASSUMPTIONS["eval_prompt_tokens"],
                generated=exp.eval.decoding.max_tokens // 2,
            )
            out.append(StagePlan(s.label, by_eval[s.dataset].training.dataset, (load,), f"{n} eval prompts"))
        else:
            out.append(StagePlan(s.label, None, (), "small models only"))
    return out


def _gib(n: float) -> str:
    """GiB, rounded up (a need is never shown below what it is)."""
    import math

    return f"{math.ceil(n / GIB)}" if n >= 10 * GIB else f"{math.ceil(n / GIB * 10) / 10:.1f}"


def _serve_problem(exp, label: str, load: Load) -> str | None:
    hw, util = exp.hardware, _engine(exp)[2]
    if load.gpus > hw.gpus_per_node:
        return (
            f"{label}: {load.model} is served over {load.gpus} GPUs, one node has {hw.gpus_per_node}: "
            f"set engine.tensor_parallel_size={hw.gpus_per_node} or less"
        )
    room = hw.gpu_memory_gib * util * GIB
    if load.per_gpu <= room:
        return None
    shape = load.shape
    total = load.per_gpu * load.gpus
    fits = [t for t in range(1, hw.gpus_per_node + 1) if shape.heads % t == 0 and total / t <= room]
    fix = (
        f"set engine.tensor_parallel_size={fits[0]} or more"
        if fits
        else f"no tensor_parallel_size up to {hw.gpus_per_node} fits: larger GPUs, or a smaller engine.max_model_len"
    )
    return (
        f"{label}: {load.model} needs {_gib(load.need['weights'])} GiB of weights + "
        f"{_gib(load.need['kv_cache'])} GiB of KV cache for one sequence per GPU of a vLLM engine with "
        f"tensor_parallel_size={load.gpus}, one GPU has {hw.gpu_memory_gib:g} ({_gib(room)} at "
        f"gpu_memory_utilization {util:g}), {_gib(load.per_gpu - room)} GiB short: {fix}"
    )


_ALTERNATIVES = (
    ("train.accelerate_config=fsdp", dict(kind="fsdp", offload=False)),
    (
        "train.accelerate_config=deepspeed-zero3 (ZeRO-3, optimizer offloaded to CPU)",
        dict(kind="zero3", offload=True),
    ),
    (
        "train.lora={r: 64, load_in_4bit: true} (QLoRA, a deviation from full fine-tuning)",
        dict(lora_r=64, qlora=True),
    ),
)


def _train_fix(exp, load: Load, gpus: int, room: float) -> str:
    base = dataclasses.replace(strategy_of(exp), gpus=gpus)
    more = f" with train.num_processes={gpus}" if gpus != exp.train.recipe.num_processes else ""
    for fix, change in _ALTERNATIVES:
        need, _ = train_need(exp, load.shape, dataclasses.replace(base, **change))
        if sum(need.values()) <= room:
            return f"set {fix}{more}"
    return "more GPUs (several nodes: num_machines in a copy of the accelerate config) or larger ones"


def _train_problem(exp, label: str, load: Load) -> str | None:
    hw = exp.hardware
    total, room = hw.nodes * hw.gpus_per_node, hw.gpu_memory_gib * GIB
    gpus = min(total, load.gpus)
    count = (
        f"uses train.num_processes={load.gpus} GPUs, the hardware has {total}; on {total} it "
        if gpus < load.gpus
        else ""
    )
    st = dataclasses.replace(strategy_of(exp), gpus=gpus)
    need, _ = train_need(exp, load.shape, st)
    per_gpu = sum(need.values())
    if per_gpu <= room:
        return (
            None
            if not count
            else (
                f"{label}: {load.role} {load.model} {count}fits: set train.num_processes="
                f"{total} (and gradient_accumulation_steps to keep the batch)"
            )
        )
    parts = ", ".join(f"{k} {_gib(v)}" for k, v in need.items())
    return (
        f"{label}: {load.role} {load.model} {count}needs {_gib(per_gpu)} GiB per GPU ({st.describe()}: {parts}), "
        f"one GPU has {hw.gpu_memory_gib:g}, {_gib(per_gpu - room)} GiB short: "
        + _train_fix(exp, load, gpus, room)
    )


def problems(exp, plans: list[StagePlan]) -> list[str]:
    """One line per stage that does not fit the declared hardware (none when none is declared)."""
    if not exp.hardware.declared:
        return []
    out = []
    for p in plans:
        found: list[str] = []
        for load in p.loads:
            if load.need is None:
                continue
            line = (_serve_problem if load.mode == "serve" else _train_problem)(exp, p.label, load)
            if line:
                found.append(line)
        if found:
            more = len(found) - 1
            out.append(
                found[0] + (f" (and {more} more model(s) of this stage that do not fit)" if more else "")
            )
    return out


def check(exp, steps) -> list[StagePlan]:
    """The capacity plan of the planned `steps`; raises CapacityError (one line per stage that does not
    fit) when hardware is declared and a stage does not fit."""
    plans = stage_plans(exp, steps)
    lines = problems(exp, plans)
    if lines:
        raise CapacityError(
            f"{len(lines)} stage(s) do not fit the declared hardware (hardware.*):\n  " + "\n  ".join(lines)
        )
    return plans
