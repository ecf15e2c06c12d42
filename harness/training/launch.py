"""Several training processes through `accelerate launch`, each running `harness.training.worker`.

`recipe.num_processes > 1` trains through here: DDP by default; FSDP or DeepSpeed ZeRO-3 by a
named config in `harness/configs/accelerate/` (or a path). Without a GPU the ranks train on the
CPU over gloo and an accelerate config is ignored with a warning (FSDP and ZeRO-3 are GPU-only).
The main rank writes the run's stats to `train_stats.json`; the launch log is `launch.log`.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import StageError
from harness.core.io import read_json
from harness.training.recipe import Recipe

log = logging.getLogger(__name__)

ACCELERATE_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
STATS_FILE = "train_stats.json"


def accelerate_config_path(name_or_path: str) -> Path:
    """A named config in harness/configs/accelerate/ (ddp, fsdp, deepspeed-zero3) or a file path."""
    from harness.core.config import find_named_file

    return find_named_file(name_or_path, ACCELERATE_DIR, what="accelerate config", key="accelerate_config",
                           suffixes=(".yaml", ".yml", ".json"))


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
        # torchrun-style launch of N ranks: without CUDA each rank trains on the CPU over gloo
        # (`accelerate launch --cpu` would start one process only, expecting MPI)
        if recipe.accelerate_config:
            accelerate_config_path(recipe.accelerate_config)  # still reject a wrong name
            log.warning("no GPU: ignoring accelerate_config=%s, running DDP over gloo", recipe.accelerate_config)
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return [*cmd, "-m", "harness.training.worker", str(directory)]


def launch(directory: Path, recipe: Recipe) -> dict[str, Any]:
    """Train the job in `directory` on `recipe.num_processes` ranks; returns the main rank's stats."""
    import torch

    cmd = launch_command(directory, recipe)
    log.info("launching: %s", " ".join(cmd))
    env = dict(os.environ)
    if not torch.cuda.is_available():  # ranks share the cores: do not oversubscribe them
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // recipe.num_processes)))
    (directory / STATS_FILE).unlink(missing_ok=True)
    log_path = directory / "launch.log"
    with open(log_path, "w", encoding="utf-8") as logf:
        proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageError(f"accelerate launch exited with {proc.returncode}; log: {log_path}\n{tail}",
                         fix="fix the error above and rerun: training resumes from the last checkpoint")
    return read_json(directory / STATS_FILE)
