"""The code stays readable: no function over 60 lines outside the tests (ruff's C901 and PLR0913 in
pyproject.toml keep complexity and argument lists in check; `make lint` runs them)."""

from __future__ import annotations

import ast

from _support import PROJECT_ROOT

MAX_LINES = 60


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for package in ("harness", "datasets_builders", "baselines"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_LINES:
                        long.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split these functions:\n" + "\n".join(long)
