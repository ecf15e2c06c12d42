"""Strict config loading: YAML into frozen dataclasses, with dotted `key=value` overrides.

Unknown keys and duplicate keys are errors that name the file, the line and the closest valid key.
There are no includes and no code in YAML: what the file says is what runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.core.errors import ConfigError
from harness.core.yaml_files import (  # noqa: F401 (the files' side, part of this module's interface)
    apply_overrides,
    load_yaml,
    parse_override,
    read_utf8,
    read_with_overrides,
)

T = TypeVar("T")


# ---------------------------------------------------------------- dataclass conversion
def did_you_mean(
    word: str,
    options: Iterable[str],
    *,
    otherwise: str | None = None,
    cutoff: float = 0.6,
    prefix: str = "",
    suffix: str = "",
) -> str:
    """The fix for an unknown name: the closest option, else `otherwise` (default: every option).
    `prefix` (a section's dotted path, `eval.`) and `suffix` (the rest of a dotted override, `.n`) go
    around what is suggested, so the hint is a key that can be typed as it is (`eval.judge`, not
    `judge`; `seed_data.n` for `seed_dta.n`)."""
    options = list(options)
    close = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    if close:
        return f"did you mean '{prefix}{close[0]}{suffix}'?"
    return (
        otherwise
        if otherwise is not None
        else f"valid keys: {', '.join(prefix + o for o in sorted(options))}"
    )


def find_named_file(
    name_or_path: str,
    directory: Path,
    *,
    what: str,
    key: str | None = None,
    suffixes: Sequence[str] = (".yaml", ".yml"),
) -> Path:
    """A shipped `<directory>/<name>.yaml` when a bare name is given (a file or folder of that name in
    the current directory does not hide it), else a file path (by its suffix or a directory part).
    Experiments, recipes and accelerate configs are all named this way."""
    p = Path(name_or_path)
    bare = p.suffix not in suffixes and len(p.parts) == 1
    shipped = directory / f"{name_or_path}.yaml"
    if bare and shipped.is_file():
        return shipped
    if not bare or p.exists():
        if not p.is_file():
            raise ConfigError(
                f"{what} file not found: {p}", fix=f"pass an existing file or a shipped {what} name"
            )
        return p
    names = sorted(q.stem for q in directory.glob("*.yaml"))
    where = f" (key '{key}')" if key else ""
    raise ConfigError(
        f"no {what} '{name_or_path}'{where}",
        fix=did_you_mean(name_or_path, names, otherwise=f"shipped: {', '.join(names) or 'none'}"),
    )


def bounded(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str | None = None,
) -> Any:
    """A dataclass field whose value must lie in a range; `from_dict` checks it when the config loads,
    naming the key, the value and the range (None, for optional fields, always passes)."""
    return dataclasses.field(
        default=default, metadata={"range": (low, high, low_open, high_open), "fix": fix}
    )


def temperature_field(default: float) -> Any:
    """A sampling temperature (the eval's decoding, each builder's steps): >= 0, 0 is greedy."""
    return bounded(default, low=0, fix="a sampling temperature >= 0 (0 is greedy)")


def top_p_field(default: float) -> Any:
    """A nucleus-sampling top-p: in (0, 1]."""
    return bounded(default, low=0, high=1, low_open=True, fix="top_p in (0, 1]")


def range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def check_range(value: Any, key: str, bounds: tuple, *, where: str = "", fix: str | None = None) -> None:
    """Raise a ConfigError when a number lies outside `bounds` (low, high, low_open, high_open)."""
    low, high, low_open, high_open = bounds
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    ok = math.isfinite(value)  # NaN and infinity are never in range (temperature=inf samples noise)
    if low is not None:
        ok = ok and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if not ok:
        finite = "" if math.isfinite(value) else "a finite number "
        raise ConfigError(
            f"{where}'{key}' is {value!r}; it must be {finite}{range_text(*bounds)}",
            fix=fix or f"set {key} to a value {range_text(*bounds)}",
        )


def _leaf_path(value: Any) -> str:
    """`.a.b` when `value` is {a: {b: leaf}} (one key at each level, as a dotted override makes it), else ""."""
    parts = []
    while isinstance(value, Mapping) and len(value) == 1:
        ((key, value),) = value.items()
        parts.append(str(key))
    return "".join(f".{p}" for p in parts) if parts and not isinstance(value, Mapping) else ""


def _where(source: str | None, lines: Mapping[str, int] | None, key: str) -> str:
    if source and lines and key in lines:
        return f"{source}:{lines[key]}: "
    return f"{source}: " if source else ""


def from_dict(
    cls: type[T],
    data: Any,
    *,
    source: str | None = None,
    lines: Mapping[str, int] | None = None,
    prefix: str = "",
) -> T:
    """Build a (nested) frozen dataclass from plain data, strictly: unknown keys, missing required
    keys and wrong types are ConfigErrors naming the dotted key, the file and the line."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{_where(source, lines, prefix.rstrip('.'))}'{prefix.rstrip('.') or '<top>'}' must be a mapping"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            dotted = f"{prefix}{key}"
            raise ConfigError(
                f"{_where(source, lines, dotted)}unknown key '{dotted}'",
                fix=did_you_mean(
                    str(key),
                    fields,
                    cutoff=0.5,
                    prefix=prefix,
                    # an override's rest (a key from the file has its line)
                    suffix="" if lines and dotted in lines else _leaf_path(data[key]),
                ),
            )
    kwargs = {}
    for name, f in fields.items():
        dotted = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], dotted, source, lines)
            if "range" in f.metadata:
                check_range(
                    kwargs[name],
                    dotted,
                    f.metadata["range"],
                    where=_where(source, lines, dotted),
                    fix=f.metadata.get("fix"),
                )
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_where(source, lines, prefix.rstrip('.'))}missing required key '{dotted}'")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str, source: str | None, lines: Mapping[str, int] | None) -> Any:
    """`value` as type `tp` (the field's annotation), or a ConfigError naming the key and the type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = ConfigError(
        f"{_where(source, lines, key)}'{key}' must be {_type_name(tp)}, got {value!r}",
        fix=_quote_hint(tp, args, value, key),
    )
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, key, source, lines)
            except ConfigError:
                continue
        raise bad
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{_where(source, lines, key)}'{key}' is {value!r}; use one of {', '.join(map(repr, args))}"
        )
    if value is None and (dataclasses.is_dataclass(tp) or origin in (dict, Mapping) or tp is dict):
        raise null_section(key, source, lines)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, source=source, lines=lines, prefix=key + ".")
    if origin in (tuple, list, Sequence, dict, Mapping) or tp in (tuple, list, dict):
        return _container(tp, value, key, source, lines, bad)
    out = _scalar(tp, value)
    if out is _NOT_CONVERTED:
        raise bad
    return out


def null_section(key: str, source: str | None, lines: Mapping[str, int] | None) -> ConfigError:
    """A section (a mapping of keys) set to null, by an override `train=null` or an empty `train:` in the
    file: refused, since taking it as "all defaults" would silently drop every key the file set."""
    return ConfigError(
        f"{_where(source, lines, key)}'{key}' is null, but it is a section of keys: null would "
        "reset all of it to the defaults",
        fix=f"set the keys you mean one by one ({key}.<key>=value) instead",
    )


def _quote_hint(tp: Any, args: tuple[Any, ...], value: Any, key: str) -> str | None:
    """A text field given what YAML reads as another type (`no`, `on`, `1e3`, `null`): say to quote it."""
    if typing.get_origin(tp) in (dict, Mapping, list, tuple, Sequence):
        return None
    if (tp is str or str in args) and (value is None or isinstance(value, (bool, int, float))):
        return (
            f"YAML reads unquoted yes/no/on/off, numbers and null as other types; quote it to mean the text, "
            f'e.g. {key}=\'"..."\' on the command line or {key.rsplit(".", 1)[-1]}: "..." in the file'
        )
    return None


def _container(
    tp: Any, value: Any, key: str, source: str | None, lines: Mapping[str, int] | None, bad: ConfigError
) -> Any:
    """A sequence field as a tuple, a mapping field as a read-only mapping, items converted."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise bad
        vt = args[1] if len(args) == 2 else Any
        return types.MappingProxyType(
            {str(k): _convert(vt, v, f"{key}.{k}", source, lines) for k, v in value.items()}
        )
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise bad
    item_tp = args[0] if args else Any
    return tuple(_convert(item_tp, v, f"{key}[{i}]", source, lines) for i, v in enumerate(value))


_NOT_CONVERTED = object()


def _scalar(tp: Any, value: Any) -> Any:
    """A bool, int, float, str or Path field's value, or `_NOT_CONVERTED`; other types pass as they are."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is bool:
        return value if isinstance(value, bool) else _NOT_CONVERTED
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NOT_CONVERTED
    if tp is float:
        if number:
            return float(value)
        try:
            return (
                float(value) if isinstance(value, str) else _NOT_CONVERTED
            )  # YAML 1.1 reads "1e-5" as a string
        except ValueError:
            return _NOT_CONVERTED
    if tp is str:
        return value if isinstance(value, str) else (str(value) if number else _NOT_CONVERTED)
    if tp is Path:
        return Path(value) if isinstance(value, str) else _NOT_CONVERTED
    return value


def _type_name(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def to_dict(obj: Any) -> Any:
    """A frozen config back to plain data (for manifests and fingerprints)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_config(cls: type[T], path: str | Path, overrides: Sequence[str] = ()) -> T:
    """Load `path` into `cls`, applying dotted overrides first; all errors are ConfigErrors."""
    data, lines = read_with_overrides(path, overrides)
    return from_dict(cls, data, source=str(path), lines=lines)
