"""Rewrite the committed demo baseline, `results/demo/`, with the noise it was measured against.

    .venv/bin/python scripts/demo_results.py [--runs-dir runs/noise] [--settings 1:default,2:default,...]
    .venv/bin/python scripts/demo_results.py --settings 1:default:vllm,2:default:vllm   # results/vllm/demo/

Runs the demo from scratch under each setting (OpenMP threads x ATEN_CPU_CAPABILITY kernels; by
default 1 and 2 threads, default and avx2 kernels) into its own runs directory, writes
`results/demo/` from the first setting (one thread, default kernels: the baseline) and
`results/demo/noise.json` as max - min of every figure over all the settings' leaderboards
(`harness check` widens a row's tolerance to it). About 4 demo runs, 10+ minutes on two cores.
A setting may name a backend (`1:default:vllm`); one backend per baseline, since hf and vllm draw
different tokens from one seed: vllm's baseline goes to `results/vllm/demo/`.
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


BACKENDS = ("hf", "vllm")


def parse_settings(text: str) -> list[tuple[int, str, str]]:
    """`THREADS:KERNELS[:BACKEND],...` as (threads, kernels, backend) triples (backend hf unless
    given); a bad item exits 2 naming it."""
    settings = []
    for item in text.split(","):
        threads, sep, rest = item.partition(":")
        kernels, _, backend = rest.partition(":")
        if not sep or not threads.isdigit() or not kernels or (backend or "hf") not in BACKENDS:
            print(
                f"--settings: '{item}' is not THREADS:KERNELS[:BACKEND] (e.g. 2:avx2, 1:default or "
                f"1:default:vllm; backends {', '.join(BACKENDS)})",
                file=sys.stderr,
            )
            raise SystemExit(2)
        settings.append((int(threads), kernels, backend or "hf"))
    return settings


def setting_name(threads: int, kernels: str, backend: str = "hf") -> str:
    return f"{threads}thread-{kernels}" + ("" if backend == "hf" else f"-{backend}")


def backend_args(backend: str) -> list[str]:
    """The experiment override a setting's backend needs (none for the demo's own hf)."""
    return [] if backend == "hf" else [f"backend={backend}"]


def baseline_dir(results: Path, backend: str) -> Path:
    """Where a backend's committed demo baseline lives: results/demo/ for hf, results/<backend>/demo/."""
    return results / "demo" if backend == "hf" else results / backend / "demo"


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
    p.add_argument(
        "--results-dir",
        default="results",
        help="where the baseline goes: <dir>/demo/ for hf, <dir>/<backend>/demo/ otherwise, with its noise.json",
    )
    args = p.parse_args()
    settings = parse_settings(args.settings)
    if len(settings) < 2:
        print("--settings: at least two settings are needed to measure a spread", file=sys.stderr)
        return 2
    backends = {b for _, _, b in settings}
    if len(backends) > 1:
        print(
            "--settings: one backend per baseline (hf and vllm draw different tokens from one seed; "
            "make each backend's baseline with its own run of this script)",
            file=sys.stderr,
        )
        return 2
    backend = backends.pop()
    target = baseline_dir(Path(args.results_dir), backend)

    from harness.report.check import measure_noise

    boards = []
    for threads, kernels, _ in settings:
        name, env = setting_name(threads, kernels, backend), setting_env(threads, kernels)
        runs = Path(args.runs_dir) / name
        print(f"demo-results: {name} -> {runs}", flush=True)
        harness(
            ["run", "--config", "demo", "--runs-dir", str(runs), "--results-dir", str(runs / "results")]
            + backend_args(backend),
            env,
        )
        boards.append(
            json.loads((runs / "results" / "demo" / "leaderboard.json").read_text(encoding="utf-8"))
        )
        if len(boards) == 1:  # the baseline: the first setting's leaderboard, report and plots
            report = ["report", "--config", "demo", "--runs-dir", str(runs), "--results-dir"]
            harness([*report, str(target.parent), "--force", *backend_args(backend)], env)
    names = ", ".join(f"OMP_NUM_THREADS={t} kernels={k}" for t, k, _ in settings)
    about = (
        f"max - min of each figure over demo runs on backend {backend}, each setting in its own runs "
        f"directory: {names} (the first is the baseline); "
        f"{platform.processor() or platform.machine()}, {datetime.date.today()}; figures not listed moved "
        "less than 1e-4; written by scripts/demo_results.py"
    )
    noise = measure_noise(boards, about=about)
    path = target / "noise.json"
    path.write_text(json.dumps(noise, indent=1) + "\n", encoding="utf-8")
    print(f"demo-results: {path}: {json.dumps(noise['rows'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
