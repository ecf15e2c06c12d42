"""The code stays readable: no function over a screen outside the tests (ruff's C901 and PLR0913 in
pyproject.toml keep complexity and argument lists in check; `make lint` runs them).

A function's size is the number of source lines on which one of its statements starts, not its
physical lines: `ruff format` puts each argument of a long call on a line of its own, which makes a
function longer on screen but not one statement bigger. 45 statement lines is about the 60 physical
lines this rule allowed before the code was formatted."""

from __future__ import annotations

import ast

from _support import PROJECT_ROOT

MAX_STATEMENT_LINES = 45


def statement_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return len({s.lineno for s in ast.walk(node) if isinstance(s, ast.stmt) and s is not node})


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for package in ("harness", "datasets_builders", "baselines"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = statement_lines(node)
                    if n > MAX_STATEMENT_LINES:
                        long.append(
                            f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name} ({n} statement lines)"
                        )
    assert not long, "split these functions:\n" + "\n".join(long)


def test_the_measure_sees_statements_not_wrapping() -> None:
    """One call wrapped over many lines is one statement line; two statements are two."""
    wrapped = ast.parse("def f():\n    g(\n        1,\n        2,\n    )\n").body[0]
    two = ast.parse("def f():\n    a = 1\n    b = 2\n").body[0]
    assert statement_lines(wrapped) == 1 and statement_lines(two) == 2
