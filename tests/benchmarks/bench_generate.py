"""Benchmark: generation throughput of `harness generate` vs calling the backend directly.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_generate.py
On the tiny model, 256 prompts, 64 new tokens (greedy, so every prompt runs to 64 tokens or EOS):
  * tokens/s of `harness generate` (real CLI, fresh request cache) vs the same backend called
    directly, for hf and vllm; the overhead is the cache, the progress bar and the I/O;
  * hf batched (batch 32) vs a one-prompt-at-a-time `model.generate` loop;
  * the wall time of a fully cached rerun of the CLI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def cli_generate(model: str, prompts: Path, out: Path, cache: Path, extra: list[str]) -> tuple[dict, float]:
    summary = out.with_suffix(".summary.json")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "generate", "--model", model, "--input", str(prompts),
                    "--output", str(out), "--cache", str(cache), "--max-tokens", str(ARGS.max_tokens),
                    "--summary-json", str(summary), *extra], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(summary.read_text()), time.perf_counter() - t0


def direct(model: str, prompts: Path, options: dict) -> float:
    """Tokens/s of the backend called directly, in a fresh process like the CLI's (first-call costs
    of torch and vLLM then land on both sides alike)."""
    out = subprocess.run([sys.executable, __file__, "--direct", model, str(prompts), json.dumps(options),
                          "--max-tokens", str(ARGS.max_tokens)], check=True, cwd=ROOT, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def direct_child(model: str, prompts: Path, options: dict) -> None:
    from harness.backends import load_generator
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.core.records import prompt_messages

    rows = [json.loads(line) for line in prompts.read_text().splitlines()]
    requests = [ChatRequest(*prompt_messages(r), SamplingParams(max_tokens=ARGS.max_tokens)) for r in rows]

    gen = load_generator(model, **options)
    t0 = time.perf_counter()
    out = gen.generate(requests)
    dt = time.perf_counter() - t0 - gen.load_s  # the model loads lazily; the CLI leaves loading out too
    gen.close()
    print(sum(g.completion_tokens for g in out) / dt)


def one_at_a_time(model_dir: Path, requests) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.core.chat import render_chat

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for r in requests:
            ids = torch.tensor([render_chat(tok, r.messages)])
            out = model.generate(ids, max_new_tokens=ARGS.max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            tokens += out.shape[1] - ids.shape[1]
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.backends.tiny_model import make_tiny_model, sample_prompts
    from harness.core.records import prompt_messages

    work = Path(tempfile.mkdtemp(prefix="bench_generate_"))
    model_dir = make_tiny_model(work / "tiny")
    rows = sample_prompts(ARGS.prompts)
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = SamplingParams(max_tokens=ARGS.max_tokens)
    requests = [ChatRequest(*prompt_messages(r), params) for r in rows]
    results = {}
    for backend, extra, options in [("hf", [], {"batch_size": 32}),
                                    ("vllm", ["--dtype", "float32"], {"dtype": "float32"})]:
        if backend not in ARGS.backends:
            continue
        spec = f"{backend}:{model_dir}"
        # best of N for each side, each CLI run with a fresh cache
        direct_tps = max(direct(spec, prompts, options) for _ in range(ARGS.repeats))
        runs = [cli_generate(spec, prompts, work / f"{backend}.jsonl", work / f"{backend}{k}.sqlite", extra)[0]
                for k in range(ARGS.repeats)]
        summary = max(runs, key=lambda s: s["tokens_per_s"])
        _, cached_wall = cli_generate(spec, prompts, work / f"{backend}2.jsonl", work / f"{backend}0.sqlite", extra)
        cli_tps = summary["tokens_per_s"]
        results[backend] = {"direct_tok_s": round(direct_tps, 1), "cli_tok_s": cli_tps,
                            "overhead_pct": round(100 * (1 - cli_tps / direct_tps), 2),
                            "cached_rerun_wall_s": round(cached_wall, 2), "tokens": summary["completion_tokens"]}
    if "hf" in ARGS.backends:
        results["hf"]["one_at_a_time_tok_s"] = round(one_at_a_time(model_dir, requests), 1)
    print(json.dumps({"prompts": ARGS.prompts, "max_tokens": ARGS.max_tokens, **results}, indent=2))
    for name, r in results.items():
        print(f"{name}: direct {r['direct_tok_s']} tok/s, harness generate {r['cli_tok_s']} tok/s "
              f"(overhead {r['overhead_pct']}%), fully cached rerun {r['cached_rerun_wall_s']} s"
              + (f", one-at-a-time loop {r['one_at_a_time_tok_s']} tok/s" if "one_at_a_time_tok_s" in r else ""))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--direct", nargs=3, metavar=("SPEC", "PROMPTS", "OPTIONS_JSON"), help=argparse.SUPPRESS)
    ARGS = p.parse_args()
    if ARGS.direct:
        direct_child(ARGS.direct[0], Path(ARGS.direct[1]), json.loads(ARGS.direct[2]))
    else:
        main()
