"""Rewrite the committed demo baseline, `results/demo/`, with the noise it was measured against.

    .venv/bin/python scripts/demo_results.py [--runs-dir runs/noise] [--settings 1:default,2:default,...]

Runs the demo from scratch under each setting (OpenMP threads x ATEN_CPU_CAPABILITY kernels; by
default 1 and 2 threads, default and avx2 kernels) into its own runs directory, writes
`results/demo/` from the first setting (one thread, default kernels: the baseline) and
`results/demo/noise.json` as max - min of every figure over all the settings' leaderboards
(`harness check` widens a row's tolerance to it). About 4 demo runs, 10+ minutes on two cores.
The runs directories are kept, so a rerun is cached; delete them for a fresh measurement.
`make demo-results` runs it; nothing else writes the committed baseline.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = "1:default,2:default,1:avx2,2:avx2"


def harness(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from harness.cli import entry; entry()", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, **{"check": True, **kw})


def parse_settings(text: str) -> list[tuple[int, str]]:
    """`THREADS:KERNELS,...` as (threads, kernels) pairs; a bad item exits 2 naming it."""
    settings = []
    for item in text.split(","):
        threads, sep, kernels = item.partition(":")
        if not sep or not threads.isdigit() or not kernels:
            print(f"--settings: '{item}' is not THREADS:KERNELS (e.g. 2:avx2 or 1:default)", file=sys.stderr)
            raise SystemExit(2)
        settings.append((int(threads), kernels))
    return settings


def setting_name(threads: int, kernels: str) -> str:
    return f"{threads}thread-{kernels}"


def setting_env(threads: int, kernels: str) -> dict[str, str]:
    """This process's environment with the setting's OpenMP threads and kernel set, our tree first."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    env.pop("ATEN_CPU_CAPABILITY", None)
    if kernels != "default":
        env["ATEN_CPU_CAPABILITY"] = kernels
    return env


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--runs-dir", default="runs/noise", help="one subdirectory per setting (kept: a rerun is cached)"
    )
    p.add_argument(
        "--settings", default=SETTINGS, help="THREADS:KERNELS,... (the first one makes the baseline)"
    )
    p.add_argument("--results-dir", default="results", help="where <dir>/demo/ and its noise.json go")
    args = p.parse_args()
    settings = parse_settings(args.settings)
    if len(settings) < 2:
        print("--settings: at least two settings are needed to measure a spread", file=sys.stderr)
        return 2

    from harness.report.check import measure_noise

    boards = []
    for threads, kernels in settings:
        name, env = setting_name(threads, kernels), setting_env(threads, kernels)
        runs = Path(args.runs_dir) / name
        print(f"demo-results: {name} -> {runs}", flush=True)
        harness(
            ["run", "--config", "demo", "--runs-dir", str(runs), "--results-dir", str(runs / "results")], env
        )
        boards.append(
            json.loads((runs / "results" / "demo" / "leaderboard.json").read_text(encoding="utf-8"))
        )
        if len(boards) == 1:  # the baseline: the first setting's leaderboard, report and plots
            harness(
                [
                    "report",
                    "--config",
                    "demo",
                    "--runs-dir",
                    str(runs),
                    "--results-dir",
                    args.results_dir,
                    "--force",
                ],
                env,
            )
    names = ", ".join(f"OMP_NUM_THREADS={t} kernels={k}" for t, k in settings)
    about = (
        f"max - min of each figure over demo runs, each setting in its own runs directory: {names} "
        "(the first is the baseline); "
        f"{platform.processor() or platform.machine()}, {datetime.date.today()}; figures not listed moved "
        "less than 1e-4; written by scripts/demo_results.py"
    )
    noise = measure_noise(boards, about=about)
    path = Path(args.results_dir) / "demo" / "noise.json"
    path.write_text(json.dumps(noise, indent=1) + "\n", encoding="utf-8")
    print(f"demo-results: {path}: {json.dumps(noise['rows'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
