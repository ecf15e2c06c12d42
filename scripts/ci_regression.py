"""CI's regression step: the demo from scratch under each thread/kernel setting, each checked against
the committed baseline (all must pass), then the mutations on the 1-thread run (each must fail).

    .venv/bin/python scripts/ci_regression.py [--settings 1:default,2:default,1:avx2,2:avx2[,1:default:vllm]]
                                              [--mutations NAME,... | all | none] [--runs-dir DIR] [--details]

Each setting (OMP_NUM_THREADS x ATEN_CPU_CAPABILITY) is a genuine full run in its own new runs
directory (nothing shared, nothing cached), then `harness check --config demo --baseline
results/demo/leaderboard.json`, which judges each figure against the spread in
`results/demo/noise.json`. The mutations (tests/benchmarks/demo_mutations.py) each break one thing
on a copy of the `1thread-default` run and must make the check fail. One line per setting and per
mutation (name, verdict, wall time); exit 1 on any unexpected verdict or failed run. `.ci/run` runs
it after `make test`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "benchmarks")]

from demo_mutations import MUTATIONS, run_mutation  # noqa: E402
from demo_results import (  # noqa: E402
    SETTINGS,
    backend_args,
    baseline_dir,
    harness,
    parse_settings,
    setting_env,
    setting_name,
)

RESULTS = ROOT / "results"  # each backend's baseline: results/demo/ (hf), results/vllm/demo/
# the cheapest mutations that still break each layer once: the experiment (a dataset removed), a
# builder's option, the evaluation's prompt and the judge (about 3 minutes on a cached run, 2 cores);
# `--mutations all` adds Humpback's option and the loss on all tokens (about 8 more: both retrain)
CI_MUTATIONS = (
    "dataset_removed",
    "builder_option_changed",
    "eval_tag_dropped",
    "judge_positions_not_unswapped",
)


def indent(text: str) -> str:
    return "".join(f"    {line}\n" for line in text.strip().splitlines())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default=SETTINGS, help="THREADS:KERNELS,... each run from scratch")
    p.add_argument(
        "--mutations",
        default=",".join(CI_MUTATIONS),
        help=f"comma-separated, 'all' or 'none'; known: {', '.join(MUTATIONS)}",
    )
    p.add_argument(
        "--runs-dir", help="a new directory for the runs, kept (default: a temporary one, removed)"
    )
    p.add_argument("--details", action="store_true", help="under each line, every figure the check reported")
    args = p.parse_args()
    settings = parse_settings(args.settings)
    names = {"all": list(MUTATIONS), "none": []}.get(
        args.mutations, [n for n in args.mutations.split(",") if n]
    )
    unknown = [n for n in names if n not in MUTATIONS]
    if unknown:
        print(
            f"--mutations: unknown mutation '{unknown[0]}'; known: {', '.join(MUTATIONS)}, all, none",
            file=sys.stderr,
        )
        return 2
    if names and (1, "default", "hf") not in settings:
        print(
            "--mutations: they run on the 1-thread default-kernel run (the baseline's setting); add 1:default "
            "to --settings or pass --mutations none",
            file=sys.stderr,
        )
        return 2
    if args.runs_dir and Path(args.runs_dir).exists():
        print(
            f"--runs-dir {args.runs_dir}: exists; every setting runs from scratch, so give a new directory",
            file=sys.stderr,
        )
        return 2
    top = Path(args.runs_dir) if args.runs_dir else Path(tempfile.mkdtemp(prefix="ci-regression-"))
    bad = 0
    t_all = time.perf_counter()
    try:
        for threads, kernels, backend in settings:
            name, env = setting_name(threads, kernels, backend), setting_env(threads, kernels)
            runs = top / name
            baseline = baseline_dir(RESULTS, backend) / "leaderboard.json"
            t0 = time.perf_counter()
            r = harness(
                ["run", "--config", "demo", "--runs-dir", str(runs), "--results-dir", str(runs / "results")]
                + backend_args(backend),
                env,
                check=False,
                capture_output=True,
                text=True,
            )
            if r.returncode == 0:
                r = harness(
                    ["check", "--config", "demo", "--runs-dir", str(runs), "--baseline", str(baseline)]
                    + backend_args(backend),
                    {**env, "COLUMNS": "160"},
                    check=False,
                    capture_output=True,
                    text=True,
                )
                verdict = {0: "pass", 1: "FAIL (moved past the measured noise)"}.get(
                    r.returncode, f"FAIL (harness check exit {r.returncode})"
                )
            else:
                verdict = f"FAIL (the demo run exited {r.returncode})"
            print(f"setting  {name:<30} {verdict:<40} {time.perf_counter() - t0:5.0f} s", flush=True)
            if r.returncode:
                bad += 1
            if r.returncode or args.details:
                print(indent((r.stdout + r.stderr)[-4000:]), end="", flush=True)
        base = top / setting_name(1, "default")
        for name in names:
            t0 = time.perf_counter()
            caught, account = run_mutation(name, base, setting_env(1, "default"))
            verdict = "fails the check (expected)" if caught else "UNEXPECTED: " + account.splitlines()[0]
            print(f"mutation {name:<30} {verdict:<40} {time.perf_counter() - t0:5.0f} s", flush=True)
            if not caught:
                bad += 1
            if not caught or args.details:
                print(indent("\n".join(account.splitlines()[1:])), end="", flush=True)
    finally:
        if not args.runs_dir:
            shutil.rmtree(top, ignore_errors=True)
    print(
        f"ci-regression: {len(settings)} settings (each must pass), {len(names)} mutations (each must fail): "
        f"{'all as expected' if not bad else f'{bad} UNEXPECTED'}; {time.perf_counter() - t_all:.0f} s",
        flush=True,
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
