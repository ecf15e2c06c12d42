"""`harness generate` as a user runs it: outputs, the request cache, SIGKILL and resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from _support import PROJECT_ROOT, run_harness, write_prompts


def _cache_rows(path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_generate_writes_one_line_per_prompt_and_reruns_from_cache(tiny_model, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", 10)
    args = [
        "generate",
        "--model",
        f"hf:{tiny_model}",
        "--input",
        str(prompts),
        "--max-tokens",
        "8",
        "--logprobs",
        "2",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--summary-json",
    ]
    r = run_harness(*args, str(tmp_path / "s1.json"), "--output", str(tmp_path / "o1.jsonl"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "o1.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == [f"p{i:04d}" for i in range(10)]
    assert all(
        set(row) >= {"text", "finish_reason", "prompt_tokens", "completion_tokens", "top_logprobs"}
        for row in rows
    )
    assert all(len(row["top_logprobs"]) == 2 for row in rows)
    assert json.loads((tmp_path / "s1.json").read_text())["generated"] == 10
    r = run_harness(*args, str(tmp_path / "s2.json"), "--output", str(tmp_path / "o2.jsonl"))
    assert r.returncode == 0, r.stderr
    s2 = json.loads((tmp_path / "s2.json").read_text())
    assert s2["cache_hits"] == 10 and s2["generated"] == 0
    assert (tmp_path / "o1.jsonl").read_text() == (tmp_path / "o2.jsonl").read_text()


def test_sigkill_then_resume_redoes_nothing(tiny_model, tmp_path):
    n = 48
    prompts = write_prompts(tmp_path / "p.jsonl", n)
    common = [
        "generate",
        "--model",
        f"hf:{tiny_model}",
        "--input",
        str(prompts),
        "--max-tokens",
        "48",
        "--batch-size",
        "2",
    ]
    # the uninterrupted reference run, with its own cache
    ref = run_harness(
        *common, "--output", str(tmp_path / "ref.jsonl"), "--cache", str(tmp_path / "ref.sqlite")
    )
    assert ref.returncode == 0, ref.stderr

    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "harness.cli", *common, "--output", str(out), "--cache", str(cache)]
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _cache_rows(cache) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _cache_rows(cache)
    assert 6 <= done < n, f"the kill should land mid-run (cached {done} of {n})"
    assert not out.exists(), "no output file may appear before the run finishes"

    r = run_harness(
        *common, "--output", str(out), "--cache", str(cache), "--summary-json", str(tmp_path / "s.json")
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["cache_hits"] == done and s["generated"] == n - done  # backend asked only for the rest
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == sorted({row["id"] for row in rows}) and len(rows) == n
    assert out.read_text() == (tmp_path / "ref.jsonl").read_text()


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "instruction": "x"}\n{"id": "b", "instr\n', "p.jsonl:2: malformed JSON"),
        ('{"id": "a", "prompt": "x"}\n', "p.jsonl:1: the row has neither 'messages' nor 'instruction'"),
        (
            '{"id": "a", "messages": [{"role": "user"}]}\n',
            "p.jsonl:1: 'messages[0]' needs the fields 'role' and 'content'",
        ),
        ('{"id": "a", "instruction": "x"}\n{"id": "a", "instruction": "y"}\n', "p.jsonl:2: duplicate id 'a'"),
        ("", "p.jsonl: no prompts in the file"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, tiny_model, content, message):
    (tmp_path / "p.jsonl").write_text(content)
    r = run_harness(
        "generate",
        "--model",
        f"hf:{tiny_model}",
        "--input",
        str(tmp_path / "p.jsonl"),
        "--output",
        str(tmp_path / "o.jsonl"),
    )
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_model_backend_and_config(tmp_path):
    p = write_prompts(tmp_path / "p.jsonl", 2)
    cases = [
        (
            ["generate", "--model", "hf:/no/such/model", "--input", str(p), "--output", "o.jsonl"],
            "model path does not exist: /no/such/model",
        ),
        (["generate", "--model", "vlm:x", "--input", str(p), "--output", "o.jsonl"], "unknown backend 'vlm'"),
        (
            [
                "generate",
                "--model",
                "hf:x",
                "--input",
                str(tmp_path / "missing.jsonl"),
                "--output",
                "o.jsonl",
            ],
            "missing.jsonl: file not found",
        ),
        (
            ["config", "--config", "demo", "eval.decoding.temprature=1"],
            "did you mean 'eval.decoding.temperature'",
        ),
    ]
    for args, message in cases:
        r = run_harness(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_unknown_command_and_help():
    r = run_harness("generat")
    assert r.returncode == 2 and "did you mean 'generate'" in r.stderr
    r = run_harness("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in ("generate", "tiny-model", "config"))


def test_import_is_light():
    code = (
        "import sys, harness, harness.cli, harness.core.config, harness.core.runs, harness.backends, "
        "harness.backends.cache, datasets_builders, baselines\n"
        "heavy = [m for m in ('torch', 'vllm', 'transformers', 'trl', 'sentence_transformers', 'alpaca_eval') "
        "if m in sys.modules]\nprint(heavy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
