"""The leaderboard's columns and how a cell is shown: shared by the Markdown, terminal and HTML views."""

from __future__ import annotations

from typing import Any

# (key, header, format) in display order; format None = as is
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("rank", "#", None),
    ("dataset", "dataset", None),
    ("source", "source", None),
    ("records", "records", "{:,}"),
    ("training_tokens", "train tokens", "{:,}"),
    ("win_rate", "win rate %", "{:.2f}"),
    ("standard_error", "SE", "{:.2f}"),
    ("lc_win_rate", "LC win rate %", "{:.2f}"),
    ("oracle_accuracy", "oracle acc %", "{:.1f}"),
    ("paper_win_rate", "paper %", "{:.2f}"),
    ("avg_output_length", "avg output chars", "{:.0f}"),
    ("mauve_vs_reference", "MAUVE vs ref", "{:.3f}"),
    ("unique_trigrams_per_1k", "uniq 3-grams/1k", "{:.1f}"),
    ("contamination_hits", "contaminated", None),
    ("n_eval", "n eval", None),
    ("base_model", "base model", None),
    ("judge", "judge", None),
    ("protocol", "protocol", None),
)


def cell(row: dict[str, Any], key: str, fmt: str | None) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    if fmt and isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v)


HEADER_ONLY = ("base_model", "judge", "protocol")  # the same on every row: said once above the table


def shown_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """The columns a table shows: not the header-only ones, nor one empty on every row (the
    dataset and its win rate always)."""
    return [c for c in COLUMNS if c[0] not in HEADER_ONLY
            and (any(r.get(c[0]) is not None for r in rows) or c[0] in ("dataset", "win_rate"))]
