"""The shared SFT trainer: one TRL `SFTTrainer` recipe for every dataset, one CPU to many GPUs.

`train_stage` is a cached stage (`harness.core.runs.run_stage`). Its body:

1. resolves the base model (a local directory, a hub id, or a backend spec such as `hf:/path`);
2. picks the chat template (see `choose_template`): the loss is on assistant tokens only, through
   TRL's `assistant_only_loss=True`, which needs `{% generation %}` markers in the template;
3. screens the records with that template (`screen`): records without an assistant turn, and
   records longer than `recipe.max_length` (dropped, or truncated when `recipe.overlong` is
   "truncate", dropped anyway if no assistant token survives), are written to `drops.jsonl` with
   their reason and counted, never a crash; the kept records go to `train.jsonl`;
4. trains (`fit`): in this process when `recipe.num_processes == 1`, else through
   `accelerate launch` running `harness.training.worker` (DDP by default; FSDP or DeepSpeed ZeRO-3
   by a named config in `harness/configs/accelerate/`). Checkpoints go to `checkpoints/`; a run
   killed mid-way resumes from the last complete checkpoint of the same fingerprint;
5. saves `model/` (weights, tokenizer with the inference chat template, generation config),
   loadable as is by the hf, vllm and openai backends; a LoRA adapter is merged first.

The manifest's stats hold the loss curve, tokens seen, tokens/s, wall time, peak memory, the
resolved precision and template, and the drop/truncation counts.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import from_dict, to_dict
from harness.core.errors import ConfigError, InputError, StageError
from harness.core.fingerprint import fingerprint as make_fingerprint
from harness.core.fingerprint import text_hash
from harness.core.io import read_json, read_jsonl, write_json, write_jsonl
from harness.core.records import InstructionRecord
from harness.core.runs import StageOutcome, StageResult, run_stage
from harness.training.recipe import Recipe, semantic_dict

log = logging.getLogger(__name__)

SFT_VERSION = 1
ACCELERATE_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
JOB_FILE = "train_job.json"  # what `fit` needs: base model, recipe, templates
STATS_FILE = "train_stats.json"  # what `fit` measured (written by rank 0)
CHECKPOINT_FP = "FINGERPRINT"  # the fingerprint the checkpoints in checkpoints/ belong to
# Config attributes that hold dropout probabilities across architectures (Llama has only
# attention_dropout; GPT-2 style models have resid/embd/attn_pdrop; BERT-like hidden_dropout_prob).
DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                "hidden_dropout_prob", "attention_probs_dropout_prob", "activation_dropout")


# ---------------------------------------------------------------- small resolvers
def resolve_base_model(base_model: str) -> str:
    """A local directory or hub id: `hf:/path` and `vllm:org/name` lose their backend prefix."""
    from harness.backends.spec import BACKENDS, parse_spec

    prefix = base_model.partition(":")[0]
    if prefix in BACKENDS:
        spec = parse_spec(base_model)
        if spec.backend == "openai":
            raise ConfigError(f"cannot fine-tune '{base_model}': an openai: model is served, not loadable",
                              fix="name the model's weights: a local directory, a hub id, or hf:/path")
        return spec.model
    return base_model


def resolve_precision(precision: str) -> str:
    """`auto`: bf16 on a GPU that supports it (fp16 on older GPUs), fp32 on CPU."""
    if precision != "auto":
        return precision
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def accelerate_config_path(name_or_path: str) -> Path:
    """A named config in harness/configs/accelerate/ (ddp, fsdp, deepspeed-zero3) or a file path."""
    from harness.core.config import find_named_file

    return find_named_file(name_or_path, ACCELERATE_DIR, what="accelerate config", key="accelerate_config",
                           suffixes=(".yaml", ".yml", ".json"))


def recipe_from_dict(d: Mapping[str, Any]) -> Recipe:
    return from_dict(Recipe, dict(d))


# ---------------------------------------------------------------- chat template
def choose_template(tokenizer: Any, recipe: Recipe) -> tuple[str, str | None, str]:
    """(training template, inference template to save, which) for assistant-only loss.

    - `recipe.chat_template == "harness"`, or a tokenizer without a template (a base model such as
      Llama-2-7b-hf): the harness template (`harness.backends.tiny_model.CHAT_TEMPLATE`:
      `<|system|>/<|user|>/<|assistant|>` headers, each turn ended by the EOS token, the assistant
      turn inside `{% generation %}` so its content and its EOS are trained) for both.
    - a template with generation markers: used as is.
    - a template without markers (most chat models): TRL's training variant of it for training
      (`trl.chat_template_utils.get_training_chat_template`, for the families TRL knows), the
      original saved for inference. A template TRL cannot patch is an error naming the fix.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    from harness.backends.tiny_model import CHAT_TEMPLATE

    current = getattr(tokenizer, "chat_template", None)
    if recipe.chat_template == "harness" or not current:
        return CHAT_TEMPLATE, CHAT_TEMPLATE, "harness"
    if recipe.chat_template != "auto":
        raise ConfigError(f"recipe key 'chat_template' is {recipe.chat_template!r}", fix="use auto or harness")
    if has_generation_markers(current):
        return current, current, "model"
    try:
        patched = get_training_chat_template(tokenizer)
    except Exception as e:  # TRL raises for template families it has no training variant of
        raise ConfigError(f"the chat template of {getattr(tokenizer, 'name_or_path', '?')} has no "
                          f"{{% generation %}} markers and TRL cannot patch it ({e})",
                          fix="set the recipe key chat_template=harness to train with the harness template") from None
    return patched or current, current, "model+trl-training-variant"


