"""Real human-written text that every machine has: the docstrings of the Python standard library.

Read with `ast` from the installed stdlib's source files (nothing is imported or executed), in a
fixed order, so the same Python installation always yields the same texts. Used to train the tiny
model's tokenizer and, later, as the demo's unlabelled corpus.
"""

from __future__ import annotations

import ast
import sysconfig
from collections.abc import Iterator
from pathlib import Path

_SKIP_DIRS = {
    "test",
    "tests",
    "idlelib",
    "site-packages",
    "dist-packages",
    "lib2to3",
    "turtledemo",
    "__pycache__",
    "ensurepip",
    "pydoc_data",
    "tkinter",
    "unittest",
}


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def iter_stdlib_docstrings(min_chars: int = 1) -> Iterator[tuple[str, str]]:
    """Yield (qualified name, docstring) for modules, classes and functions of the stdlib."""
    root = stdlib_dir()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in _SKIP_DIRS for part in rel.parts):
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        yield from _walk(tree, module, min_chars)


def _walk(node: ast.AST, qualname: str, min_chars: int) -> Iterator[tuple[str, str]]:
    doc = (
        ast.get_docstring(node, clean=True)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        else None
    )
    if doc and len(doc) >= min_chars:
        yield qualname, doc
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _walk(child, f"{qualname}.{child.name}", min_chars)
