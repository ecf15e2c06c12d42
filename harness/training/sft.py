"""The shared SFT trainer: data -> TRL `SFTTrainer` -> train -> save, the same for every dataset.

`train_stage` is a cached stage (`harness.core.runs.run_stage`) keyed by `train_fingerprint`:

1. `job.write_job` picks the chat template, screens the records against it and writes the job
   (`train.jsonl`, `drops.jsonl`, `train_job.json`);
2. `fit` trains the job: in this process, or in every rank of `accelerate launch` when
   `recipe.num_processes > 1` (`launch.launch`). A killed run resumes from its last checkpoint;
3. `model.save_model` writes `model/`, loadable as is by the hf, vllm and openai backends.

The manifest's stats hold the screening counts, the loss curve, tokens seen, tokens/s, wall time,
peak memory per rank and the resolved precision and template.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.config import to_dict
from harness.core.errors import ConfigError
from harness.core.fingerprint import fingerprint as make_fingerprint
from harness.core.records import InstructionRecord
from harness.core.runs import StageOutcome, StageResult, run_stage
from harness.training import checkpoints
from harness.training.data import Assembled
from harness.training.job import read_job, write_job
from harness.training.recipe import Recipe, lr_schedule, semantic_dict

TRAIN_VERSION = 1
LOG_HISTORY = "log_history.json"  # trainer.state.log_history of the run, beside the model


def train_fingerprint(
    recipe: Recipe, *, upstream: Mapping[str, str], base: Any = None, data: Mapping[str, Any] | None = None
) -> str:
    """The one fingerprint of a trained model: recipe + base model + where its records come from.

    `upstream` names the records' origin (a build fingerprint, a build sub-stage key, a data file's
    hash), `data` how the records were derived from it (the experiment's `train:` section), `base`
    the base model's identity (None when the upstream key already names it). All of it comes from
    config, never from outputs, so a dry run can predict cache hits."""
    return make_fingerprint(
        "train",
        version=TRAIN_VERSION,
        upstream=upstream,
        config={"recipe": semantic_dict(recipe), "base": base, "data": dict(data or {})},
    )


REWRITTEN_LATER = (
    "README.md",
)  # the model card, rewritten after the stage (eval results): not a recorded output


def train_stage(  # noqa: PLR0913 - keyword-only stage inputs, each named at its two call sites
    directory: Path,
    *,
    base_model: str,
    records: Sequence[InstructionRecord] | Assembled,
    recipe: Recipe,
    fingerprint: str,
    upstream: Mapping[str, str] | None = None,
    force: bool = False,
    save_at_steps: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
    model_name: str | None = None,
    before_fit: Callable[[], None] | None = None,
) -> StageOutcome:
    """Fine-tune the model at `base_model` (a local directory or hub id, which the caller resolves
    from a backend spec) on `records` into `directory/model/`, cached by `fingerprint`; the model at
    each of `save_at_steps` goes to `directory/steps/<k>/`. `model_name` is how the manifest names
    the base model (the spec the caller was given; default `base_model`). An experiment's row passes
    its `Assembled` set, whose counts (N asked for, N trained on, ...) the manifest's stats keep.
    `before_fit()` runs when the stage runs, before anything loads (the train stage releases idle
    inference engines' GPU memory with it). `progress(step, max_steps)` hears each optimizer step
    of an in-process run."""
    from harness.training.launch import check_machines, launch

    assembly = records.stats if isinstance(records, Assembled) else None
    records = records.records if isinstance(records, Assembled) else records

    if recipe.padding_free and not recipe.packing and recipe.overlong != "drop":
        # TRL does not truncate padding-free batches without packing; dropping keeps every row in bounds
        raise ConfigError(
            "recipe: padding_free=true without packing needs overlong=drop",
            fix="set overlong=drop, or packing=true (which is padding-free and truncates)",
        )

    def body(d: Path) -> StageResult:
        t0 = time.perf_counter()
        check_machines(
            recipe
        )  # num_machines > 1 outside a SLURM job of as many nodes: say so before any work
        if before_fit is not None:
            before_fit()
        screened = write_job(d, base_model, records, recipe, save_at_steps)
        checkpoints.prepare(d / "checkpoints", fingerprint, force)
        stats = launch(d, recipe) if recipe.num_processes > 1 else fit(d, progress=progress)
        shutil.rmtree(d / "checkpoints", ignore_errors=True)  # the model is saved; checkpoints are GBs
        shutil.rmtree(d / "adapter", ignore_errors=True)
        model_files = sorted(
            p.relative_to(d).as_posix()
            for k in ("model", *(f"steps/{s}" for s in save_at_steps))
            for p in (d / k).iterdir()
            if p.is_file() and p.name not in REWRITTEN_LATER
        )
        extra = {"assembly": dict(assembly)} if assembly is not None else {}
        return StageResult(
            outputs=["train.jsonl", "drops.jsonl", LOG_HISTORY, *model_files],
            stats={**screened, **stats, **extra, "wall_time_s": round(time.perf_counter() - t0, 3)},
        )

    config = {"base_model": model_name or base_model, "recipe": to_dict(recipe), "records": len(records)}
    return run_stage(
        directory,
        stage="train",
        fingerprint=fingerprint,
        body=body,
        config=config,
        upstream=upstream,
        force=force,
    )


def build_trainer(directory: Path) -> Any:
    """The SFTTrainer for the job in `directory` (tests use it to inspect real batches)."""
    from datasets import Dataset
    from trl import SFTTrainer

    from harness.core.io import read_jsonl
    from harness.training.model import load_model, load_tokenizer, lora_config, resolve_precision

    job, recipe = read_job(directory)
    precision = resolve_precision(recipe.precision)
    dataset = Dataset.from_list([{"messages": r["messages"]} for r in read_jsonl(directory / "train.jsonl")])
    trainer = SFTTrainer(
        model=load_model(job["base_model"], recipe, precision),
        args=sft_config(recipe, precision, directory / "checkpoints"),
        train_dataset=dataset,
        processing_class=load_tokenizer(job["base_model"], job["train_template"]),
        peft_config=lora_config(recipe),
    )
    for callback in trainer.callback_handler.callbacks:  # local trackers write beside the model, not into
        if hasattr(callback, "logging_dir") and hasattr(callback, "tb_writer"):  # checkpoints/ (deleted)
            callback.logging_dir = str(tracking_dir(directory) / "tensorboard")
    return trainer


def tracking_dir(directory: Path) -> Path:
    """Where local experiment trackers (tensorboard) write for the training run in `directory`."""
    return Path(directory) / "tracking"


def sft_config(recipe: Recipe, precision: str, output_dir: Path) -> Any:
    """The recipe as TRL's SFTConfig: loss on assistant tokens only, checkpoints in `output_dir`."""
    import torch
    from trl import SFTConfig

    scheduler, scheduler_kwargs = lr_schedule(recipe)
    return SFTConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=recipe.per_device_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=scheduler,
        lr_scheduler_kwargs=scheduler_kwargs,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float < 1 is a fraction of the steps
        weight_decay=recipe.weight_decay,
        num_train_epochs=recipe.num_epochs,
        max_steps=recipe.max_steps,
        # padding-free without packing: screening already dropped every record over max_length
        max_length=None if recipe.padding_free and not recipe.packing else recipe.max_length,
        packing=recipe.packing,
        padding_free=recipe.padding_free,
        assistant_only_loss=True,
        gradient_checkpointing=recipe.gradient_checkpointing,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        seed=recipe.seed,
        data_seed=recipe.seed,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        logging_steps=recipe.logging_steps,
        report_to=list(recipe.report_to) or "none",
        run_name=output_dir.parent.name,
        disable_tqdm=not sys.stderr.isatty(),
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every parameter gets a gradient; the extra graph walk is waste
    )


def fit(directory: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Any] | None:
    """Train the job in `directory` (resuming from its last checkpoint) and save `model/`.

    Every rank of a launch runs this; the main rank returns the stats, the others None."""
    from accelerate.utils import gather_object

    from harness.training.model import resolve_precision, save_model

    directory = Path(directory)
    job, recipe = read_job(directory)
    precision = resolve_precision(recipe.precision)
    trainer = build_trainer(directory)
    if progress is not None:
        trainer.add_callback(_progress_callback(progress))
    resume = checkpoints.resume_point(directory / "checkpoints", trainer.accelerator)
    steps = [int(s) for s in job.get("save_at_steps", [])]
    if steps:
        if not resume and trainer.accelerator.is_main_process:
            shutil.rmtree(directory / "steps", ignore_errors=True)  # a fresh run saves its own
        trainer.add_callback(
            _step_saver(trainer, directory, job, steps, lora=bool(recipe.lora), precision=precision)
        )
    t0 = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_s = time.perf_counter() - t0
    memory = gather_object([{"rank": trainer.accelerator.process_index, **_peak_memory_mib()}])
    save_model(trainer, directory, job, lora=bool(recipe.lora), precision=precision)
    if not trainer.accelerator.is_main_process:
        return None
    from harness.core.io import write_json

    write_json(
        directory / LOG_HISTORY, trainer.state.log_history
    )  # the trainer's own log: loss, lr, grad norm
    return {
        **_run_stats(trainer, output, checkpoints.step_of(resume), train_s),
        "precision": precision,
        "peak_memory": {f"rank{m['rank']}": {k: v for k, v in m.items() if k != "rank"} for m in memory},
    }


def _step_saver(
    trainer: Any, directory: Path, job: dict[str, Any], steps: Sequence[int], *, lora: bool, precision: str
) -> Any:
    """A callback that saves the model, as `model/` is saved, at each listed step (`steps/<k>/`);
    it fails before training when the run has fewer steps than the last one listed."""
    from transformers import TrainerCallback

    from harness.training.model import save_model

    class SaveAtSteps(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if state.max_steps and max(steps) > state.max_steps:
                raise ConfigError(
                    f"train.checkpoints lists step {max(steps)}, but this run has {state.max_steps} steps",
                    fix="list steps up to the run's length, or raise max_steps / num_epochs",
                )

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in steps:
                save_model(
                    trainer, directory, job, lora=lora, precision=precision, name=f"steps/{state.global_step}"
                )

    (directory / "steps").mkdir(exist_ok=True, parents=True)
    return SaveAtSteps()


def _progress_callback(progress: Callable[[int, int], None]) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - transformers' signature
            progress(state.global_step, state.max_steps)

    return Progress()


def _run_stats(trainer: Any, output: Any, resumed_step: int, train_s: float) -> dict[str, Any]:
    """Loss curve and token counts from TRL's own log (its token count is summed over ranks)."""
    history = trainer.state.log_history
    curve = [{"step": h["step"], "loss": round(float(h["loss"]), 5)} for h in history if "loss" in h]
    session_tokens = int(trainer._total_train_tokens)  # this session's non-padding tokens; 0 again on resume
    # a resumed run adds what the killed session had counted up to its checkpoint, so it reports
    # what an uninterrupted run does
    before = [h["num_tokens"] for h in history if "num_tokens" in h and h.get("step", 0) <= resumed_step]
    acc, args = trainer.accelerator, trainer.args
    return {
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed_step,
        "epochs": round(float(trainer.state.epoch or 0), 4),
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else round(float(output.training_loss), 5),
        "train_loss": round(float(output.training_loss), 5),
        "tokens_seen": session_tokens + (int(round(before[-1])) if resumed_step and before else 0),
        "tokens_per_s": round(session_tokens / train_s, 1) if train_s > 0 else None,
        "train_time_s": round(train_s, 3),
        "num_processes": acc.num_processes,
        "effective_batch": args.per_device_train_batch_size
        * args.gradient_accumulation_steps
        * acc.num_processes,
    }


def _peak_memory_mib() -> dict[str, float]:
    import resource

    import torch

    out = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out
