"""Benchmark: judgments/s of the local AlpacaEval judge on the tiny model, through hf and vllm.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_judge.py [--n 64]
Pairs are real AlpacaEval 1.0 pairs (text_davinci_003 reference vs alpaca-7b) from
../shared/data/alpaca_eval. For each backend, in a fresh process:
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
    return [{k: r[k] for k in ("instruction", "output_1", "output_2")} for r in rows
            if r["output_1"] != r["output_2"]][:n]


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
    print(json.dumps({"backend": backend, "annotator": annotator, "n": len(work), "load_s": round(load_s, 2),
                      "judgments_per_s": round(len(work) / fresh, 2),
                      "cached_judgments_per_s": round(len(work) / cached, 1),
                      "prompt_tokens_per_judgment": round(run.stats["judge_prompt_tokens"] / len(work)),
                      "parse_failures": run.stats["n_parse_failures"]}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=64, help="pairs for the logprob judge")
    p.add_argument("--n-text", type=int, default=8, help="pairs for the hf text judge")
    p.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    p.add_argument("--child", nargs=5, metavar=("BACKEND", "MODEL", "ANNOTATOR", "N", "TOP"), default=None)
    args = p.parse_args()
    if args.child:
        backend, model, annotator, n, top = args.child
        child(backend, model, annotator, int(n), int(top) or None)
        return

    from harness.backends.tiny_model import make_tiny_model

    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = str(make_tiny_model(Path(tmp) / "tiny", size="tiny", seed=0))
        runs = [(b, "weighted_alpaca_eval_gpt4_turbo", args.n, 2048) for b in args.backends]
        if "hf" in args.backends:
            runs.append(("hf", "alpaca_eval_gpt4", args.n_text, 0))
        for backend, annotator, n, top in runs:
            out = subprocess.run([sys.executable, __file__, "--child", backend, model, annotator, str(n), str(top)],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r['backend']:5s} {r['annotator']:32s} n={r['n']:3d}  {r['judgments_per_s']:7.2f} judgments/s "
                  f"(cached rerun {r['cached_judgments_per_s']:.0f}/s; load {r['load_s']} s; "
                  f"~{r['prompt_tokens_per_judgment']} prompt tokens each; parse failures {r['parse_failures']})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
