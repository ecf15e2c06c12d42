"""Alpaca-GPT4 (Peng et al. 2023): Alpaca's 52K instructions answered by GPT-4.

Real format: the hub repository `vicgalle/alpaca-gpt4` holds one Parquet file under `data/`
(columns instruction, input, output, text); the authors' own release is one JSON list of
{"instruction", "input", "output"}; both read here. A non-empty input is appended to the
instruction after a blank line, as Alpaca's prompt does; the `text` column (a formatted prompt) is
not used.
"""

from __future__ import annotations

from pathlib import Path

from baselines._row import Skip, record, text

SOURCE = "hub:vicgalle/alpaca-gpt4"
REVISION = None  # not pinned: no commit of this repository could be checked from here (see the README)
FILES = ["data/train-*.parquet"]
LICENSE = "cc-by-nc-4.0"  # the Hub licence id of the source (other: see the source's own terms)
DEMO_FILE = Path(__file__).resolve().parent / "data" / "alpaca_gpt4_demo.json"


def to_record(row):
    instruction = text(row, "instruction")
    extra = text(row, "input", required=False)
    output = text(row, "output")
    if extra:
        instruction = f"{instruction}\n\n{extra}"
    if not isinstance(row.get("input", ""), str):
        raise Skip("bad_input")
    return record("alpaca_gpt4", instruction, output)
