"""Stage runs: manifest written last, skip when done, --force, failures keep finished work."""

from __future__ import annotations

import pytest

from harness.core.fingerprint import fingerprint
from harness.core.io import read_json, write_text
from harness.core.runs import StageResult, is_done, read_manifest, run_stage


def test_fingerprint_covers_config_upstream_prompts_and_version():
    base = dict(version=1, config={"a": 1}, upstream={"x": "f1"}, prompts={"p": "text"})
    fp = fingerprint("s", **base)
    assert fp == fingerprint("s", **base)
    assert fp != fingerprint("s", **{**base, "config": {"a": 2}})
    assert fp != fingerprint("s", **{**base, "upstream": {"x": "f2"}})
    assert fp != fingerprint("s", **{**base, "prompts": {"p": "text2"}})
    assert fp != fingerprint("s", **{**base, "version": 2})


def test_skip_if_done_and_force(tmp_path):
    calls = []

    def body(d):
        calls.append(1)
        write_text(d / "out.jsonl", '{"a": 1}\n{"a": 2}\n')
        return StageResult(outputs=["out.jsonl"], stats={"kept": 2})

    first = run_stage(tmp_path / "s", stage="toy", fingerprint="fp1", body=body, config={"k": 1})
    assert not first.skipped and is_done(tmp_path / "s", "fp1")
    m = read_manifest(tmp_path / "s")
    assert m.ok and m.records("out.jsonl") == 2 and m.stats == {"kept": 2}
    assert "torch" in m.packages and "commit" in m.git and m.wall_time_s >= 0
    assert run_stage(tmp_path / "s", stage="toy", fingerprint="fp1", body=body).skipped
    assert not run_stage(tmp_path / "s", stage="toy", fingerprint="fp2", body=body).skipped
    assert not run_stage(tmp_path / "s", stage="toy", fingerprint="fp2", body=body, force=True).skipped
    assert len(calls) == 3


def test_failure_writes_failed_manifest_and_keeps_files(tmp_path):
    def body(d):
        write_text(d / "partial.txt", "finished part")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        run_stage(tmp_path / "s", stage="train", fingerprint="fp", body=body)
    m = read_json(tmp_path / "s" / "manifest.json")
    assert m["status"] == "failed" and "boom" in m["error"]
    assert (tmp_path / "s" / "partial.txt").read_text() == "finished part"
    assert not is_done(tmp_path / "s", "fp")


def test_manifests_are_typed_and_round_trip_through_json(tmp_path):
    from harness.core.manifest import BuildStats, Manifest, TrainStats

    def body(d):
        write_text(d / "dataset.jsonl", '{"a": 1}\n')
        return StageResult(
            outputs=["dataset.jsonl"],
            stats={"records": 1, "steps": {"s": {"seen": 2, "kept": 1}}, "new_figure": 3},
        )

    out = run_stage(tmp_path / "b", stage="build", fingerprint="fp", body=body, upstream={"x": "y"})
    m = read_manifest(tmp_path / "b")
    assert isinstance(m.stats, BuildStats) and m.stats.records == 1 and m.records("dataset.jsonl") == 1
    assert m.stats.extra == {"new_figure": 3}  # a figure without a field yet is kept, not lost
    assert m == out.manifest and Manifest.from_dict(read_json(tmp_path / "b" / "manifest.json")) == m
    assert read_json(tmp_path / "b" / "manifest.json")["stats"]["new_figure"] == 3
    assert Manifest.from_dict(m.to_dict()) == m
    train = Manifest.from_dict(
        {
            "stage": "train",
            "fingerprint": "f",
            "status": "ok",
            "stats": {"tokens_seen": 10, "dropped_too_long": 2, "truncated": 1},
        }
    )
    assert isinstance(train.stats, TrainStats) and train.stats.tokens_seen == 10 and train.stats.dropped == 2
