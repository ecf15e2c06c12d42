"""Tables that fit the terminal: every rich table the CLI prints goes through `fit_table`.

A column that is empty on every row is dropped; each column is at least as wide as its longest
word (and its short cells, such as "52.3 ± 8.1", whole), so rich wraps between words and never splits one; when even that does not fit, the
least important columns (the last ones, or those missing from `priority`) are left out and named
under the table. Rich measures a pipe as 80 columns (or $COLUMNS), so CI logs get the same fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EMPTY = ("", "-")
BORDER = 3  # a cell's padding (1 + 1) and its left border; the table adds one more on the right


def _plain(value: Any) -> str:
    from rich.text import Text

    if isinstance(value, Text):
        return value.plain
    return Text.from_markup(str(value)).plain if value is not None else ""


def _words(text: str) -> list[str]:
    return [w for line in text.splitlines() for w in line.split()] or [""]


KEEP_WHOLE = 24  # a cell up to this long (a number with its error, a short name) is never wrapped


def _measure(header: str, cells: Sequence[str]) -> tuple[int, int]:
    """(narrowest width without splitting a word or wrapping a short cell, natural one-line width)."""
    texts = [header, *cells]
    shortest = max(
        [len(w) for w in _words(header)]
        + [len(c) if len(c) <= KEEP_WHOLE else max(map(len, _words(c))) for c in cells]
    )
    natural = max((len(line) for t in texts for line in t.splitlines() or [""]), default=0)
    return shortest, max(natural, shortest)


def fit_table(table: Any, width: int, *, priority: Sequence[str] = ()) -> list[str]:
    """Make `table` fit `width` characters; returns the headers of the columns it left out.

    `priority` lists headers that must come first in the order given (they are moved to the front);
    the other columns keep their order after them, and columns are left out from the back."""
    cols = list(table.columns)
    cells = {id(c): [_plain(x) for x in c._cells] for c in cols}
    keep = [c for c in cols if any(x.strip() not in EMPTY for x in cells[id(c)]) or not table.rows]
    rank = {h: i for i, h in enumerate(priority)}
    keep.sort(key=lambda c: (rank.get(_plain(c.header), len(rank)), cols.index(c)))
    sizes = {id(c): _measure(_plain(c.header), cells[id(c)]) for c in keep}
    chosen: list[Any] = []
    used = 1
    for c in keep:
        need = sizes[id(c)][0] + BORDER
        if chosen and used + need > width:
            continue
        chosen.append(c)
        used += need
    _set_widths(chosen, sizes, width)
    dropped = [_plain(c.header) for c in cols if c not in chosen and c in keep]
    table.columns[:] = chosen
    for i, c in enumerate(table.columns):
        c._index = i
    return dropped


def _set_widths(chosen: list[Any], sizes: dict[int, tuple[int, int]], width: int) -> None:
    """Natural widths when they fit; else every column at its longest word, the room left given to
    the columns in order up to their natural width."""
    natural = 1 + sum(sizes[id(c)][1] + BORDER for c in chosen)
    if natural <= width:
        return
    room = width - 1 - sum(sizes[id(c)][0] + BORDER for c in chosen)
    for c in chosen:
        low, high = sizes[id(c)]
        extra = max(0, min(room, high - low))
        c.width, room = low + extra, room - extra
        c.overflow = "fold"


def print_table(console: Any, table: Any, *, priority: Sequence[str] = (), note: str = "") -> None:
    """Fit `table` to the console and print it; then one line with `note` and the columns left out."""
    dropped = fit_table(table, console.width, priority=priority)
    console.print(table)
    hidden = f"hidden at {console.width} columns: {', '.join(dropped)}" if dropped else ""
    if note or hidden:
        console.print(
            "; ".join(x for x in (note, hidden) if x), markup=False, highlight=False, soft_wrap=True
        )


def show(console: Any, item: Any) -> None:
    """Print one renderable; a table is fitted to the console first."""
    from rich.table import Table

    if isinstance(item, Table):
        print_table(console, item)
    else:
        console.print(item)
