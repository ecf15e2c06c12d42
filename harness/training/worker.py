"""One rank of a multi-process training run, started by `harness.training.launch`.

`python -m harness.training.worker RUN_DIR` trains the job that the train stage wrote into RUN_DIR
(`train_job.json`, `train.jsonl`) with the same `fit` as the in-process path; the main rank writes
`train_stats.json` for the parent to put into the manifest.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from harness.core.io import write_json
from harness.training.launch import STATS_FILE
from harness.training.sft import fit


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m harness.training.worker RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    directory = Path(argv[0])
    stats = fit(directory)
    if stats is not None:  # the main rank
        write_json(directory / STATS_FILE, stats)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
