"""Registries: one per kind of pluggable thing (backends, builders, baseline loaders, judges).

A registry is a plain dict `name -> "module:attr"`, so validation can list and check names without
importing anything heavy, and `lookup` imports the one that is used. Unknown names get a
did-you-mean naming the registry's kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from harness.core.config import did_you_mean
from harness.core.errors import ConfigError


def check(registry: Mapping[str, str], name: str, *, what: str, key: str | None = None) -> None:
    """Raise a ConfigError with a did-you-mean when `name` is not registered."""
    if name not in registry:
        where = f"'{key}' is {name!r}: " if key else ""
        raise ConfigError(
            f"{where}unknown {what} {name!r}",
            fix=did_you_mean(name, list(registry), otherwise=f"{what}s: {', '.join(registry)}"),
        )


def lookup(registry: Mapping[str, str], name: str, *, what: str, key: str | None = None) -> Any:
    """The registered object (a module when the entry has no `:attr`), imported now."""
    check(registry, name, what=what, key=key)
    module, _, attr = registry[name].partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj
