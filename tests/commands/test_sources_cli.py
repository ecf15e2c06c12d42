"""`harness sources`: every public source of a paper config with its pin and where it is read from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HUB = Path(__file__).resolve().parents[1] / "fixtures" / "hub"


def _harness(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_sources_lists_each_source_with_its_pin_and_copy():
    # the replica's 5 eval instructions are read at load, too few for the analysis: turned off here
    r = _harness(
        "sources", "--config", "paper-7b", "analysis.enabled=false", "--json", HARNESS_HUB_MIRROR=str(HUB)
    )
    assert r.returncode == 0, r.stderr
    rows = {row["key"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {
        "seed_data.source",
        "corpus.source",
        "eval.eval_set",
        "datasets.sharegpt",
        "datasets.openorca",
        "datasets.evol_instruct",
        "datasets.alpaca_gpt4",
        "datasets.self_instruct",
    }
    seed = rows["seed_data.source"]
    assert seed["pinned"] and seed["revision"] == "fdf72ae0827c1cda404aff25b6603abec9e3399b"
    assert seed["read_from"].endswith("(commit fdf72ae0827c)")
    assert (
        rows["datasets.self_instruct"]["source"] == "github:yizhongw/self-instruct"
        and rows["datasets.self_instruct"]["pinned"]
    )
    assert (
        rows["datasets.openorca"]["files"] == ["1M-GPT4-Augmented.parquet"]
        and not rows["datasets.openorca"]["pinned"]
    )
    assert rows["corpus.source"]["files"] == ["urls/v1.txt (URLs matching *cc_en_head*)"]


def test_resolve_without_the_hub_says_so_per_source_and_fails():
    r = _harness("sources", "--config", "paper-humpback", "--resolve", HF_HUB_OFFLINE="1")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert sum("cannot resolve (OfflineModeIsEnabled" in line for line in lines) == 3, r.stdout
    assert "2 source(s) not pinned: corpus.source, eval.eval_set" in r.stdout
