"""Several training processes through `accelerate launch`, each running `harness.training.worker`.

`recipe.num_processes > 1` trains through here: DDP by default; FSDP or DeepSpeed ZeRO-3 by a
named config in `harness/configs/accelerate/` (or a path). Without a GPU the ranks train on the
CPU over gloo and an accelerate config is ignored with a warning (FSDP and ZeRO-3 are GPU-only).
The main rank writes the run's stats to `train_stats.json`; the launch log is `launch.log`.

`recipe.num_machines = M > 1` trains on M nodes of one SLURM job (static rendezvous, no
discovery): `srun` starts one `accelerate launch` per node, with `--machine_rank` from the node's
SLURM_NODEID, the job's first node as the main process and a port derived from SLURM_JOB_ID, so
every node computes the same address without talking to the others. This process runs on the
first node (a batch script, not inside an srun step) and first checks that the run directory is
one shared filesystem on every node (each node reads a file written here and writes its own).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, StageError
from harness.core.io import read_json
from harness.training.recipe import Recipe

log = logging.getLogger(__name__)

ACCELERATE_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
STATS_FILE = "train_stats.json"


def accelerate_config_path(name_or_path: str) -> Path:
    """A named config in harness/configs/accelerate/ (ddp, fsdp, deepspeed-zero3) or a file path."""
    from harness.core.config import find_named_file

    return find_named_file(
        name_or_path,
        ACCELERATE_DIR,
        what="accelerate config",
        key="accelerate_config",
        suffixes=(".yaml", ".yml", ".json"),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rendezvous_port(job_id: str) -> int:
    """The main process's port for SLURM job `job_id`: the same on every node, different for jobs
    submitted one after another (array tasks have their own SLURM_JOB_ID)."""
    return 20000 + int(job_id) % 20000


def _scontrol(*args: str) -> str:
    proc = subprocess.run(["scontrol", *args], capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise StageError(f"scontrol {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def main_process_address(env: Mapping[str, str]) -> str:
    """The first node of the job (`scontrol show hostnames $SLURM_JOB_NODELIST`), as its NodeAddr
    where SLURM knows one (a node name need not resolve; its NodeAddr is what slurmd listens on)."""
    first = _scontrol("show", "hostnames", env["SLURM_JOB_NODELIST"]).split()[0]
    fields = dict(f.split("=", 1) for f in _scontrol("show", "node", "-o", first).split() if "=" in f)
    return fields.get("NodeAddr") or first


def check_machines(recipe: Recipe, env: Mapping[str, str] | None = None) -> None:
    """num_machines > 1 needs a SLURM job with that many nodes: else one line naming the key and the fix."""
    env = os.environ if env is None else env
    m = recipe.num_machines
    if m <= 1:
        return
    if "SLURM_JOB_ID" not in env or shutil.which("srun") is None:
        raise ConfigError(
            f"train.num_machines={m} trains on {m} nodes of a SLURM job, and this is not one",
            fix=f"run it with `harness run --executor slurm`, or inside `sbatch --nodes={m}`; "
            "on one machine set train.num_machines=1",
        )
    nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or 1)
    if nodes < m:
        raise ConfigError(
            f"train.num_machines={m}, but SLURM job {env['SLURM_JOB_ID']} has {nodes} node(s)",
            fix=f"submit it with --nodes={m}, or set train.num_machines={nodes}",
        )
    if env.get("SLURM_STEP_ID") not in (
        None,
        "",
        "4294967294",
        "batch",
    ):  # inside an srun step: nodes are taken
        raise ConfigError(
            f"train.num_machines={m}: the trainer runs inside an srun step ({env['SLURM_STEP_ID']}), "
            "and starts its own one per node",
            fix="run it in the job's batch script, not under srun",
        )


def _srun(m: int, env: Mapping[str, str]) -> list[str]:
    cmd = ["srun", f"--nodes={m}", f"--ntasks={m}", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    if env.get("SLURM_CPUS_ON_NODE"):
        cmd.append(f"--cpus-per-task={env['SLURM_CPUS_ON_NODE']}")
    return cmd


def check_shared(directory: Path, m: int, env: Mapping[str, str]) -> str:
    """Every node reads a token written here and writes its own file beside it; a missing or wrong
    one means the directory is not one filesystem on all nodes. Returns the one line that says so."""
    probe = directory / ".shared-check"
    probe.mkdir(exist_ok=True)
    token = uuid.uuid4().hex
    (probe / "token").write_text(token, encoding="utf-8")
    script = (
        f'test "$(cat {shlex.quote(str(probe / "token"))} 2>/dev/null)" = {token} && '
        f'echo "$SLURMD_NODENAME" > {shlex.quote(str(probe))}/node."$SLURM_NODEID"'
    )
    proc = subprocess.run(
        [*_srun(m, env), "bash", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
        timeout=600,
    )
    seen = {p.suffix.lstrip("."): p.read_text(encoding="utf-8").strip() for p in probe.glob("node.*")}
    missing = [str(i) for i in range(m) if str(i) not in seen]
    shutil.rmtree(probe, ignore_errors=True)
    if proc.returncode != 0 or missing:
        raise StageError(
            f"the run directory {directory} is not shared by the job's {m} nodes (node rank(s) "
            f"{', '.join(missing) or '?'} did not see a file written on the first): {proc.stderr.strip()[-500:]}",
            fix="put the runs directory (--runs-dir or HARNESS_RUNS_DIR) on a filesystem every node mounts",
        )
    return (
        f"run directory {directory} is shared by the {m} nodes ({', '.join(seen[str(i)] for i in range(m))})"
    )


def launch_command(directory: Path, recipe: Recipe, env: Mapping[str, str] | None = None) -> list[str]:
    """`accelerate launch` of the worker with the recipe's process count and accelerate config; with
    num_machines > 1, the per-node command under srun (its machine rank is "$SLURM_NODEID", expanded
    on each node)."""
    import torch

    env = os.environ if env is None else env
    m = recipe.num_machines
    port = rendezvous_port(env["SLURM_JOB_ID"]) if m > 1 else _free_port()
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(recipe.num_processes),
        "--main_process_port",
        str(port),
    ]
    if m > 1:
        cmd += ["--num_machines", str(m), "--main_process_ip", main_process_address(env)]
    if recipe.accelerate_config and torch.cuda.is_available():
        cmd += ["--config_file", str(accelerate_config_path(recipe.accelerate_config))]
    else:
        # torchrun-style launch of N ranks: without CUDA each rank trains on the CPU over gloo
        # (`accelerate launch --cpu` would start one process only, expecting MPI)
        if recipe.accelerate_config:
            accelerate_config_path(recipe.accelerate_config)  # still reject a wrong name
            log.warning(
                "no GPU: ignoring accelerate_config=%s, running DDP over gloo", recipe.accelerate_config
            )
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
        if m == 1:
            cmd += ["--num_machines", "1"]
    cmd = [*cmd, "-m", "harness.training.worker", str(directory)]
    if m == 1:
        return cmd
    per_node = f'exec {shlex.join(cmd[:3])} --machine_rank "$SLURM_NODEID" {shlex.join(cmd[3:])}'
    return [*_srun(m, env), "bash", "-c", per_node]


def launch(directory: Path, recipe: Recipe) -> dict[str, Any]:
    """Train the job in `directory` on `recipe.num_processes` ranks; returns the main rank's stats."""
    import torch

    check_machines(recipe)
    env = dict(os.environ)
    if not torch.cuda.is_available():  # ranks share the cores: do not oversubscribe them
        per_machine = recipe.num_processes // recipe.num_machines
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // per_machine)))
    shared = check_shared(directory, recipe.num_machines, env) if recipe.num_machines > 1 else None
    cmd = launch_command(directory, recipe, env)
    log.info("launching: %s", " ".join(cmd))
    (directory / STATS_FILE).unlink(missing_ok=True)
    log_path = directory / "launch.log"
    with open(log_path, "w", encoding="utf-8") as logf:
        if shared:  # the first line of the launch log says where the nodes' outputs meet
            log.info("%s", shared)
            logf.write(f"{shared}\nlaunching: {shlex.join(cmd)}\n")
            logf.flush()
        proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise StageError(
            f"accelerate launch exited with {proc.returncode}; log: {log_path}\n{tail}",
            fix="fix the error above and rerun: training resumes from the last checkpoint",
        )
    return read_json(directory / STATS_FILE)
