"""Prints the code-shape figures issue 24 asks for: largest product file, functions over 40 lines,
functions over 7 arguments, `runs_dir` parameters, function-level imports of our own modules
(the layering violations are `tests/test_layering.py`'s KNOWN list)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN = ("harness", "datasets_builders", "baselines")


def figures() -> dict[str, object]:
    largest, long_funcs, many_args, runs_dir, local_imports = ("", 0), 0, 0, 0, 0
    for package in OWN:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            n = text.count("\n")
            if n > largest[1]:
                largest = (str(path.relative_to(ROOT)), n)
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                long_funcs += node.end_lineno - node.lineno + 1 > 40
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
                many_args += len(names) > 7
                runs_dir += "runs_dir" in names
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.ImportFrom)
                        and inner.module
                        and inner.module.split(".")[0] in OWN
                    ):
                        local_imports += 1
                    elif isinstance(inner, ast.Import):
                        local_imports += sum(al.name.split(".")[0] in OWN for al in inner.names)
    return {
        "largest file": f"{largest[0]} ({largest[1]} lines)",
        "functions over 40 lines": long_funcs,
        "functions over 7 arguments": many_args,
        "runs_dir parameters": runs_dir,
        "function-level imports of our own modules": local_imports,
    }


if __name__ == "__main__":
    for k, v in figures().items():
        print(f"{k}: {v}")
