"""JSONL/JSON/gzip I/O with atomic writes, record ids, and prompt parsing."""

from __future__ import annotations

import pytest

from harness.core.errors import InputError
from harness.core.io import atomic_open, read_json, read_jsonl, write_json, write_jsonl
from harness.core.records import InstructionRecord, Message, prompt_messages


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz"])
def test_jsonl_round_trip(tmp_path, name):
    rows = [{"i": i, "t": "é" * i} for i in range(5)]
    assert write_jsonl(tmp_path / name, rows) == 5
    assert read_jsonl(tmp_path / name) == rows


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"old": True})
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write('{"new": ')
            raise RuntimeError("killed")
    assert read_json(target) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # the temporary file is gone


def test_malformed_line_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(InputError, match=r"x.jsonl:3: malformed JSON"):
        read_jsonl(p)
    p.write_text("[1, 2]\n")
    with pytest.raises(InputError, match=r"x.jsonl:1: expected a JSON object"):
        read_jsonl(p)
    with pytest.raises(InputError, match="file not found"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_record_ids_are_content_hashes():
    a = InstructionRecord((Message("user", "hi"), Message("assistant", "hello")), "x", {"score": 5})
    b = InstructionRecord((Message("user", "hi"), Message("assistant", "hello")), "y")
    c = InstructionRecord((Message("user", "hi"), Message("assistant", "hello!")), "x")
    assert a.id == b.id != c.id and len(a.id) == 16
    assert InstructionRecord.from_dict(a.to_dict()) == a


def test_prompt_rows():
    assert prompt_messages({"id": 3, "instruction": "hi"}) == ("3", (Message("user", "hi"),))
    rid, msgs = prompt_messages({"messages": [{"role": "user", "content": "x"}]})
    assert len(rid) == 16 and msgs[0].content == "x"
    for bad, why in [
        ({"id": 1}, "neither 'messages' nor 'instruction'"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "use one of system, user, assistant"),
        ({"messages": [{"role": "user"}]}, "needs the fields 'role' and 'content'"),
        ({"instruction": ""}, "non-empty string"),
    ]:
        with pytest.raises(InputError, match=why):
            prompt_messages(bad, path="p.jsonl", line=7)
    with pytest.raises(InputError, match="p.jsonl:7"):
        prompt_messages({}, path="p.jsonl", line=7)