# ---------------------------------------------------------------- screening records
def screen(records: Sequence[InstructionRecord], tokenizer: Any, template: str, recipe: Recipe
           ) -> tuple[list[InstructionRecord], list[dict[str, Any]], dict[str, int]]:
    """Kept records, drops ({id, reason, tokens}), counts: the same tokenization TRL applies."""
    kept: list[InstructionRecord] = []
    drops: list[dict[str, Any]] = []
    counts = {"records_in": len(records), "dropped_no_assistant": 0, "dropped_too_long": 0, "truncated": 0,
              "dropped_no_assistant_after_truncation": 0, "tokens": 0, "assistant_tokens": 0}
    for r in records:
        if not any(m.role == "assistant" for m in r.messages):
            counts["dropped_no_assistant"] += 1
            drops.append({"id": r.id, "reason": "no_assistant_turn"})
            continue
        out = tokenizer.apply_chat_template([m.to_dict() for m in r.messages], chat_template=template, tokenize=True,
                                            return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        if not any(mask):
            counts["dropped_no_assistant"] += 1
            drops.append({"id": r.id, "reason": "no_assistant_tokens", "tokens": len(ids)})
            continue
        if len(ids) > recipe.max_length:
            if recipe.overlong == "drop":
                counts["dropped_too_long"] += 1
                drops.append({"id": r.id, "reason": "too_long", "tokens": len(ids)})
                continue
            ids, mask = ids[: recipe.max_length], mask[: recipe.max_length]
            if not any(mask):
                counts["dropped_no_assistant_after_truncation"] += 1
                drops.append({"id": r.id, "reason": "no_assistant_tokens_after_truncation", "tokens": len(ids)})
                continue
            counts["truncated"] += 1
        counts["tokens"] += len(ids)
        counts["assistant_tokens"] += sum(1 for b in mask if b)
        kept.append(r)
    counts["records_kept"] = len(kept)
    return kept, drops, counts


# ---------------------------------------------------------------- checkpoints
def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint whose trainer_state.json (written last by the Trainer) exists.

    A run killed while saving leaves a checkpoint without it: that one is removed, so the
    Trainer's rotation never keeps it in place of a good one."""
    if not checkpoints.is_dir():
        return None
    found = []
    for p in checkpoints.glob("checkpoint-*"):
        suffix = p.name.rsplit("-", 1)[-1]
        if p.is_dir() and suffix.isdigit():
            found.append((int(suffix), p))
    for _, p in sorted(found, reverse=True):
        if (p / "trainer_state.json").is_file():
            return p
        log.warning("removing incomplete checkpoint %s (the run was killed while saving it)", p)
        shutil.rmtree(p, ignore_errors=True)
    return None


def _prepare_checkpoints(checkpoints: Path, fp: str, force: bool) -> None:
    """Checkpoints of another fingerprint (or any, with --force) must not be resumed from."""
    marker = checkpoints / CHECKPOINT_FP
    if checkpoints.is_dir():
        stale = force or not marker.is_file() or marker.read_text().strip() != fp
        if stale:
            log.info("discarding checkpoints in %s (%s)", checkpoints, "forced" if force else "other fingerprint")
            shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    marker.write_text(fp + "\n")


# ---------------------------------------------------------------- training (in-process or one rank)
class _SeenRecorder:
    """Wraps the trainer's collator: counts the tokens and loss tokens of every example this rank
    collates and remembers which record each came from (by a hash of its input ids)."""

    def __init__(self, collator: Any, id_of: Mapping[str, str]):
        self.collator = collator
        self.id_of = id_of
        self.seen: list[str] = []
        self.tokens = 0
        self.loss_tokens = 0

    def __call__(self, examples: list[dict[str, Any]]) -> Any:
        for ex in examples:
            ids = list(ex["input_ids"])
            key = _ids_key(ids)
            self.seen.append(self.id_of.get(key, "packed:" + key))
            self.tokens += len(ids)
            self.loss_tokens += sum(1 for x in ex.get("labels", ids) if x != -100)
        return self.collator(examples)


def _ids_key(ids: Sequence[int]) -> str:
    return text_hash(",".join(map(str, ids)))


def _peak_memory_mib() -> dict[str, float]:
    import resource

    import torch

    out = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def build_trainer(directory: Path) -> tuple[Any, _SeenRecorder, dict[str, Any]]:
    """The SFTTrainer for the job in `directory` (also used by tests to inspect real batches)."""
    import torch
    from datasets import Dataset
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    job = read_json(directory / JOB_FILE)
    recipe = recipe_from_dict(job["recipe"])
    precision = resolve_precision(recipe.precision)
    on_gpu = torch.cuda.is_available()
    if recipe.lora and recipe.lora.load_in_4bit and not on_gpu:
        raise ConfigError("recipe key 'lora.load_in_4bit' (QLoRA) needs a GPU and bitsandbytes",
                          fix="set lora.load_in_4bit=false on CPU")

    tokenizer = AutoTokenizer.from_pretrained(job["base_model"])
    tokenizer.chat_template = job["train_template"]
    if tokenizer.pad_token is None:  # Llama-2 has none; TRL would pick EOS too, say so explicitly
        tokenizer.pad_token = tokenizer.eos_token

    config = AutoConfig.from_pretrained(job["base_model"])
    for key in DROPOUT_KEYS:
        if isinstance(getattr(config, key, None), float | int) and not isinstance(getattr(config, key), bool):
            setattr(config, key, recipe.dropout)
    model_kwargs: dict[str, Any] = {"config": config}
    # Full fine-tuning keeps fp32 master weights (mixed precision autocasts to bf16); a LoRA base
    # is frozen, so it may sit in the compute dtype.
    if recipe.lora and precision in ("bf16", "fp16"):
        model_kwargs["dtype"] = torch.bfloat16 if precision == "bf16" else torch.float16
    else:
        model_kwargs["dtype"] = torch.float32
    if recipe.lora and recipe.lora.load_in_4bit:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=model_kwargs["dtype"])
    model = AutoModelForCausalLM.from_pretrained(job["base_model"], **model_kwargs)

    peft_config = None
    if recipe.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=recipe.lora.r, lora_alpha=recipe.lora.alpha, lora_dropout=recipe.lora.dropout,
                                 target_modules=list(recipe.lora.target_modules), task_type="CAUSAL_LM")

    rows = read_jsonl(directory / "train.jsonl")
    dataset = Dataset.from_list([{"messages": r["messages"]} for r in rows])
    args = SFTConfig(
        output_dir=str(directory / "checkpoints"),
        per_device_train_batch_size=recipe.per_device_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float < 1 is a fraction of the steps
        weight_decay=recipe.weight_decay,
        num_train_epochs=recipe.num_epochs,
        max_steps=recipe.max_steps,
        # padding-free without packing: screen() already dropped every record over max_length
        max_length=None if recipe.padding_free and not recipe.packing else recipe.max_length,
        packing=recipe.packing,
        padding_free=recipe.padding_free,
        assistant_only_loss=True,
        gradient_checkpointing=recipe.gradient_checkpointing,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not on_gpu,
        seed=recipe.seed,
        data_seed=recipe.seed,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        logging_steps=recipe.logging_steps,
        report_to="none",
        disable_tqdm=not sys.stderr.isatty(),
        dataloader_num_workers=0,  # the recorder below must see every batch in this process
        ddp_find_unused_parameters=False,  # every parameter gets a gradient; the extra graph walk is waste
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config)
    # Map each tokenized example back to its record id, so every rank can say what it saw.
    id_of = {}
    if not recipe.packing:
        # the prepared dataset is shuffled and filtered: re-tokenize the records to map ids
        for r in rows:
            out = tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)
            ids = list(out["input_ids"])[: recipe.max_length]
            id_of[_ids_key(ids)] = r["id"]
    recorder = _SeenRecorder(trainer.data_collator, id_of)
    trainer.data_collator = recorder
    return trainer, recorder, {"precision": precision, "recipe": recipe, "job": job}


