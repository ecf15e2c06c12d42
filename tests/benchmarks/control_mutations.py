"""Mutation check of the positive control: break one guarded thing at a time and see whether the
control test (`tests/stages/test_control_e2e.py`) fails, as it should.

    .venv/bin/python tests/benchmarks/control_mutations.py [NAME ...]

Each mutation is one textual edit applied to a scratch copy of the committed tree (`git archive
HEAD` into a temporary directory); the working tree is never touched and nothing is committed.
A mutation whose text is not found in the tree is reported as "not applicable" (the edit must
then be updated to the code it targets). Prints one line per mutation: caught (the test failed)
or missed (it passed). Slow: one control run per mutation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutant_tree import mutant_tree

ROOT = Path(__file__).resolve().parents[2]

# name -> (file, text, replacement)
MUTATIONS: dict[str, tuple[str, str, str]] = {
    # the loss on every token: prompt tokens included
    "train_on_all_tokens": (
        "harness/training/sft.py",
        "assistant_only_loss=True",
        "assistant_only_loss=False",
    ),
    # the seeded swap of the judge's positions is made but never mapped back
    "judge_positions_not_unswapped": (
        "harness/evaluation/judges/spec.py",
        "return 3 - preference if preference is not None and switched else preference",
        "return preference",
    ),
    # the eval prompt without the system tag training used (control.yaml: eval.tags: web)
    "eval_tag_dropped": (
        "harness/evaluation/alpaca.py",
        'head = (Message("system", system),) if system else ()',
        "head = ()",
    ),
}


def run(name: str) -> str:
    file, old, new = MUTATIONS[name]
    with tempfile.TemporaryDirectory(prefix=f"mutant-{name}-") as tmp:
        tree = Path(tmp) / "tree"
        why = mutant_tree(tree, file, old, new)
        if why:
            return f"{name}: {why}"
        t0 = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "tests/stages/test_control_e2e.py",
            ],
            cwd=tree,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        verdict = "caught (the control test failed)" if r.returncode else "MISSED (the control test passed)"
        tail = [line for line in r.stdout.splitlines() if ": pass" in line or ": FAIL" in line]
        return f"{name}: {verdict} in {time.perf_counter() - t0:.0f} s\n  " + "\n  ".join(tail)


def main() -> None:
    for name in sys.argv[1:] or list(MUTATIONS):
        print(run(name), flush=True)


if __name__ == "__main__":
    main()
