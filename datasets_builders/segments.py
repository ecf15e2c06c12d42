"""Cutting documents into header-led segments (the Humpback paper's corpus setting).

Humpback (Li et al. 2023) took ClueWeb text segments of 600-3,000 characters and used heuristics on
their headers to keep self-contained ones. Our reading of that, written for this project: a
segment is a header line and the text under it up to the next header; a header is a Markdown
heading (`# ...`) or a short title-like line (few words, no closing sentence punctuation) standing
alone after a blank line (a header with no text under it is dropped); with `corpus.header_filter`, a segment is kept only when it opens with a
header that looks like a title of content (not navigation, not shouting, not a bare number). The
segment length bounds are the corpus's `min_chars` / `max_chars`, applied after cutting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_MD_HEADING = re.compile(r"^#{1,6}\s+\S")
_SENTENCE_END = re.compile(r"[.,;:!?]$")
# words that mark page furniture rather than a content title (lowercase, whole line start)
_FURNITURE = (
    "home",
    "menu",
    "login",
    "log in",
    "sign in",
    "sign up",
    "subscribe",
    "cookie",
    "privacy",
    "copyright",
    "all rights reserved",
    "share this",
    "related posts",
    "comments",
    "search",
    "navigation",
    "skip to",
)
MAX_HEADER_WORDS = 12
MAX_HEADER_CHARS = 100


def is_header_line(line: str, previous: str | None) -> bool:
    """A heading: Markdown `#`, or a short line without sentence punctuation after a blank line (or
    at the start) whose first character is a capital letter or a digit."""
    s = line.strip()
    if not s:
        return False
    if _MD_HEADING.match(s):
        return True
    standalone = previous is None or not previous.strip()
    words = s.split()
    return (
        standalone
        and len(words) <= MAX_HEADER_WORDS
        and len(s) <= MAX_HEADER_CHARS
        and not _SENTENCE_END.search(s)
        and (s[0].isupper() or s[0].isdigit())
    )


def header_problem(header: str | None) -> str | None:
    """Why a segment's header does not pass the filter (None: it passes)."""
    if header is None:
        return "no_header"
    title = header.lstrip("#").strip()
    letters = [c for c in title if c.isalpha()]
    if len(letters) < 3:
        return "header_without_words"
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        return "header_all_caps"
    if title.lower().startswith(_FURNITURE):
        return "header_is_page_furniture"
    return None


def segments(text: str) -> Iterator[tuple[str | None, str]]:
    """(header or None, segment text) in document order. Text before the first header is a segment
    without header; a header with nothing under it (a line of page navigation, say) is dropped."""
    header: str | None = None
    body: list[str] = []
    previous: str | None = None
    for line in text.split("\n"):
        if is_header_line(line, previous):
            if any(b.strip() for b in body[1 if header else 0 :]):
                yield header, "\n".join(body).strip()
            header, body = line.strip(), [line]
        else:
            body.append(line)
        previous = line
    if any(b.strip() for b in body[1 if header else 0 :]):
        yield header, "\n".join(body).strip()
