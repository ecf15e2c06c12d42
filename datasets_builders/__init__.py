"""Dataset builders: Humpback, instruction back-and-forth translation, distillation, and baselines.

Each builder is a module with `VERSION`, `PROMPTS` (names of templates in `harness/prompts/`), an
`Options` frozen dataclass (its `datasets.<name>.options` in the experiment file) and
`build(ctx: BuildContext) -> list[InstructionRecord]`. `harness/stages/build.py` constructs the
`BuildContext` and writes the dataset, drops and manifest. `harness.stages.builders` dispatches on
a builder's name (options, fingerprint parts, dependencies) over these and the `baselines` package
(public datasets loaded as published), which it registers as the `baseline` builder.

Builders import `harness.core`, `harness.backends` and the shared steps here; never each other,
never `harness.training` (the stage passes a train callable in) and never `harness.stages`.
"""

from __future__ import annotations

# builder name -> module holding VERSION, PROMPTS, Options and build(): the one place a builder of
# this package is registered. `harness.stages.builders.BUILDERS` adds the `baseline` entry (the
# `baselines` package): this package never names that one.
BUILDERS: dict[str, str] = {
    "back_and_forth": "datasets_builders.back_and_forth",
    "humpback": "datasets_builders.humpback",
    "distillation": "datasets_builders.distillation",
    "fixed_responder": "datasets_builders.fixed_responder",
    "control": "datasets_builders.control",  # datasets of known quality (the positive control)
}
