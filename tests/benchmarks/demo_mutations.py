"""Mutation check of the demo's regression check: break one thing at a time and see whether
`harness check --config demo --baseline results/demo/leaderboard.json` (with its noise.json) fails.

    .venv/bin/python tests/benchmarks/demo_mutations.py [--runs-dir DIR] [NAME ...]

The unmutated demo is run once into DIR (default /tmp/demo-mutations/base; one OpenMP thread,
kept, so a rerun is cached) and must pass the check. Each mutation then runs on a copy of DIR:
a config change (an override, or a config without one dataset) reruns only the stages whose
fingerprint it changes; a code change (one textual edit applied to a scratch copy of the
committed tree, `git archive HEAD`; the working tree is never touched) forces the stages that code
runs in, since fingerprints do not hash code. Prints, per mutation, caught or MISSED and every
figure that left its tolerance: baseline -> current, the move, the tolerance and the measured
noise it was judged against. Slow: about a minute per config mutation, several per code one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutant_tree import mutant_tree

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "results" / "demo" / "leaderboard.json"

# name -> what it breaks: overrides (config), drop (a dataset removed from the config),
# patch (file, text, replacement) in the code, force (the stages that code runs in)
MUTATIONS: dict[str, dict] = {
    # a builder option changed: back_and_forth's curation threshold 2.5 -> 3.0
    "builder_option_changed": {"overrides": ["datasets.back_and_forth.options.threshold=3.0"]},
    # a builder option on the one row with measured noise: Humpback with one iteration, not two
    # (its threshold 3.0 leaves 13 records, which the analysis refuses: a failed run, not a check)
    "humpback_option_changed": {"overrides": ["datasets.humpback.options.iterations=1"]},
    # a dataset removed from the experiment
    "dataset_removed": {"drop": "sharegpt"},
    # the eval prompt without the seed tag the config asks for (eval.tags: seed); the config and so
    # the leaderboard's eval_tags column still say seed
    "eval_tag_dropped": {
        "patch": (
            "harness/evaluation/alpaca.py",
            'head = (Message("system", system),) if system else ()',
            "head = ()",
        ),
        "force": ["eval", "report"],
    },
    # the seeded swap of the judge's positions is made but never mapped back
    "judge_positions_not_unswapped": {
        "patch": (
            "harness/evaluation/judges/spec.py",
            "return 3 - preference if preference is not None and switched else preference",
            "return preference",
        ),
        "force": ["eval", "report"],
    },
    # the loss on every token, prompt tokens included (assistant-only loss off)
    "train_on_all_tokens": {
        "patch": ("harness/training/sft.py", "assistant_only_loss=True", "assistant_only_loss=False"),
        "force": ["train", "eval", "report"],
    },
}


def harness(tree: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from harness.cli import entry; entry()", *args],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )


def check(
    tree: Path, config: str, overrides: list[str], runs: Path, env: dict[str, str]
) -> tuple[int, list[str]]:
    """The CLI's exit status and, from the same comparison, one line per change."""
    r = harness(
        tree,
        ["check", "--config", config, *overrides, "--runs-dir", str(runs), "--baseline", str(BASELINE)],
        env,
    )
    from harness.core.io import read_json
    from harness.experiment import load_experiment
    from harness.report import leaderboard
    from harness.report.check import DEFAULT_TOLERANCES, compare, parse_noise

    board = leaderboard.collect(load_experiment(config, overrides), str(runs))
    noise = parse_noise(read_json(BASELINE.parent / "noise.json"), "noise.json")
    lines = []
    for c in compare(board, read_json(BASELINE), DEFAULT_TOLERANCES, noise):
        if c.kind == "moved":
            move = float(c.current) - float(c.baseline)
            lines.append(
                f"{c.dataset}.{c.key}: {c.baseline} -> {c.current} (move {move:+.4g}, tolerance "
                f"{c.tolerance:g}{'' if c.noise is None else f', measured noise {c.noise:g}'})"
            )
        else:
            lines.append(
                c.describe() if c.kind != "changed" else f"{c.dataset}.{c.key}: {c.baseline} -> {c.current}"
            )
    return r.returncode, lines


def run_mutation(name: str, base: Path, env: dict[str, str]) -> tuple[bool, str]:
    """(caught, the account): caught when the mutated run finished and `harness check` failed on it."""
    m = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix=f"demo-mutant-{name}-") as tmp:
        tmp = Path(tmp)
        runs = tmp / "runs"
        shutil.copytree(base, runs, symlinks=True)
        tree, config, overrides = ROOT, "demo", list(m.get("overrides", []))
        if "drop" in m:
            import yaml

            data = yaml.safe_load((ROOT / "harness" / "configs" / "demo.yaml").read_text(encoding="utf-8"))
            del data["datasets"][m["drop"]]
            config = str(tmp / "demo.yaml")
            Path(config).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        if "patch" in m:
            file, old, new = m["patch"]
            tree = tmp / "tree"
            why = mutant_tree(tree, file, old, new)
            if why:
                return False, f"{name}: {why}"
        t0 = time.perf_counter()
        force = ["--force", *m["force"]] if "force" in m else []
        r = harness(
            tree,
            [
                "run",
                "--config",
                config,
                *overrides,
                "--runs-dir",
                str(runs),
                "--results-dir",
                str(tmp / "results"),
                *force,
            ],
            env,
        )
        if r.returncode:
            return False, f"{name}: the mutated run failed (exit {r.returncode}):\n  " + "\n  ".join(
                (r.stdout + r.stderr).strip().splitlines()[-8:]
            )
        rc, lines = check(tree, config, overrides, runs, env)
        verdict = {0: "MISSED (harness check passed)", 1: "caught (harness check failed)"}.get(
            rc, f"harness check itself failed (exit {rc})"
        )
        return rc == 1, f"{name}: {verdict}; run {time.perf_counter() - t0:.0f} s\n  " + "\n  ".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs-dir", default="/tmp/demo-mutations/base", help="the unmutated demo's runs (kept)")
    p.add_argument(
        "names", nargs="*", metavar="NAME", help=f"mutations (default all): {', '.join(MUTATIONS)}"
    )
    args = p.parse_args()
    unknown = [n for n in args.names if n not in MUTATIONS]
    if unknown:
        print(f"unknown mutation {unknown[0]!r}; known: {', '.join(MUTATIONS)}", file=sys.stderr)
        return 2
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    base = Path(args.runs_dir).resolve()
    t0 = time.perf_counter()
    r = harness(
        ROOT,
        ["run", "--config", "demo", "--runs-dir", str(base), "--results-dir", str(base / "results")],
        env,
    )
    if r.returncode:
        print(f"the unmutated demo failed (exit {r.returncode}):\n{r.stdout}{r.stderr}", file=sys.stderr)
        return 1
    rc, lines = check(ROOT, "demo", [], base, env)
    print(
        f"unmutated: {'passes' if rc == 0 else 'FAILS'} harness check; run {time.perf_counter() - t0:.0f} s"
        + "".join(f"\n  {line}" for line in lines),
        flush=True,
    )
    for name in args.names or list(MUTATIONS):
        print(run_mutation(name, base, env)[1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
