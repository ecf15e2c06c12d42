"""A training run killed with SIGKILL after its first checkpoint resumes from that checkpoint
(not from step 0) when rerun through the real CLI; a finished run is then a cache hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from _support import PROJECT_ROOT, run_harness
from training.sft_data import write_records

from harness.core.io import read_json


def test_killed_run_resumes_from_checkpoint(tiny_model, sft_records, tmp_path):
    data = write_records(tmp_path / "data.jsonl", sft_records)
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        f"hf:{tiny_model}",
        "--data",
        str(data),
        "--output",
        str(out),
        "max_steps=20",
        "save_steps=4",
        "save_total_limit=3",
        "logging_steps=4",
        "per_device_batch_size=4",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=PROJECT_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = out / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    deadline = time.monotonic() + 300
    try:
        while not first.is_file():
            assert proc.poll() is None, "the training run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: no process of ours is left behind
        proc.wait()
    assert not (out / "model").exists() and not (out / "manifest.json").exists()
    steps = sorted(
        int(p.name.split("-")[1])
        for p in (out / "checkpoints").glob("checkpoint-*")
        if (p / "trainer_state.json").is_file()
    )
    assert steps and steps[-1] < 20

    p = run_harness(*args, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    stats = read_json(out / "manifest.json")["stats"]
    print(f"\nkilled with checkpoints at steps {steps}; resumed from step {stats['resumed_from_step']}")
    assert stats["resumed_from_step"] == steps[-1] > 0
    assert stats["steps"] == 20
    assert "trained" in p.stdout and "final loss" in p.stdout

    again = run_harness(*args, timeout=300)
    assert again.returncode == 0 and "cached" in again.stdout
