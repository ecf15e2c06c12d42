"""Stages of an experiment, one module each: base model, build, train, evaluate, analyze, report.

Each stage module gives the stage graph (`harness.stages.graph`) its tasks (`tasks(run)`), runs one
(`execute(run, task, ...)`) and says what it did (`summary(outcome)`); the commands that run one
stage on its own call its `run(exp, runs_dir=None, *, only=None, force=False)`. A stage writes into
its directory (`harness.stages.paths`), cached by its fingerprint (`harness.stages.fingerprints`),
with a manifest written last (`harness.core.runs`). `harness.stages.context.Run` is what a task is
given: the experiment and the runs root.
"""
