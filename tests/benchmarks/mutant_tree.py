"""The committed tree copied into a scratch folder with one text replacement: the mutation the
control and demo mutation scripts run the harness on."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mutant_tree(into: Path, file: str, old: str, new: str) -> str | None:
    """`git archive HEAD` unpacked under `into`, with the first `old` in `file` replaced by `new`;
    returns why it cannot apply (None when it did)."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    path = into / file
    text = path.read_text(encoding="utf-8")
    if old not in text:
        return f"not applicable ({old!r} is not in {file})"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return None
