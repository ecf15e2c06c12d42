"""Benchmark: what `harness generate` costs around the engine, with an engine that costs nothing.

Run by hand (not collected by pytest):  .venv/bin/python tests/benchmarks/bench_bookkeeping.py
An instantaneous generator (registered as backend `instant`: it answers every request at once,
reporting results 256 at a time, as an engine step of a full batch does) goes through the real CLI: input reading
and validation, the sqlite request cache (a fresh one, so every request is looked up, generated and
stored), result slots, the progress bar and the output file. For each size, in a fresh process:
requests/s of the generate call (the CLI's own `generate_s`), requests/s of the whole command, a
fully cached rerun, and the peak RSS. Requests per CPU-second of the whole command (its user + system
time) is what one free core would sustain: the figure to read when other jobs share the machine. A GPU engine on a small model delivers a few thousand
requests/s at most, so the bookkeeping must stay far above that, with memory flat in the size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


STEP = 256  # requests an engine finishes in one step at most (vLLM's default batch on a GPU)


class InstantGenerator:
    """Answers each request at once with a short text (control flow only: no model)."""

    def __init__(self, spec, **_):
        self.name = str(spec)
        self.load_s = 0.0

    def identity(self):
        return {"backend": "instant", "model": self.name}

    def generate(self, requests, on_result=None):
        from harness.backends.base import Results
        from harness.core.records import Generation

        results = Results(len(requests), on_result)
        for start in range(0, len(requests), STEP):  # finished together, as one engine step's batch
            results.set_many(
                [
                    (
                        i,
                        Generation(
                            requests[i].id, "An answer of a few words.", "stop", 12, 7, model=self.name
                        ),
                    )
                    for i in range(start, min(start + STEP, len(requests)))
                ]
            )
        return results.done()

    def close(self):
        pass


def child(n: int, work: Path, rerun: bool) -> None:
    from harness.backends import BACKENDS
    from harness.cli import main

    BACKENDS["instant"] = "tests.benchmarks.bench_bookkeeping:InstantGenerator"
    prompts = work / f"prompts-{n}.jsonl"
    summary = work / f"summary-{n}-{int(rerun)}.json"
    t0, cpu0 = time.perf_counter(), time.process_time()
    rc = main(
        [
            "generate",
            "--model",
            "instant:x",
            "--input",
            str(prompts),
            "--output",
            str(work / f"out-{n}.jsonl"),
            "--cache",
            str(work / f"cache-{n}.sqlite"),
            "--max-tokens",
            "16",
            "--summary-json",
            str(summary),
        ]
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert rc == 0
    s = json.loads(summary.read_text())
    print(
        json.dumps(
            {
                "n": n,
                "rerun": rerun,
                "generate_s": s["generate_s"],
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "cache_hits": s["cache_hits"],
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--child", nargs=3, metavar=("N", "WORK", "RERUN"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(int(args.child[0]), Path(args.child[1]), args.child[2] == "1")
        return
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench_bookkeeping_") as tmp:
        work = Path(tmp)
        for n in args.sizes:
            with open(work / f"prompts-{n}.jsonl", "w", encoding="utf-8") as f:
                for i in range(n):
                    f.write(
                        json.dumps(
                            {
                                "id": f"q{i:07d}",
                                "instruction": f"Explain item {i} of the list in a "
                                f"sentence or two, with one example.",
                            }
                        )
                        + "\n"
                    )
            for rerun in (False, True):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(n), str(work), "1" if rerun else "0"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    sys.exit(out.stderr[-3000:])
                r = json.loads(out.stdout.strip().splitlines()[-1])
                what = "cached rerun" if rerun else "fresh cache "
                print(
                    f"n={n:>7,d} {what}: generate {n / r['generate_s']:>9,.0f} requests/s "
                    f"({r['generate_s']:.2f} s), whole command {n / r['wall_s']:>8,.0f} requests/s "
                    f"({n / r['cpu_s']:>8,.0f} per CPU-second), "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB"
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
