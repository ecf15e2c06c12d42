"""Alpaca-GPT4 (Peng et al. 2023): Alpaca's 52K instructions answered by GPT-4.

Real format: one JSON list of {"instruction", "input", "output"}; a non-empty input is appended
to the instruction after a blank line, as Alpaca's prompt does.
"""

from __future__ import annotations

from pathlib import Path

from baselines._row import Skip, record, text

HUB_ID = "vicgalle/alpaca-gpt4"
LICENSE = "cc-by-nc-4.0"  # the Hub licence id of the source (other: see the source's own terms)
REVISION = "main"  # TODO pin a commit sha when online (options.revision overrides)
HUB_CONFIG = None
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
