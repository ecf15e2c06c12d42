"""`harness status --config EXPERIMENT`: where a run stands, read from another terminal while it goes on.

Reads only what the stages write (the plan's fingerprints, each stage's manifest, the `running.json`
a running stage leaves in its directory, the runner lock's record of who holds it, the request cache): stages done, running and remaining;
tokens and model requests so far; the API judge's spend so far beside its estimate. Starts nothing.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from harness.commands._experiment import add_experiment_arguments, load, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_experiment_arguments(p)
    p.add_argument("--json", action="store_true", help="print the status as one JSON object")
    p.add_argument(
        "--num-shards",
        type=positive_int,
        default=None,
        metavar="K",
        help="the run's build shards (default: as its SLURM submission recorded, else none)",
    )


def stage_rows(exp, runs_dir=None, *, num_shards: int | None = None) -> list[dict[str, Any]]:
    """Every planned stage with its state: done, running, interrupted, failed, stale (done with another
    fingerprint: it reruns) or to run; and the figures its manifest holds."""
    from harness.core.runs import read_manifest, running_state
    from harness.stages.context import Run
    from harness.stages.executor import job_states, submitted_shards
    from harness.stages.graph import graph

    rows = []
    run_ = Run(exp, runs_dir, num_shards=num_shards or submitted_shards(Run(exp, runs_dir)))
    jobs = job_states(run_)
    for s in graph(run_, report=False):
        m, live = read_manifest(s.directory), running_state(s.directory)
        state = "done" if s.cached else "to run"
        note = ""
        if live:
            state = "running" if live["alive"] is not False else "interrupted"
            note = f"since {live.get('started_at')} (pid {live.get('pid')} on {live.get('host')})"
        elif m and not m.ok and m.fingerprint == s.fingerprint and _was_interrupted(m.error):
            state, note = "interrupted", "stopped by Ctrl-C; rerun to resume (finished work is kept)"
        elif m and not m.ok and m.fingerprint == s.fingerprint:
            state, note = "failed", (m.error or "").splitlines()[0][:160] if m.error else ""
        elif m and m.ok and not s.cached:
            state = "stale"
        job = jobs.get(s.label)
        if job is not None and state != "done":  # a job killed by SLURM leaves its running.json behind
            state, note = _with_job(state, note, job)
        rows.append(
            {
                "stage": s.label,
                "state": state,
                "note": note,
                "job": job.describe() if job else None,
                "tokens": _tokens(s.stage, m) if m and m.ok and s.cached else 0,
                "judge_usd": _stat(m, "api_usd") if m and s.stage == "eval" else 0.0,
            }
        )
    return rows


def _with_job(state: str, note: str, job) -> tuple[str, str]:
    """A stage not done, seen through its job: queued or running on the cluster, or failed there (a job
    that failed, was cancelled, timed out or was preempted), with the SLURM state and the log."""
    status = job.status
    if status == "pending":
        return "queued", job.describe()
    if status == "running":
        return "running", job.describe()
    if status in ("failed", "blocked"):
        why = "its dependency failed" if status == "blocked" else "the job ended"
        return "failed", f"{why}: {job.describe()}" + (f"; {note}" if note else "")
    return state, note


def _was_interrupted(error: str | None) -> bool:
    """The failed manifest's error names an interruption (Ctrl-C), not a fault."""
    return bool(error) and error.split(":", 1)[0] == "KeyboardInterrupt"


def _stat(manifest, key: str) -> Any:
    stats = manifest.stats
    value = getattr(stats, key, None)
    if value is None and hasattr(stats, "extra"):
        value = stats.extra.get(key)
    return value or 0


def _tokens(stage: str, manifest) -> int:
    """Model tokens a finished stage processed: generated and read by builders, trained on, judged."""
    if stage == "build":
        return int(_stat(manifest, "prompt_tokens") + _stat(manifest, "completion_tokens"))
    if stage == "train":
        return int(_stat(manifest, "tokens_seen"))
    if stage == "eval":
        return int(sum((_stat(manifest, "tokens") or {}).values()))
    return 0


def cached_requests(exp, runs_dir=None) -> int | None:
    """Model requests answered so far (rows of the experiment's request cache, live while a run writes it)."""
    import sqlite3

    from harness.stages import paths

    path = paths.request_cache(exp, runs_dir)
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])
    except sqlite3.Error:
        return None


def status(exp, runs_dir=None, *, num_shards: int | None = None) -> dict[str, Any]:
    from harness.core.lock import runners
    from harness.stages import paths
    from harness.stages.evaluate import estimate_cost

    rows = stage_rows(exp, runs_dir, num_shards=num_shards)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    cost = estimate_cost(exp) or {}
    return {
        "experiment": exp.name,
        "runners": runners(paths.exp_dir(exp, runs_dir)),
        "stages": rows,
        "counts": counts,
        "tokens": sum(r["tokens"] for r in rows),
        "requests": cached_requests(exp, runs_dir),
        "judge_usd": round(sum(r["judge_usd"] for r in rows), 4),
        "judge_usd_estimate": cost.get("usd"),
    }


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from harness.console import make_console
    from harness.report.terminal import print_table

    exp = load(args)
    st = status(exp, args.runs_dir, num_shards=args.num_shards)
    if args.json:
        print(json.dumps(st))
        return 0
    console = make_console()
    for h in st["runners"]:
        console.print(
            f"running: pid {h.get('pid')} on {h.get('host')} since {h.get('started_at')}, "
            f"command {h.get('command')}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    t = Table(title=f"status of experiment '{exp.name}'")
    for col in ("stage", "state", "tokens", "note"):
        t.add_column(col, justify="right" if col == "tokens" else "left")
    for r in st["stages"]:
        t.add_row(r["stage"], r["state"], f"{r['tokens']:,}" if r["tokens"] else "", r["note"])
    print_table(console, t)
    order = ("done", "running", "queued", "interrupted", "failed", "stale", "to run")
    console.print("stages: " + ", ".join(f"{st['counts'][k]} {k}" for k in order if st["counts"].get(k)))
    spend = f"judge spend ${st['judge_usd']:.2f}" + (
        f" of ~${st['judge_usd_estimate']:.2f} estimated" if st["judge_usd_estimate"] else ""
    )
    requests = (
        "no request cache yet" if st["requests"] is None else f"{st['requests']:,} model requests cached"
    )
    console.print(f"tokens so far {st['tokens']:,} (finished stages); {requests}; {spend}")
    return 0
