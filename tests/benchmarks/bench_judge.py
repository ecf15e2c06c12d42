"""Benchmark: judgments/s of the local AlpacaEval judge on the tiny model, through hf and vllm.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_judge.py [--n 64]
Pairs are real AlpacaEval 1.0 pairs (text_davinci_003 reference vs alpaca-7b) from
../shared/data/alpaca_eval. Raw vLLM first, best of --repeats fresh processes: the judge's own
rendered prompts (what `LocalJudge` sends, captured once), chat-templated by the tokenizer, as
`TokensPrompt`s with the judge's sampling (greedy, 1 token, top-K logprobs) and engine arguments
(fp32, eager, max_logprobs K), after one warm-up prompt; judgments/s of one `llm.generate`,
alternating with the harness's vllm judge so that load changes hit both. For each backend, in a
fresh process (vllm: best of --repeats too):
  * the logprob judge (weighted_alpaca_eval_gpt4_turbo, one token, top_logprobs=2048): judgments/s
    with a fresh request cache, model loading excluded (reported apart);
  * the same pairs again through the filled cache (judgments/s of a rerun);
  * hf only: the text judge (alpaca_eval_gpt4, up to 100 tokens per judgment) on fewer pairs.
The load average is printed before and after: the figures are only comparable on a quiet machine.
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
DATA = ROOT / ".." / "shared" / "data" / "alpaca_eval" / "annotations_ae1" / "alpaca-7b.json"


def pairs(n: int) -> list[dict]:
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    return [
        {k: r[k] for k in ("instruction", "output_1", "output_2")}
        for r in rows
        if r["output_1"] != r["output_2"]
    ][:n]


def child(backend: str, model: str, annotator: str, n: int, top: int | None) -> None:
    from harness.evaluation.judges import LocalJudge, parse_judge

    options = {"dtype": "float32"}
    if backend == "vllm":
        options["enforce_eager"] = True
    opts = f",top_logprobs={top}" if top else ""
    spec = parse_judge(f"local:{annotator}{opts}:{backend}:{model}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        judge = LocalJudge(spec, cache=cache, generator_options=options)
        judge.judge(pairs(1))  # loads the model (and warms it); not timed
        load_s = judge.generator.load_s
        work = pairs(n + 1)[1:]
        t0 = time.perf_counter()
        run = judge.judge(work)
        fresh = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = judge.judge(work)
        cached = time.perf_counter() - t0
        judge.close()
    assert again.stats["judge_cache_hits"] == run.stats["n_judge_calls"]
    print(
        "RESULT "
        + json.dumps(
            {
                "backend": backend,
                "annotator": annotator,
                "n": len(work),
                "load_s": round(load_s, 2),
                "judgments_per_s": round(len(work) / fresh, 2),
                "cached_judgments_per_s": round(len(work) / cached, 1),
                "prompt_tokens_per_judgment": round(run.stats["judge_prompt_tokens"] / len(work)),
                "parse_failures": run.stats["n_parse_failures"],
            }
        )
    )


def _json_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr[-4000:])
    # vLLM logs to stdout, also while it shuts down at exit: the result is the line marked RESULT
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])


def judge_prompts(annotator: str, top: int, n: int, tmp: Path) -> tuple[Path, int]:
    """The chat messages `LocalJudge` sends for pairs 1..n (pair 0 warms up), captured by a generator
    that only records them (no model): the raw side then runs exactly these prompts."""
    from harness.evaluation.judges import LocalJudge, parse_judge

    class Capture:
        name = "capture"

        def __init__(self):
            self.requests = []

        def identity(self):
            return {"capture": True}

        def generate(self, requests, on_result=None):
            from harness.core.records import Generation

            self.requests += list(requests)
            gens = [Generation(r.id, "m", "stop", 1, 1, (("m", 0.0),)) for r in requests]
            for i, g in enumerate(gens):
                if on_result:
                    on_result(i, g)
            return gens

        def close(self):
            pass

    cap = Capture()
    judge = LocalJudge(parse_judge(f"local:{annotator},top_logprobs={top}:vllm:/unused"), generator=cap)
    judge.judge(pairs(n + 1))
    params = cap.requests[0].params
    path = tmp / "judge_prompts.jsonl"
    path.write_text("".join(json.dumps([m.to_dict() for m in r.messages]) + "\n" for r in cap.requests))
    return path, params.max_tokens


def raw_vllm_child(model: str, prompts: Path, top: int, max_tokens: int) -> None:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    import torch
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    tok = AutoTokenizer.from_pretrained(model)
    ids = [
        list(
            tok.apply_chat_template(
                json.loads(line), add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )
        for line in prompts.read_text().splitlines()
    ]
    engine = dict(dtype="float32", seed=0, enforce_eager=True, max_logprobs=max(top, 20))
    if not torch.cuda.is_available():
        engine["enable_chunked_prefill"] = False
    llm = LLM(model=model, **engine)
    sp = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=top)
    llm.generate(
        [TokensPrompt(prompt_token_ids=ids[0])], [sp], use_tqdm=False
    )  # warm-up, as the harness side
    work = ids[1:]
    t0 = time.perf_counter()
    outs = llm.generate([TokensPrompt(prompt_token_ids=p) for p in work], [sp for _ in work], use_tqdm=False)
    dt = time.perf_counter() - t0
    assert all(o.outputs[0].logprobs for o in outs)
    print("RESULT " + json.dumps({"n": len(work), "judgments_per_s": round(len(work) / dt, 2)}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=64, help="pairs for the logprob judge")
    p.add_argument("--n-text", type=int, default=8, help="pairs for the hf text judge")
    p.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    p.add_argument("--repeats", type=int, default=2, help="fresh processes for raw vLLM and the vllm judge")
    p.add_argument("--child", nargs=5, metavar=("BACKEND", "MODEL", "ANNOTATOR", "N", "TOP"), default=None)
    p.add_argument("--raw-child", nargs=4, metavar=("MODEL", "PROMPTS", "TOP", "MAX_TOKENS"), default=None)
    args = p.parse_args()
    if args.child:
        backend, model, annotator, n, top = args.child
        child(backend, model, annotator, int(n), int(top) or None)
        return
    if args.raw_child:
        model, prompts, top, max_tokens = args.raw_child
        raw_vllm_child(model, Path(prompts), int(top), int(max_tokens))
        return

    from harness.backends.tiny_model import make_tiny_model

    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = str(make_tiny_model(Path(tmp) / "tiny", size="tiny", seed=0))
        raw, ours = None, None
        if "vllm" in args.backends:  # raw vLLM and the harness's vllm judge alternate, best of each
            prompts, max_tokens = judge_prompts("weighted_alpaca_eval_gpt4_turbo", 2048, args.n, Path(tmp))
            raws, ours = [], []
            for _ in range(args.repeats):
                raws.append(_json_child("--raw-child", model, str(prompts), "2048", str(max_tokens)))
                ours.append(
                    _json_child(
                        "--child", "vllm", model, "weighted_alpaca_eval_gpt4_turbo", str(args.n), "2048"
                    )
                )
            raw = max(r["judgments_per_s"] for r in raws)
            print(
                f"raw vLLM (LLM.generate, the judge's rendered prompts) n={raws[0]['n']:3d}  {raw:7.2f} judgments/s "
                f"(runs {[r['judgments_per_s'] for r in raws]}; harness runs {[r['judgments_per_s'] for r in ours]}; "
                f"load avg {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        runs = [(b, "weighted_alpaca_eval_gpt4_turbo", args.n, 2048) for b in args.backends]
        if "hf" in args.backends:
            runs.append(("hf", "alpaca_eval_gpt4", args.n_text, 0))
        for backend, annotator, n, top in runs:
            if backend == "vllm" and ours:
                r = max(ours, key=lambda r: r["judgments_per_s"])
            else:
                r = _json_child("--child", backend, model, annotator, str(n), str(top))
            ratio = f"; {r['judgments_per_s'] / raw:.2f} of raw vLLM" if backend == "vllm" and raw else ""
            print(
                f"{r['backend']:5s} {r['annotator']:32s} n={r['n']:3d}  {r['judgments_per_s']:7.2f} judgments/s "
                f"(cached rerun {r['cached_judgments_per_s']:.0f}/s; load {r['load_s']} s; "
                f"~{r['prompt_tokens_per_judgment']} prompt tokens each; parse failures {r['parse_failures']}"
                f"{ratio}; load avg {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