def fit(directory: Path) -> dict[str, Any] | None:
    """Train the job in `directory`; save `model/`. Returns the stats on the main process."""
    import torch

    directory = Path(directory)
    trainer, recorder, info = build_trainer(directory)
    recipe: Recipe = info["recipe"]
    acc = trainer.accelerator
    checkpoints = directory / "checkpoints"
    resume = last_complete_checkpoint(checkpoints) if acc.is_main_process else None
    if acc.num_processes > 1:  # every rank must resume from the checkpoint the main process chose
        from accelerate.utils import broadcast_object_list

        box = [str(resume) if resume else None]
        broadcast_object_list(box)
        resume = Path(box[0]) if box[0] else None
    resumed_step = int(resume.name.rsplit("-", 1)[-1]) if resume else 0
    if resume:
        log.info("resuming from %s", resume)
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_s = time.perf_counter() - t0

    # What this rank saw; the main process sums over ranks after the barrier.
    seen_dir = directory / "seen"
    seen_dir.mkdir(exist_ok=True)
    write_json(seen_dir / f"rank{acc.process_index}.json",
               {"rank": acc.process_index, "ids": recorder.seen, "tokens": recorder.tokens,
                "loss_tokens": recorder.loss_tokens, "train_s": train_s, **_peak_memory_mib()})

    tmp = directory / "model.tmp"
    if acc.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    acc.wait_for_everyone()
    if recipe.lora:
        trainer.save_model(str(directory / "adapter"))  # every rank: gathers sharded adapters
    else:
        trainer.save_model(str(tmp))
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return None

    job = info["job"]
    tokenizer = trainer.processing_class
    final_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(info["precision"], torch.float32)
    if recipe.lora:
        _merge_adapter(job["base_model"], directory / "adapter", tmp, final_dtype)
    elif final_dtype != torch.float32:
        _recast(tmp, final_dtype)
    tokenizer.chat_template = job["inference_template"]
    tokenizer.save_pretrained(str(tmp))
    _write_generation_config(tmp, tokenizer)
    final = directory / "model"
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)

    ranks = [read_json(p) for p in sorted(seen_dir.glob("rank*.json"))]
    history = trainer.state.log_history
    curve = [{"step": h["step"], "loss": round(float(h["loss"]), 5)} for h in history if "loss" in h]
    # TRL's count of non-padding tokens, summed over ranks, for this session (it restarts at 0 on
    # resume); the recorders' counts also include the one batch the dataloader prefetched.
    session_tokens = int(getattr(trainer, "_total_train_tokens", 0)) or sum(r["tokens"] for r in ranks)
    # after a resume, add what the interrupted session had counted up to its checkpoint (the last
    # logged cumulative count at or before that step), so a resumed run reports what an
    # uninterrupted one does
    before = [h["num_tokens"] for h in history if "num_tokens" in h and h.get("step", 0) <= resumed_step]
    tokens_seen = session_tokens + (int(round(before[-1])) if resumed_step and before else 0)
    return {
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed_step,
        "epochs": round(float(trainer.state.epoch or 0), 4),
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else round(float(output.training_loss), 5),
        "train_loss": round(float(output.training_loss), 5),
        "tokens_seen": tokens_seen,
        "loss_tokens_collated": sum(r["loss_tokens"] for r in ranks),
        # share of the consumed tokens that carry loss (assistant tokens), from the recorders
        "loss_token_share": round(sum(r["loss_tokens"] for r in ranks) / max(1, sum(r["tokens"] for r in ranks)), 4),
        "tokens_per_s": round(session_tokens / train_s, 1) if train_s > 0 else None,
        "train_time_s": round(train_s, 3),
        "num_processes": acc.num_processes,
        "effective_batch": recipe.per_device_batch_size * recipe.gradient_accumulation_steps * acc.num_processes,
        "precision": info["precision"],
        "peak_memory": {f"rank{r['rank']}": {k: v for k, v in r.items() if k.startswith("peak")} for r in ranks},
        "examples_collated_per_rank": {f"rank{r['rank']}": len(r["ids"]) for r in ranks},
    }


