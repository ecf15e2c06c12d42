"""YAML files as the config reads them: duplicate keys and aliases refused, each key's line kept for
error messages, and dotted `key=value` overrides applied on top (`harness.core.config` turns the
data into frozen dataclasses)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError


# ---------------------------------------------------------------- YAML with duplicate-key detection
def _yaml_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{loader.name}:{line}: duplicate key '{key}' (first at line {seen[key]})",
                    fix="keep one of them",
                )
            seen[key] = line
        return loader.construct_mapping(node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return StrictLoader


def _key_lines(path: Path, text: str) -> dict[str, int]:
    """Map dotted key paths to their line numbers, for error messages."""
    import yaml

    lines: dict[str, int] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{prefix}{k.value}"
                lines.setdefault(key, k.start_mark.line + 1)
                walk(v, key + ".")
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, f"{prefix[:-1]}[{i}].")

    walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    return lines


def read_utf8(path: Path) -> str:
    """A text file's content; bytes that are not UTF-8 are an error naming the line."""
    try:
        data = path.read_bytes()
    except OSError as e:  # unreadable (permissions), a directory, an I/O error
        raise ConfigError(
            f"{path} cannot be read ({e.strerror or e})",
            fix="check the file's permissions, or pass a readable copy",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})",
            fix="save the file as UTF-8",
        ) from None


def _refuse_aliases(text: str, path: Path) -> None:
    """YAML aliases (`*name`) are refused: an experiment needs none, and nested ones expand
    exponentially (a few lines can hang the loader: the "billion laughs")."""
    import yaml

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"{path}:{event.start_mark.line + 1}: YAML alias '*{event.anchor}' is not allowed "
                "in an experiment file",
                fix="write the value out where it is used",
            )


def load_yaml(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Read a YAML mapping; returns (data, dotted-key -> line)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file not found: {path}", fix="pass an existing YAML path or a shipped name"
        )
    text = read_utf8(path)
    try:
        _refuse_aliases(text, path)
        loader = _yaml_loader()(text)
        loader.name = str(path)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data, _key_lines(path, text)


# ---------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[str, Any]:
    """`a.b.c=value` -> ("a.b.c", value), the value parsed as a YAML scalar or flow collection."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value", fix="for example train.lr=2e-5")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (copying it). Unknown keys are caught later by `from_dict`."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        key, value = parse_override(text)
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override '{text}': '{'.'.join(parts[: i + 1])}' is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def read_with_overrides(
    path: str | Path, overrides: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, int]]:
    """A YAML file's data with dotted `key=value` overrides applied, and the line of each key the file
    still decides (an overridden key's error names the override, not the file's line)."""
    data, lines = load_yaml(path)
    data = apply_overrides(data, overrides)
    override_keys = {parse_override(o)[0] for o in overrides}
    return data, {k: v for k, v in lines.items() if k not in override_keys}
