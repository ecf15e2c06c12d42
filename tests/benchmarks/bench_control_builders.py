"""The builders under the oracle: how much of what back-and-forth, Humpback and distillation build on the
known-answer corpus is correct, before and after curation and rewriting (curation precision and recall
with a true label, the Humpback paper's analysis at tiny scale).

    .venv/bin/python tests/benchmarks/bench_control_builders.py [--docs 300] [--steps 400] [--threshold 2.5]

Builds, with the real `harness build`, on `control:reverse` (seed pairs and a corpus of answers without
their instructions): `candidates` (Humpback with threshold 1: every backtranslated pair, before
curation), `humpback` (curated by M0 then M1), `bf_filtering` (back-and-forth, curated by M0),
`back_and_forth` (curated, then rewritten by M0) and `distillation` (M0 answers the curated
instructions). A record is correct when its response is the task's answer to its instruction
(`harness.core.tasks.correct`). Prints a Markdown table; asserts nothing.
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
SCORE = (
    "{score_mode: logprobs, logprobs_k: 2048, threshold: %s, instruction_max_tokens: 24, score_max_tokens: 2"
)
EXPERIMENT = """\
name: control-builders
base_model: tiny:learner
seed: 0
backend: hf
seed_data: {source: "control:reverse", n: 200}
corpus: {source: "control:reverse", min_chars: 1, max_chars: 200, dedup: exact, max_documents: %(docs)d}
datasets:
  candidates:
    builder: humpback
    options: %(s1)s, iterations: 1}
  humpback:
    builder: humpback
    options: %(st)s, iterations: 2}
  bf_filtering:
    builder: back_and_forth
    options: %(st)s, variant: filtering}
  back_and_forth:
    builder: back_and_forth
    options: %(st)s, variant: filtering+rewriting, missing_res: keep_output, rewrite_max_tokens: 24}
  distillation:
    builder: distillation
    options: %(st)s, answer_max_tokens: 24}
train: {recipe: control, max_steps: %(steps)d}
eval: {eval_set: "control:reverse", judge: "oracle:reverse"}
analysis: {enabled: false, reference: null}
decoding: {max_tokens: 24, seed: 0}
"""


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(build_dir: Path) -> list[str]:
    from harness.core import tasks

    task = tasks.TASKS["reverse"]

    def is_correct(r: dict) -> bool:
        msgs = {m["role"]: m["content"] for m in r["messages"]}
        return tasks.correct(task, msgs["user"], msgs["assistant"])

    cands = read(build_dir / "candidates" / "dataset.jsonl")
    correct_docs = {r["provenance"]["document_id"] for r in cands if is_correct(r)}
    out = [
        "| dataset | records | correct | share correct (precision) | recall of correct candidates |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("candidates", "humpback", "bf_filtering", "back_and_forth", "distillation"):
        rows = read(build_dir / name / "dataset.jsonl")
        good = [r for r in rows if is_correct(r)]
        kept_docs = {r["provenance"].get("document_id") for r in good}
        recall = len(kept_docs & correct_docs) / len(correct_docs) if correct_docs else float("nan")
        share = len(good) / len(rows) if rows else float("nan")
        out.append(f"| {name} | {len(rows)} | {len(good)} | {100 * share:.1f} % | {100 * recall:.1f} % |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--threshold", type=float, default=2.5)
    ap.add_argument("--runs-dir", default=None)
    args = ap.parse_args()
    work = Path(args.runs_dir or tempfile.mkdtemp(prefix="bench-control-"))
    cfg = work / "control-builders.yaml"
    work.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        EXPERIMENT
        % {"docs": args.docs, "steps": args.steps, "s1": SCORE % 1.0, "st": SCORE % args.threshold},
        encoding="utf-8",
    )
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "build",
            "--config",
            str(cfg),
            "--runs-dir",
            str(work / "runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if r.returncode:
        sys.exit(r.stdout[-3000:] + r.stderr[-3000:])
    print(
        f"built in {time.perf_counter() - t0:.0f} s ({args.docs} documents, sub-stage models {args.steps} steps, "
        f"curation threshold {args.threshold})"
    )
    print("\n".join(table(work / "runs" / "control-builders" / "build")))


if __name__ == "__main__":
    main()
