"""Stages of an experiment, one readable function each: base model, build, train, evaluate, analyze, report.

Each stage module exposes `run(exp, runs_dir=None, *, only=None, force=False)` and writes into the
directories named in `harness.stages.paths`, with a manifest written last (`harness.core.runs`).
"""
