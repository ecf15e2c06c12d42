"""The leaderboard's columns and how a cell is shown: shared by the Markdown, terminal and HTML views."""

from __future__ import annotations

from typing import Any

# (key, header, format) in display order; format None = as is
COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("rank", "#", None),
    ("dataset", "dataset", None),
    ("source", "source", None),
    ("label", "what the row is", None),
    ("records", "records", "{:,}"),
    ("assembly", "assembly", None),
    ("n_trained", "N trained", "{:,}"),
    ("eval_tags", "eval tags", None),
    ("selection", "selected", None),
    ("training_tokens", "train tokens", "{:,}"),
    ("loss_token_pct", "loss tokens %", "{:.0f}"),
    ("win_rate", "win rate %", "{:.2f}"),
    ("standard_error", "SE", "{:.2f}"),
    ("lc_win_rate", "LC win rate %", "{:.2f}"),
    ("lc_variant", "LC variant", None),  # which of alpaca_eval's GLMs; a missing LC's reason is in the notes
    ("oracle_accuracy", "oracle acc %", "{:.1f}"),
    ("paper_win_rate", "paper %", "{:.2f}"),
    ("avg_output_length", "avg output chars", "{:.0f}"),
    ("mauve_vs_reference", "MAUVE vs ref", "{:.3f}"),
    ("unique_trigrams_per_1k", "uniq 3-grams/1k", "{:.1f}"),
    ("tags_per_instruction", "tags/instruction", "{:.2f}"),  # analysis.instruction_tagger
    ("contamination_hits", "contaminated", None),
    ("n_eval", "n eval", None),
    ("unparseable_pct", "unparsed judgments %", "{:.0f}"),
    ("first_slot_pct", "judge prefers 1st slot %", "{:.0f}"),
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


# The columns a narrow terminal keeps first, in this order (keys of COLUMNS; keys not there are
# ignored, so a column added later needs no change here); every other column follows in COLUMNS order.
PRIORITY = ("rank", "dataset", "win_rate", "lc_win_rate", "n_trained", "records", "n_eval")
# Shown in one terminal cell as "value ± error" (the terminal table only; files keep both columns).
WITH_ERROR = {"win_rate": "standard_error"}

HEADER_ONLY = ("base_model", "judge", "protocol")  # the same on every row: said once above the table


def shown_columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """The columns a table shows: not the header-only ones, nor one empty on every row (the
    dataset and its win rate always)."""
    return [
        c
        for c in COLUMNS
        if c[0] not in HEADER_ONLY
        and (any(r.get(c[0]) is not None for r in rows) or c[0] in ("dataset", "win_rate"))
    ]


# what each LC variant is (the leaderboard's notes under the table)
LC_VARIANTS = {
    "official": "alpaca_eval's leaderboard GLM (length_controlled_v1) with the hub's df_gamed.csv given as "
    "eval.lc_data: comparable with published LC win rates",
    "offline": "alpaca_eval's GLM without instruction difficulty (length_controlled_minimal) "
    "fit on the row's own annotations; not comparable with published LC win rates "
    "(on three real AlpacaEval 2.0 models it was 5-14 points above the official "
    "figure and ordered two of them differently)",
    "none": "no LC figure for the row; the row's note below says why",
}


def lc_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The LC column's footnotes: what each variant shown is, and per row why LC is missing or not official."""
    shown = sorted({r["lc_variant"] for r in rows if r.get("lc_variant")})
    out = [f"LC {v}: {LC_VARIANTS.get(v, v)}." for v in shown]
    out += [f"{r['dataset']}: {r['lc_note']}." for r in rows if r.get("lc_note")]
    return out
