"""The layering of ../shared/DESIGN.md section 2, kept by an AST scan of every import.

`harness/core` imports nothing of ours outside itself; `backends` and `training` import only core;
`evaluation` imports core and backends; `datasets_builders` and `baselines` import core and
backends and never each other. Stages, report, commands and the CLI wire everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# package prefix -> the prefixes of ours it may import (besides itself)
ALLOWED = {
    "harness.core": (),
    "harness.backends": ("harness.core",),
    "harness.training": ("harness.core",),
    "harness.evaluation": ("harness.core", "harness.backends"),
    "datasets_builders": ("harness.core", "harness.backends"),
    "baselines": ("harness.core", "harness.backends"),
}
OURS = ("harness", "datasets_builders", "baselines")

# Known violations (importer module, imported module). The test fails on any violation not listed
# here, and on any listed one that no longer exists, so the list can only shrink. A registry
# string naming another top-level package of ours (what `importlib` will import) counts as an import.
KNOWN: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _names_a_module(node.value):
            found.add(node.value)  # a registry entry such as {"humpback": "datasets_builders.humpback"}
    return {name for name in found if name.split(".")[0] in OURS}


def _names_a_module(text: str) -> bool:
    """A string that is a dotted module name of ours ("baselines", "datasets_builders.humpback")."""
    parts = text.split(".")
    if (
        text == "harness"
    ):  # also a word the code uses ("chat_template: harness"); the package is never imported bare
        return False
    return parts[0] in OURS and all(part.isidentifier() for part in parts)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations() -> set[tuple[str, str]]:
    bad = set()
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            layer = next((p for p in ALLOWED if _within(module, p)), None)
            if layer is None:
                continue
            for target in _imports(path, module):
                if _within(target, layer) or any(_within(target, ok) for ok in ALLOWED[layer]):
                    continue
                bad.add((module, target))
    return bad


def test_scan_resolves_relative_and_lazy_imports(tmp_path):
    """Relative imports and imports inside functions are seen, under their absolute names."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from ..stages import paths\n    import baselines.sharegpt\nimport os\n")
    found = _imports(path, "harness.core.mod")
    assert found == {"harness.stages", "baselines.sharegpt"}


def test_scan_sees_registry_strings(tmp_path):
    """A module named by string, as a registry names what `importlib` will load, is an import."""
    path = tmp_path / "mod.py"
    path.write_text('BUILDERS = {"a": "datasets_builders.a", "b": "baselines"}\nTEMPLATE = "harness"\n')
    assert _imports(path, "datasets_builders.mod") == {"datasets_builders.a", "baselines"}


def test_layering_holds():
    found = violations()
    new = sorted(found - KNOWN)
    assert not new, "imports breaking DESIGN.md's layering: " + "; ".join(f"{a} -> {b}" for a, b in new)
    fixed = sorted(KNOWN - found)
    assert not fixed, "fixed, remove from KNOWN: " + "; ".join(f"{a} -> {b}" for a, b in fixed)
