"""Benchmark: peak memory of sampling N records from a large source, against the source's size.

Writes OpenOrca-shaped Parquet files (id, system_prompt, question, response; ~330 bytes of text a
row) of 1M and 4M synthetic rows, then, each in a fresh process, samples N = 12,800 records (the
papers' baseline size) and prints the process's peak RSS and wall time for:
  - the harness: `baselines.loader.load` (streamed in Parquet batches, bottom-k seeded-hash sample);
  - what a user would otherwise write: `pandas.read_parquet(...).sample(n, random_state=0)`;
  - `datasets.load_dataset("parquet", ...)` then `.shuffle(seed=0).select(range(n))` (Arrow on disk,
    memory-mapped: small RSS, but it writes a full copy of the source into its cache first).

    .venv/bin/python tests/benchmarks/bench_sources.py [--rows 1000000 4000000] [--n 12800]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILLER = (
    "Answer the question using the passage, and explain the steps that lead to the answer in a few "
    "short sentences so that a reader can follow them."
)


def write_source(path: Path, rows: int, batch: int = 250_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("system_prompt", pa.string()),
            ("question", pa.string()),
            ("response", pa.string()),
        ]
    )
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, batch):
            idx = range(start, min(rows, start + batch))
            w.write_table(
                pa.table(
                    {
                        "id": [f"flan.{i}" for i in idx],
                        "system_prompt": [
                            "You are an assistant that explains its reasoning." if i % 3 else "" for i in idx
                        ],
                        "question": [
                            f"Question {i}: what is {i % 977} times {i % 131}? {FILLER}" for i in idx
                        ],
                        "response": [
                            f"{i % 977} times {i % 131} is {(i % 977) * (i % 131)}. {FILLER}" for i in idx
                        ],
                    },
                    schema=schema,
                )
            )


CHILD = r"""
import json, resource, sys, time
method, path, n, cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
if method == "harness":
    import baselines
    from baselines.loader import load
    from datasets_builders.steps import StepLog
    got = len(load(baselines.source_module("openorca"), StepLog(None), path=path, revision=None, n=n, seed=0))
elif method == "pandas":
    import pandas as pd
    got = len(pd.read_parquet(path).sample(n, random_state=0))
else:
    import datasets
    ds = datasets.load_dataset("parquet", data_files=path, split="train", cache_dir=cache)
    got = len(ds.shuffle(seed=0).select(range(n)))
print(json.dumps({"records": got, "wall_s": round(time.perf_counter() - t0, 1),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def measure(method: str, path: Path, n: int, cache: Path) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(path), str(n), str(cache)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    ap.add_argument("--n", type=int, default=12_800)
    ap.add_argument("--methods", nargs="+", default=["harness", "pandas", "datasets"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        floor = Path(tmp) / "floor.parquet"  # the imports and a tiny file: the fixed part of the peak
        write_source(floor, 1_000)
        print(
            f"floor: harness on 1,000 rows, sample 500: {json.dumps(measure('harness', floor, 500, Path(tmp)))}"
        )
        for rows in args.rows:
            path = Path(tmp) / f"1M-GPT4-Augmented-{rows}.parquet"
            t0 = time.perf_counter()
            write_source(path, rows)
            size = path.stat().st_size / 2**20
            print(
                f"source: {rows:,} rows, {size:,.0f} MiB Parquet (written in {time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
            for method in args.methods:
                res = measure(method, path, args.n, Path(tmp) / f"hf-{rows}")
                print(f"  {method:9s} sample {args.n:,}: {json.dumps(res)}", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
