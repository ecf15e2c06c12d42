"""Fixtures of the trainer tests: a few hundred real (instruction, response) records made from the
standard library's docstrings (some with a system tag, some with two turns)."""

from __future__ import annotations

import pytest
from training.sft_data import make_records

from harness.core.records import InstructionRecord


@pytest.fixture(scope="session")
def sft_records() -> list[InstructionRecord]:
    return make_records(300)
