"""The seed set: bundled, local files (both row shapes), capping, bad lines, the oasst first-turn mapping."""

from __future__ import annotations

import json

import pytest

from datasets_builders.seed import first_turns, load_seed
from harness.core.errors import ConfigError, InputError
from harness.experiment import SeedData


def test_bundled_seed_is_valid_and_capped_stably():
    seed = load_seed(SeedData())
    assert len(seed) >= 48 and len({r.id for r in seed}) == len(seed)
    assert all(r.source == "seed" and r.provenance["origin"] == "seed" and r.response for r in seed)
    a, b = load_seed(SeedData(n=10)), load_seed(SeedData(n=10))
    assert [r.id for r in a] == [r.id for r in b] and len(a) == 10


def test_local_seed_file_and_errors(tmp_path):
    p = tmp_path / "seed.jsonl"
    p.write_text(
        json.dumps({"instruction": "Hi?", "response": "Hello."})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]})
        + "\n"
    )
    assert [r.instruction for r in load_seed(SeedData(source=str(p)))] == ["Hi?", "Q"]
    p.write_text(
        json.dumps({"instruction": "Hi?", "response": "Hello."})
        + "\n"
        + json.dumps({"instruction": "x"})
        + "\n"
    )
    with pytest.raises(InputError, match=r"seed.jsonl:2"):
        load_seed(SeedData(source=str(p)))
    with pytest.raises(ConfigError, match="file not found"):
        load_seed(SeedData(source=str(tmp_path / "nope.jsonl")))
    with pytest.raises(ConfigError, match="bundled"):
        load_seed(SeedData(source="bundled:nope"))


def test_oasst_first_turns_keep_english_roots_with_their_rank0_reply():
    rows = [
        {"message_id": "p1", "parent_id": None, "role": "prompter", "lang": "en", "text": "What is 2+2?"},
        {"message_id": "a1", "parent_id": "p1", "role": "assistant", "rank": 1, "text": "5"},
        {"message_id": "a2", "parent_id": "p1", "role": "assistant", "rank": 0, "text": "4"},
        {"message_id": "p2", "parent_id": None, "role": "prompter", "lang": "de", "text": "Wie spät?"},
        {"message_id": "a3", "parent_id": "p2", "role": "assistant", "rank": 0, "text": "Zehn."},
        {"message_id": "p3", "parent_id": "a2", "role": "prompter", "lang": "en", "text": "follow-up"},
        {"message_id": "a4", "parent_id": "p3", "role": "assistant", "rank": 0, "text": "deeper turn"},
        {"message_id": "p4", "parent_id": None, "role": "prompter", "lang": "en", "text": "no reply"},
    ]
    out = first_turns(rows)
    assert [(r.instruction, r.response) for r in out] == [("What is 2+2?", "4")]
    assert out[0].provenance["message_id"] == "p1"
