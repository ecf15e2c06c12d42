"""Strict config loading: unknown and duplicate keys, types, overrides, shipped names."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.config import apply_overrides, from_dict, load_config, to_dict
from harness.core.errors import ConfigError
from harness.experiment import Experiment, load_experiment


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = 1e-5
    steps: int = 10


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = Inner()
    tags: tuple[str, ...] = ()
    mode: str | None = None


def _yaml(tmp_path, text: str):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_loads_nested_with_overrides(tmp_path):
    p = _yaml(tmp_path, "name: a\ninner:\n  lr: 1e-5\n  steps: 3\ntags: [x, y]\n")
    cfg = load_config(Outer, p, ["inner.steps=7", "mode=fast"])
    assert cfg == Outer("a", Inner(1e-5, 7), ("x", "y"), "fast")
    assert to_dict(cfg) == {
        "name": "a",
        "inner": {"lr": 1e-5, "steps": 7},
        "tags": ["x", "y"],
        "mode": "fast",
    }


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    p = _yaml(tmp_path, "name: a\ninner:\n  lr: 1e-5\n  stpes: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(Outer, p)
    msg = str(e.value)
    assert (
        f"{p}:4" in msg and "inner.stpes" in msg and "did you mean 'inner.steps'" in msg
    )  # a key that can be typed as it is


def test_unknown_override_key(tmp_path):
    p = _yaml(tmp_path, "name: a\n")
    with pytest.raises(ConfigError, match="unknown key 'inner.lrr'.*did you mean 'inner.lr'"):
        load_config(Outer, p, ["inner.lrr=3"])


def test_duplicate_key_is_an_error(tmp_path):
    p = _yaml(tmp_path, "name: a\ninner:\n  lr: 1\n  lr: 2\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:4: duplicate key 'lr' \(first at line 3\)"):
        load_config(Outer, p)


def test_wrong_type_and_missing_required(tmp_path):
    with pytest.raises(ConfigError, match="'inner.steps' must be int"):
        load_config(Outer, _yaml(tmp_path, "name: a\ninner: {steps: many}\n"))
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        from_dict(Outer, {})
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides({}, ["novalue"])


def test_shipped_demo_loads_and_unknown_name_suggests():
    exp = load_experiment("demo", ["decoding.max_tokens=80", "eval.decoding.top_p=0.95"])
    assert isinstance(exp, Experiment) and exp.name == "demo" and exp.decoding.max_tokens == 80
    assert exp.eval.decoding.top_p == 0.95
    # data generation's temperature is each builder's option, not a setting that reruns every build for nothing
    with pytest.raises(ConfigError, match="decoding.temperature"):
        load_experiment("demo", ["decoding.temperature=0.5"])
    with pytest.raises(ConfigError, match="did you mean 'demo'"):
        load_experiment("dmeo")
