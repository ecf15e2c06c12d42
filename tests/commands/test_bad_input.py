"""Bad input, probe by probe: each is the real CLI in a subprocess, with the exit code and the one line
it must print (the key or file, the value, the fix). Nothing may be written before the error.

The table is the contract of the README's "Bad input" section: add a row for every new check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import run_harness

# (probe, argv after `harness`, expected exit code, fragments the error must contain)
CONFIG_PROBES: list[tuple[str, list[str], int, list[str]]] = [
    ("threshold above the 1-5 scale", ["datasets.humpback.options.threshold=9.5"], 2,
     ["datasets.humpback.options.threshold", "9.5", "[1, 5]"]),
    ("threshold below the 1-5 scale", ["datasets.back_and_forth.options.threshold=-3"], 2,
     ["datasets.back_and_forth.options.threshold", "-3", "[1, 5]"]),
    ("negative iterations", ["datasets.humpback.options.iterations=-2"], 2,
     ["datasets.humpback.options.iterations", "-2", ">= 1"]),
    ("near-duplicate threshold above 1", ["corpus.near_dup_threshold=1.5"], 2, ["corpus.near_dup_threshold", "[0, 1]"]),
    ("negative eval temperature", ["eval.decoding.temperature=-1"], 2, ["eval.decoding.temperature", ">= 0"]),
    ("top_p above 1", ["eval.decoding.top_p=1.5"], 2, ["eval.decoding.top_p", "(0, 1]"]),
    ("zero eval instances", ["eval.max_instances=0"], 2, ["eval.max_instances", ">= 1"]),
    ("zero max tokens", ["decoding.max_tokens=0"], 2, ["decoding.max_tokens", ">= 1"]),
    ("min_chars above max_chars", ["corpus.min_chars=5000"], 2, ["corpus.min_chars", "corpus.max_chars"]),
    ("missing base model directory", ["base_model=hf:/missing/path"], 2, ["base_model", "does not exist"]),
    ("missing builder model directory", ["datasets.humpback.options.backward_model=hf:/missing/m"], 2,
     ["datasets.humpback.options.backward_model", "does not exist"]),
    ("unknown baseline loader", ["datasets.sharegpt.options.loader=sharegtp"], 2,
     ["datasets.sharegpt.options", "did you mean 'sharegpt'"]),
    ("baseline without a loader", ["datasets.x.builder=baseline"], 2, ["datasets.x.options.loader", "missing"]),
    ("data-generation temperature is a builder option", ["decoding.temperature=0.5"], 2,
     ["decoding.temperature", "unknown key"]),
]


@pytest.mark.parametrize("probe,overrides,code,fragments", CONFIG_PROBES, ids=[p[0] for p in CONFIG_PROBES])
@pytest.mark.parametrize("command", ["config", "run --dry-run"])
def test_config_values_are_checked_when_the_experiment_loads(tmp_path: Path, command: str, probe: str,
                                                            overrides: list[str], code: int,
                                                            fragments: list[str]) -> None:
    runs = tmp_path / "runs"
    proc = run_harness(*command.split(), "--config", "demo", *overrides, env={"HARNESS_RUNS_DIR": str(runs)})
    assert proc.returncode == code, (probe, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (probe, err)
    assert not runs.exists(), f"{probe}: something was written before the error"
