"""Dataset builders: Humpback, instruction back-and-forth translation, distillation, and baselines.

Each builder is a module with `VERSION`, `PROMPTS` (names of templates in `harness/prompts/`), an
`Options` frozen dataclass (its `datasets.<name>.options` in the experiment file) and
`build(ctx: BuildContext) -> list[InstructionRecord]`. `harness/stages/build.py` constructs the
`BuildContext` and writes the dataset, drops and manifest. The `baseline` entry delegates to the
`baselines` package (public datasets loaded as published).

Builders import `harness.core`, `harness.backends` and the shared steps here; never each other,
never `harness.training` (the stage passes a train callable in) and never `harness.stages`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.core.config import from_dict
from harness.core.registry import lookup

# builder name -> module holding VERSION, PROMPTS, Options and build(): the one place a builder is
# registered (the experiment schema validates against it)
BUILDERS: dict[str, str] = {
    "back_and_forth": "datasets_builders.back_and_forth",
    "humpback": "datasets_builders.humpback",
    "distillation": "datasets_builders.distillation",
    "baseline": "baselines",
}


def builder_module(builder: str) -> Any:
    return lookup(BUILDERS, builder, what="builder")


def parse_options(builder: str, options: Mapping[str, Any] | None, *, where: str = "options") -> Any:
    """The builder's Options dataclass from the experiment's mapping; unknown keys get a did-you-mean."""
    module = builder_module(builder)
    return from_dict(module.Options, dict(options or {}), source=where)


def builder_fingerprint_parts(builder: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """What of a builder enters its dataset's fingerprint: version, validated options, prompt hashes."""
    from datasets_builders.prompts import prompt_hashes

    module = builder_module(builder)
    opts = parse_options(builder, options, where=f"datasets.<{builder}>.options")
    if hasattr(module, "validate"):  # checks beyond the options' types (a baseline's loader name)
        module.validate(opts)
    return {"version": module.VERSION, "options": dataclasses.asdict(opts),
            "prompts": prompt_hashes(getattr(module, "PROMPTS", ()))}
