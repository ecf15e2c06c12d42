"""Every builder by name: this package's builders and the `baselines` package as the `baseline`
builder, and what the stages and the experiment's validation ask of a builder through its name (its
validated options, what enters its fingerprint, the datasets it reads). The registry lives here, above
both packages, because neither `datasets_builders` nor `baselines` may name the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import datasets_builders
from datasets_builders.common import OMIT_AT_DEFAULT, prompts_used
from datasets_builders.prompts import prompt_hashes
from harness.core.config import did_you_mean, from_dict
from harness.core.errors import ConfigError
from harness.core.registry import lookup

# builder name -> module holding VERSION, PROMPTS, Options and build() (the experiment schema
# validates against it)
BUILDERS: dict[str, str] = {**datasets_builders.BUILDERS, "baseline": "baselines"}


def builder_module(builder: str) -> Any:
    return lookup(BUILDERS, builder, what="builder")


def parse_options(
    builder: str, options: Mapping[str, Any] | None, *, source: str | None = None, prefix: str = "options."
) -> Any:
    """The builder's validated Options from the experiment's mapping: types and ranges (unknown keys
    get a did-you-mean, named `<prefix><key>`), then the builder's own checks (a baseline's loader)."""
    module = builder_module(builder)
    opts = from_dict(module.Options, dict(options or {}), source=source, prefix=prefix)
    if hasattr(module, "validate"):
        try:
            module.validate(opts)
        except ConfigError as e:
            where = f"{source}: " if source else ""
            raise ConfigError(f"{where}'{prefix.rstrip('.')}': {e.message}", fix=e.fix) from None
    return opts


def dependencies(builder: str, options: Mapping[str, Any] | None) -> list[str]:
    """The other datasets of the experiment a builder reads (its module's `depends_on`), none for most."""
    module = builder_module(builder)
    if not hasattr(module, "depends_on"):
        return []
    return list(module.depends_on(parse_options(builder, options)))


def builder_fingerprint_parts(
    builder: str, options: Mapping[str, Any] | None, prompts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What of a builder enters its dataset's fingerprint: version, validated options, the hashes
    of the prompt templates it uses (`prompts`: the experiment's replacements, name -> path)."""
    module = builder_module(builder)
    opts = parse_options(builder, options, prefix=f"datasets.<{builder}>.options.")
    options = dataclasses.asdict(opts)
    for f in dataclasses.fields(opts):  # options added later stay out at their default (common.late_option)
        if f.metadata.get(OMIT_AT_DEFAULT) and options[f.name] == f.default:
            del options[f.name]
    parts = {
        "version": module.VERSION,
        "options": options,
        "prompts": prompt_hashes(prompts_used(getattr(module, "PROMPTS", ()), opts), prompts),
    }
    extra = getattr(module, "fingerprint_extra", None)
    if extra is not None and (more := extra(opts)):  # e.g. a baseline's pinned hub source
        parts["source"] = more
    return parts


MODEL_OPTIONS = (
    "backward_model",
    "judge",
    "rewriter",
    "teacher",
    "responder",
)  # builder options that name a model


def validate_options(
    name: str, builder: str, options: Mapping[str, Any] | None, source: str, check_model
) -> None:
    """A dataset's builder options, when the experiment loads: types, ranges, a baseline's loader, and
    each model they name through `check_model(key, value)` (the experiment's model-reference rule)."""
    opts = parse_options(builder, options, source=source, prefix=f"datasets.{name}.options.")
    for key in MODEL_OPTIONS:
        value = getattr(opts, key, None)
        if not isinstance(value, str):
            continue
        ref, _, base = value.partition(":")
        if value.startswith("@") and base:  # @seed_model:<spec> / @backward:<spec>: trained from another base
            if ref not in ("@seed_model", "@backward"):
                raise ConfigError(
                    f"{source}: 'datasets.{name}.options.{key}' is {value!r}",
                    fix="only @seed_model:<spec> and @backward:<spec> take a base model",
                )
            check_model(f"datasets.{name}.options.{key}", base)
        elif not value.startswith("@"):
            check_model(f"datasets.{name}.options.{key}", value)


def check_dependencies(datasets: Mapping[str, Any], source: str) -> None:
    """A dataset built from another (fixed_responder's instructions_from) names a different dataset of
    the experiment (`datasets`: name -> spec with .builder and .options), and the chain has no cycle."""
    deps = {n: dependencies(ds.builder, ds.options) for n, ds in datasets.items()}
    for name, names in deps.items():
        for dep in names:
            if dep not in datasets or dep == name:
                others = [n for n in datasets if n != name]
                raise ConfigError(
                    f"{source}: 'datasets.{name}' reads dataset {dep!r}, "
                    f"{'itself' if dep == name else 'not a dataset of this experiment'}",
                    fix=did_you_mean(dep, others, otherwise=f"use one of {', '.join(others)}"),
                )
    for name in deps:
        seen, todo = set(), list(deps[name])
        while todo:
            dep = todo.pop()
            if dep == name:
                raise ConfigError(
                    f"{source}: 'datasets.{name}' depends on itself through {sorted(seen)}",
                    fix="break the cycle of instructions_from",
                )
            if dep not in seen:
                seen.add(dep)
                todo += deps[dep]
