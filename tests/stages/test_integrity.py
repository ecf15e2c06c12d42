"""Only outputs that are on disk and intact are trusted: a finished stage whose recorded outputs were
damaged reruns, a downstream stage's fingerprint carries the hashes of the upstream outputs it reads
(so a retrained model is evaluated again), and a damaged request cache is one line, exit 2."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from _support import run_harness, write_prompts

from harness.experiment import load_experiment
from harness.stages import fingerprints

JUDGE = "local:weighted_alpaca_eval_gpt4_turbo,top_logprobs=2048:@base"
SMALL = [
    "analysis.enabled=false",
    "train.max_steps=2",
    "train.save_steps=100",
    "eval.max_instances=3",
    "eval.decoding.max_tokens=4",
    f"eval.judge={JUDGE}",
]


def _halve(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")


def test_a_damaged_dataset_is_rebuilt_and_a_copy_is_still_trusted(tmp_path: Path, caplog) -> None:
    from harness.stages import build
    from harness.stages.plan import plan

    exp = load_experiment("demo")
    [first] = build.run(exp, tmp_path, only=["alpaca_gpt4"])
    path = first.directory / "dataset.jsonl"
    original = path.read_bytes()
    shutil.copy(path, tmp_path / "copy")
    os.replace(tmp_path / "copy", path)  # same bytes, another mtime: the hash is checked and matches
    [again] = build.run(exp, tmp_path, only=["alpaca_gpt4"])
    assert again.skipped

    _halve(path)
    with caplog.at_level(logging.WARNING, logger="harness.core.runs"):
        steps = {s.label: s for s in plan(exp, tmp_path, only=["alpaca_gpt4"])}
        assert not steps["build/alpaca_gpt4"].cached and not steps["train/alpaca_gpt4"].cached
        [rebuilt] = build.run(exp, tmp_path, only=["alpaca_gpt4"])
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "harness.core.runs" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and str(path) in warnings[0] and "reruns" in warnings[0]
    assert not rebuilt.skipped and path.read_bytes() == original
    assert build.run(exp, tmp_path, only=["alpaca_gpt4"])[0].skipped


def _perturbed_fit(real_fit):
    """`fit`, then one weight changed a little: what a nondeterministic (GPU) retraining gives."""

    def fit(d, **kw):
        from safetensors.torch import load_file, save_file

        stats = real_fit(d, **kw)
        weights = d / "model" / "model.safetensors"
        tensors = load_file(weights)
        name = sorted(tensors)[0]
        tensors[name] = tensors[name] + 1e-3
        save_file(tensors, weights, metadata={"format": "pt"})
        return stats

    return fit


def test_a_retrained_model_is_evaluated_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.stages import build, evaluate, train
    from harness.training import sft

    exp = load_experiment("demo", SMALL)
    only = ["alpaca_gpt4"]
    build.run(exp, tmp_path, only=only)
    [trained] = train.run(exp, tmp_path, only=only)
    [first] = evaluate.run(exp, tmp_path, only=only)
    assert not first.skipped
    assert (
        train.run(exp, tmp_path, only=only)[0].skipped and evaluate.run(exp, tmp_path, only=only)[0].skipped
    )

    monkeypatch.setattr(sft, "fit", _perturbed_fit(sft.fit))
    [retrained] = train.run(exp, tmp_path, only=only, force=True)
    assert retrained.fingerprint == trained.fingerprint  # the same config and dataset ...
    assert (
        retrained.manifest.outputs["model/model.safetensors"].sha256
        != trained.manifest.outputs["model/model.safetensors"].sha256
    )  # ... other weights
    [second] = evaluate.run(exp, tmp_path, only=only)
    assert not second.skipped and second.fingerprint != first.fingerprint
    assert second.fingerprint == fingerprints.eval_fingerprint(
        exp, "alpaca_gpt4", tmp_path
    )  # what the plan predicts
    assert second.manifest.upstream["judged"] == fingerprints.eval_judged_fingerprint(
        exp, "alpaca_gpt4", tmp_path
    )


def test_a_dry_run_before_anything_is_built_plans_every_stage(tmp_path: Path) -> None:
    proc = run_harness(
        "run", "--config", "demo", "--only", "alpaca_gpt4", "--runs-dir", str(tmp_path), "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    # base model, build, train, eval; the analysis reads every dataset, and the others are not built
    assert "dry run: 4 of 4 stages to run, 0 cached; nothing was run" in " ".join(proc.stdout.split())
    whole = run_harness("run", "--config", "demo", "--runs-dir", str(tmp_path), "--dry-run")
    assert whole.returncode == 0, whole.stderr
    assert "dry run: 17 of 17 stages to run, 0 cached; nothing was run" in " ".join(whole.stdout.split())
    assert not (tmp_path / "demo" / "build").exists()


def _cache_with_rows(path: Path, n: int = 3000) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE generations (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.executemany("INSERT INTO generations VALUES (?, ?)", [(f"k{i:05d}", "x" * 200) for i in range(n)])
    db.commit()
    db.close()


def _overwrite_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[4096 * 3 : 4096 * 8] = os.urandom(4096 * 5)  # the header stays: only SQLite's own check sees it
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_overwrite_middle, _truncate], ids=["random-bytes", "truncated"])
def test_a_damaged_request_cache_is_one_line_naming_the_file_and_the_fix(
    tmp_path: Path, tiny_model: Path, damage
) -> None:
    cache = tmp_path / "cache" / "requests.sqlite"
    cache.parent.mkdir()
    _cache_with_rows(cache)
    damage(cache)
    prompts = write_prompts(tmp_path / "p.jsonl", 1)
    proc = run_harness(
        "generate",
        "--model",
        f"hf:{tiny_model}",
        "--input",
        str(prompts),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--cache",
        str(cache),
        "--max-tokens",
        "2",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(cache) in lines[0] and "damaged" in lines[0] and "delete it" in lines[0]
    assert "recomputed" in lines[0]