def _merge_adapter(base_model: str, adapter: Path, out: Path, dtype: Any) -> None:
    """Reload the base in the final dtype (never merge into 4-bit weights), merge, save."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)


def _recast(model_dir: Path, dtype: Any) -> None:
    """Save the fp32 master weights in the training precision (half the disk, what vLLM expects)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
    model.save_pretrained(str(model_dir), safe_serialization=True)


def _write_generation_config(model_dir: Path, tokenizer: Any) -> None:
    """Generation stops at the template's end-of-turn token (EOS) and pads with the pad token."""
    from transformers import GenerationConfig

    try:
        gen = GenerationConfig.from_pretrained(str(model_dir))
    except OSError:
        gen = GenerationConfig()
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.pad_token_id = tokenizer.pad_token_id
    gen.save_pretrained(str(model_dir))


# ---------------------------------------------------------------- multi-process launch
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(directory: Path, recipe: Recipe) -> list[str]:
    """`accelerate launch` of the worker with the recipe's process count and accelerate config."""
    import torch

    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(recipe.num_processes),
           "--main_process_port", str(_free_port())]
    if recipe.accelerate_config and torch.cuda.is_available():
        cmd += ["--config_file", str(accelerate_config_path(recipe.accelerate_config))]
    else:
        # torchrun-style launch of N ranks. Without CUDA each rank trains on the CPU over gloo
        # (`accelerate launch --cpu` would start one process only, expecting MPI). FSDP/ZeRO-3
        # configs are GPU-only, so on CPU they fall back to plain DDP.
        if recipe.accelerate_config:
            accelerate_config_path(recipe.accelerate_config)  # still reject a wrong name
            log.warning("no GPU: ignoring accelerate_config=%s, running DDP over gloo", recipe.accelerate_config)
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*cmd, "-m", "harness.training.worker", str(directory)]


