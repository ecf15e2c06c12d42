"""Prompt templates replaced by the experiment's own files: validated on load, hashed into the
build fingerprint and the manifest, and what the builders actually send."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import ConfigError

BASE = """\
name: prompts
base_model: tiny:tiny
seed_data: {source: bundled:demo}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {reference: null}
datasets:
  bf: {builder: back_and_forth}
  hb: {builder: humpback}
  sharegpt: {builder: baseline, options: {loader: sharegpt}}
"""


def _exp(tmp_path: Path, prompts: str = ""):
    from harness.experiment import load_experiment

    p = tmp_path / "exp.yaml"
    p.write_text(BASE + prompts, encoding="utf-8")
    return load_experiment(str(p))


def test_a_replaced_template_enters_the_fingerprint_of_the_builders_that_use_it(tmp_path: Path):
    from harness.stages import fingerprints

    before = _exp(tmp_path)
    mine = tmp_path / "rewrite.txt"
    mine.write_text("My own wording. Q: {instruction}\nWeb: {web_text}\n[RES]", encoding="utf-8")
    after = _exp(tmp_path, f"prompts: {{rewrite: {mine}}}\n")
    first = fingerprints.build_fingerprint(after, "bf")
    assert first != fingerprints.build_fingerprint(before, "bf")
    assert fingerprints.build_fingerprint(after, "hb") == fingerprints.build_fingerprint(
        before, "hb"
    )  # Humpback does not rewrite
    assert fingerprints.build_fingerprint(after, "sharegpt") == fingerprints.build_fingerprint(
        before, "sharegpt"
    )
    mine.write_text("Edited. Q: {instruction}\nWeb: {web_text}", encoding="utf-8")
    assert fingerprints.build_fingerprint(_exp(tmp_path, f"prompts: {{rewrite: {mine}}}\n"), "bf") != first


def test_the_context_renders_the_replacement_and_the_manifest_names_it(tmp_path: Path):
    from harness.stages import build

    mine = tmp_path / "rubric.txt"
    mine.write_text("Rate it 1-5.\n{instruction}\n---\n{response}\n", encoding="utf-8")
    exp = _exp(tmp_path, f"prompts: {{curation_rubric: {mine}}}\n")
    ctx = build.make_context(exp, "hb", tmp_path / "w", tmp_path / "runs", base_spec="hf:/nowhere", seed=[])
    assert ctx.render("curation_rubric", instruction="I", response="R") == "Rate it 1-5.\nI\n---\nR\n"
    assert ctx.prompt("curation_logprob_suffix").strip().endswith("Score:")  # not replaced: the shipped one
    used = build._prompts_used(exp, "hb")
    assert used["curation_rubric"]["file"] == str(mine.resolve())
    assert used["curation_logprob_suffix"]["file"] == "harness/prompts/curation_logprob_suffix.txt"
    ctx.log.close()


@pytest.mark.parametrize(
    "text,match",
    [
        (None, "does not exist"),
        (
            "Only {instruction}",
            r"placeholders \['instruction'\], the template needs \['instruction', 'web_text'\]",
        ),
        ("Unclosed {instruction", "not a str.format template"),
    ],
)
def test_a_bad_replacement_is_one_line_before_any_work(tmp_path: Path, text, match):
    mine = tmp_path / "rw.txt"
    if text is not None:
        mine.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as e:
        _exp(tmp_path, f"prompts: {{rewrite: {mine}}}\n")
    assert "\n" not in e.value.message


def test_an_unknown_template_name_gets_a_did_you_mean(tmp_path: Path):
    with pytest.raises(ConfigError, match="did you mean 'rewrite'"):
        _exp(tmp_path, "prompts: {rewrit: x.txt}\n")
