"""Loading sets of texts, bad input, subsampling, and the model-free measures (diversity, n-gram matches)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.evaluation.analysis.contamination import ngram_matches
from harness.evaluation.analysis.diversity import length_stats, ngram_diversity, tokenize
from harness.evaluation.analysis.texts import TextSet, load_text_set, subsample_indices, unique_names


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_alpaca_eval_outputs_json(model_outputs: Path) -> None:
    s = load_text_set(model_outputs / "gpt4.json")
    assert (s.name, len(s), s.dropped_empty, s.field) == ("gpt4", 805, 0, "output")
    assert s.instructions[0].startswith("What are the names of some famous actors")
    prompts = load_text_set(model_outputs / "gpt4.json", "instruction")
    assert prompts.texts == prompts.instructions == s.instructions


def test_empty_outputs_are_dropped_and_counted(model_outputs: Path) -> None:
    s = load_text_set(model_outputs / "text_davinci_003.json")  # the real file has 2 empty outputs
    assert (len(s), s.dropped_empty) == (803, 2)


def test_messages_rows_and_directory(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(3)
    ]
    rows.append({"messages": [{"role": "user", "content": "q3"}, {"role": "assistant", "content": "  "}]})
    d = tmp_path / "built"
    d.mkdir()
    _jsonl(d / "dataset.jsonl", rows)
    s = load_text_set(d)
    assert (s.name, s.texts, s.instructions, s.dropped_empty) == (
        "built",
        ("a0", "a1", "a2"),
        ("q0", "q1", "q2"),
        1,
    )
    assert load_text_set(d, "response").texts == s.texts
    assert load_text_set(d, "instruction").texts == ("q0", "q1", "q2", "q3")


def test_instruction_output_rows(tmp_path: Path) -> None:
    s = load_text_set(_jsonl(tmp_path / "rows.jsonl", [{"instruction": "q", "output": "a", "input": ""}]))
    assert (s.name, s.texts, s.instructions) == ("rows", ("a",), ("q",))


def test_missing_field_names_file_and_line(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", [{"instruction": "q", "output": "a"}, {"instruction": "q2"}])
    with pytest.raises(InputError, match=r"bad\.jsonl:2: missing field 'output'"):
        load_text_set(path)
    path = _jsonl(tmp_path / "nochat.jsonl", [{"messages": [{"role": "user", "content": "q"}]}])
    with pytest.raises(InputError, match=r"nochat\.jsonl:1: no assistant message"):
        load_text_set(path)


def test_missing_field_names_json_index(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps([{"instruction": "q", "output": "a"}] * 3 + [{"instruction": "q"}]))
    with pytest.raises(InputError, match=r"outputs\.json: record \[3\]: missing field 'output'"):
        load_text_set(path)


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no dataset.jsonl"):
        load_text_set(tmp_path)
    with pytest.raises(InputError, match="file not found"):
        load_text_set(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="no non-empty output texts"):
        load_text_set(_jsonl(tmp_path / "empty.jsonl", [{"instruction": "q", "output": ""}]))
    with pytest.raises(InputError, match="unknown field"):
        load_text_set(tmp_path / "x.jsonl", "answer")


def test_subsample_is_seeded_and_keeps_shared_instructions() -> None:
    ins = [f"instruction {i}" for i in range(100)]
    a = TextSet("a", tuple(f"a{i}" for i in range(100)), tuple(ins))
    b = TextSet("b", tuple(f"b{i}" for i in reversed(range(100))), tuple(reversed(ins)))
    sa, sb = a.subsample(30, seed=1), b.subsample(30, seed=1)
    assert len(sa) == 30 and sa.subsampled_from == 100
    assert set(sa.instructions) == set(sb.instructions)  # same prompts kept in both sets
    assert sa == a.subsample(30, seed=1) and sa != a.subsample(30, seed=2)
    assert subsample_indices(ins, 500, 0) == list(range(100))
    assert [s.name for s in unique_names([a, a, b])] == ["a", "a#2", "b"]


def test_tokenizer_and_diversity() -> None:
    assert tokenize("Hello, World! It's 2024.") == ["hello", ",", "world", "!", "it", "'", "s", "2024", "."]
    repeated = [tokenize("the cat sat on the mat")] * 10
    varied = [tokenize(f"text number {i} says something else {i * 7}") for i in range(10)]
    r, v = ngram_diversity(repeated, budget=40), ngram_diversity(varied, budget=40)
    assert r["tokens_counted"] == v["tokens_counted"] == 40  # equal budget: the last text is cut
    assert r["unique_trigrams_per_1k_tokens"] == pytest.approx(1000 * 4 / 40)  # 4 distinct trigrams repeat
    assert v["unique_trigrams_per_1k_tokens"] > r["unique_trigrams_per_1k_tokens"]
    assert v["distinct_2"] > r["distinct_2"]
    stats = length_stats([["a"] * n for n in (1, 2, 3, 4)])
    assert (stats["mean"], stats["median"], stats["max"]) == (2.5, 2.5, 4.0)


def test_ngram_matches() -> None:
    texts = [
        "an unrelated text about gardening and soil and water",
        "please write a poem about the sea in the style of a pirate shanty for kids",
    ]
    prompts = [
        "Write a poem about the sea in the style of a pirate shanty!",  # copied; only "... shanty !" is new
        "Explain quantum computing to a five year old child in simple words",  # absent
        "Gardening and soil",
    ]  # shorter than n: found as a whole word sequence
    (f0, t0), (f1, t1), (f2, t2) = ngram_matches(texts, prompts, n=8)
    assert (f0, t0) == (pytest.approx(6 / 7), 1)  # 6 of its 7 word 8-grams occur in text 1
    assert f1 == 0.0 and t1 == -1
    assert (f2, t2) == (1.0, 0)