def _launch(directory: Path, recipe: Recipe) -> None:
    cmd = launch_command(directory, recipe)
    log.info("launching: %s", " ".join(cmd))
    env = dict(os.environ)
    try:
        import torch

        if not torch.cuda.is_available():  # ranks share the cores: do not oversubscribe them
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // recipe.num_processes)))
    except ImportError:
        pass
    log_path = directory / "launch.log"
    with open(log_path, "w", encoding="utf-8") as logf:
        proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageError(f"accelerate launch exited with {proc.returncode}; log: {log_path}\n{tail}",
                         fix="fix the error above and rerun: training resumes from the last checkpoint")


# ---------------------------------------------------------------- the stage
def train_fingerprint(base_model: str, records: Sequence[InstructionRecord], recipe: Recipe,
                      upstream: Mapping[str, str] | None = None) -> str:
    ids = [r.id for r in records]
    return make_fingerprint("sft", version=SFT_VERSION,
                            config={"base_model": base_model, "recipe": semantic_dict(recipe),
                                    "records": text_hash("\n".join(ids))},
                            upstream=upstream)


def train_stage(directory: Path, *, base_model: str, records: Sequence[InstructionRecord], recipe: Recipe,
                force: bool = False, upstream: Mapping[str, str] | None = None,
                fingerprint: str | None = None) -> StageOutcome:
    """Fine-tune `base_model` on `records` with `recipe` into `directory/model/` (cached).

    `fingerprint` replaces the default one (records' ids in order, semantic recipe, base model)
    when the caller derives it from config, as `harness.stages.train` does for dry runs."""
    directory = Path(directory)
    fp = fingerprint or train_fingerprint(base_model, records, recipe, upstream)
    config = {"base_model": base_model, "recipe": to_dict(recipe), "records": len(records)}

    if recipe.padding_free and not recipe.packing and recipe.overlong != "drop":
        # TRL does not truncate padding-free batches without packing; dropping keeps every row in bounds
        raise ConfigError("recipe: padding_free=true without packing needs overlong=drop",
                          fix="set overlong=drop, or packing=true (which is padding-free and truncates)")

    def body(d: Path) -> StageResult:
        t0 = time.perf_counter()
        from transformers import AutoTokenizer

        from harness.backends.engines import release_idle

        release_idle(gpu_only=True)  # inference engines kept for reuse give their GPU memory back

        base_path = resolve_base_model(base_model)
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        train_template, inference_template, template_kind = choose_template(tokenizer, recipe)
        kept, drops, counts = screen(records, tokenizer, train_template, recipe)
        write_jsonl(d / "drops.jsonl", drops)
        write_jsonl(d / "train.jsonl", [r.to_dict() for r in kept])
        if not kept:
            raise InputError(f"no trainable records: {counts['records_in']} given, {counts['dropped_no_assistant']} "
                             f"without an assistant turn, {counts['dropped_too_long']} longer than max_length "
                             f"{recipe.max_length}; see {d / 'drops.jsonl'}",
                             fix="check the dataset (each record needs an assistant message), or raise "
                                 "max_length / set overlong=truncate")
        for reason in ("dropped_no_assistant", "dropped_too_long", "truncated"):
            if counts[reason]:
                log.warning("%s: %d of %d records %s", d.name, counts[reason], len(records), reason.replace("_", " "))
        write_json(d / JOB_FILE, {"base_model": base_path, "recipe": to_dict(recipe), "train_template": train_template,
                                  "inference_template": inference_template})
        _prepare_checkpoints(d / "checkpoints", fp, force)
        for old in (d / "seen", d / STATS_FILE):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        if recipe.num_processes > 1:
            _launch(d, recipe)
            stats = read_json(d / STATS_FILE)
        else:
            stats = fit(d)
            assert stats is not None  # single process: this is the main process
        shutil.rmtree(d / "checkpoints", ignore_errors=True)  # the model is saved; checkpoints are GBs
        shutil.rmtree(d / "adapter", ignore_errors=True)
        model_files = sorted(p.relative_to(d).as_posix() for p in (d / "model").iterdir() if p.is_file())
        return StageResult(outputs=["train.jsonl", "drops.jsonl", *model_files],
                           stats={**counts, "template": template_kind, **stats,
                                  "wall_time_s": round(time.perf_counter() - t0, 3)})

    return run_stage(directory, stage="train", fingerprint=fp, body=body, config=config, upstream=upstream,
                     force=force)
