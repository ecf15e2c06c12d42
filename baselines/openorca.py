"""OpenOrca: FLAN questions answered by GPT-4 or GPT-3.5, each under its own system prompt.

Real format: two Parquet files at the repository root, `1M-GPT4-Augmented.parquet` (~1M rows
answered by GPT-4) and `3_5M-GPT3_5-Augmented.parquet` (~3.2M rows by GPT-3.5), rows {"id",
"system_prompt", "question", "response"}. The papers compare with the GPT-4-augmented set, which is
read by default (`options.files: 3_5M-GPT3_5-Augmented.parquet` for the other). A row's system
prompt is kept as its system message, as published: a row with `assembly: as_published` trains on it;
under the shared assembly with `train.tags` the tag replaces it, as it replaces every row's system
turn (`harness.training.data`). Both files stream in batches; sampling holds only the N sampled records.
"""

from __future__ import annotations

from baselines._row import record, text

SOURCE = "hub:Open-Orca/OpenOrca"
REVISION = None  # not pinned: no commit of this repository could be checked from here (see the README)
FILES = ["1M-GPT4-Augmented.parquet"]
LICENSE = "mit"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = None


def to_record(row):
    return record(
        "openorca",
        text(row, "question"),
        text(row, "response"),
        system=text(row, "system_prompt", required=False),
        row_id=str(row.get("id", "")),
    )
