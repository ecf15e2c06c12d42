"""The terminal leaderboard (and every CLI table) fits the terminal: no word split across lines, no
column empty on every row, the most important columns kept first on a narrow terminal."""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from _support import PROJECT_ROOT

from harness.report.columns import COLUMNS, WITH_ERROR
from harness.report.leaderboard import rich_table
from harness.report.terminal import fit_table

BOX = r"[\s│┃┆╎|━─┏┓┗┛┡┩┠┨┯┷┳┻╇╈╋┼└┘┌┐├┤┬┴═╞╡╪]+"


def _board() -> dict:
    """The committed demo leaderboard, with a long dataset name and a source of many words added."""
    board = json.loads((PROJECT_ROOT / "results" / "demo" / "leaderboard.json").read_text())
    extra = copy.deepcopy(board["rows"][0])
    extra.update(
        dataset="back_and_forth_rewritten_long_name",
        source="baseline:sharegpt_vicuna_unfiltered",
        rank=len(board["rows"]) + 1,
    )
    board["rows"].append(extra)
    return board


def _render(table, width: int) -> tuple[str, list[str]]:
    from rich.console import Console

    dropped = fit_table(table, width)
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, no_color=True).print(table)
    return out.getvalue(), dropped


@pytest.mark.parametrize("width", [80, 100, 160])
def test_leaderboard_fits_without_splitting_words(width):
    board = _board()
    table = rich_table(board)
    text, dropped = _render(table, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width, text
    tokens = set(re.split(BOX, text))
    headers = [c.header for c in table.columns]
    for col in table.columns:  # every word of every shown cell and header is whole somewhere
        for value in [col.header, *col._cells]:
            for word in str(value).split():
                assert word in tokens, f"{word!r} split at width {width}:\n{text}"
    for col in table.columns:  # no column is empty on every row
        assert any(str(v).strip() not in ("", "-") for v in col._cells), (col.header, text)
    shown_keys = {k for k, h, _ in COLUMNS if any(x.startswith(h) for x in headers)}
    empty = {k for k, _, _ in COLUMNS if all(r.get(k) is None for r in board["rows"])}
    assert not shown_keys & empty, shown_keys & empty
    assert headers[:3] == ["#", "dataset", "win rate % ± SE"], headers  # the most important first
    assert "± " in text and set(WITH_ERROR.values()).isdisjoint(shown_keys)
    if width >= 160:  # the figures people compare first, even with the two long names added
        assert {"LC win rate %", "records", "n eval", "source", "train tokens"} <= set(headers), headers
    assert width > 80 or dropped  # 80 columns cannot hold all of it: some are named as left out


def test_any_table_drops_from_the_back_and_keeps_words_whole():
    from rich.table import Table

    t = Table(title="plan")
    for h in ("stage", "status", "fingerprint", "directory", "empty"):
        t.add_column(h)
    for i in range(3):
        t.add_row(
            f"build/dataset_number_{i}",
            "to run",
            "c3c70c5ff7d3e1cc467b",
            f"/a/rather/long/runs/directory/demo/build/dataset_number_{i}",
            "-",
        )
    text, dropped = _render(t, 60)
    assert "empty" not in text and dropped == ["directory"], (dropped, text)
    assert "c3c70c5ff7d3e1cc467b" in text and "build/dataset_number_2" in text
