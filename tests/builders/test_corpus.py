"""Corpus reading, cleaning, length filters, exact and near dedup, sharding - with counted drops."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets_builders.corpus import BloomFilter, NearDuplicates, clean_text, iter_documents, lsh_shape
from datasets_builders.steps import StepLog
from harness.experiment import Corpus

LOREM = (
    "The quick brown fox jumps over the lazy dog near the river bank while the farmer watches "
    "from the old wooden fence and the sun sets slowly behind the distant hills of the valley. "
)


def _run(corpus, **kw):
    log = StepLog(None)
    with log.step("corpus") as s:
        docs = list(iter_documents(corpus, s, **kw))
    return docs, log.steps[0]


@given(st.text())
def test_clean_text_is_idempotent_and_tidy(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert once == once.strip()
    assert "\n\n\n" not in once and "  " not in once and "\r" not in once
    assert not any(ord(c) < 32 and c not in "\n" for c in once)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
@settings(max_examples=50)
def test_dedup_drops_exactly_the_repeats(text):
    bloom = BloomFilter(1000)
    assert bloom.add(text.encode()) is True
    assert bloom.add(text.encode()) is False
    assert text.encode() in bloom


def test_jsonl_source_counts_every_drop(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [
        json.dumps({"id": "a", "text": LOREM * 3}),
        "{not json",
        json.dumps({"id": "b", "body": "no text"}),
        json.dumps({"id": "c", "text": "too short"}),
        json.dumps({"id": "d", "text": (LOREM * 3).upper()}),
        json.dumps({"id": "e", "text": LOREM * 3 + " one more word"}),
        json.dumps({"id": "f", "text": "x" * 5000}),
        json.dumps({"id": "g", "text": "A different text about databases, indexes and query planners. " * 6}),
        json.dumps({"id": "h", "text": "   \n\t  "}),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    corpus = Corpus(source=str(path), min_chars=100, max_chars=3000, dedup="near")
    docs, s = _run(corpus)
    assert s.seen == 9 and s.kept == 2
    assert dict(s.dropped) == {
        "malformed_row": 2,
        "too_short": 1,
        "exact_duplicate": 1,
        "near_duplicate": 1,
        "too_long": 1,
        "empty": 1,
    }
    assert [d.meta["row"] for d in docs] == ["a", "g"]
    docs_exact, s2 = _run(dataclasses.replace(corpus, dedup="exact"))
    assert s2.kept == 3 and "near_duplicate" not in s2.dropped
    _, s3 = _run(dataclasses.replace(corpus, max_tokens=10), count_tokens=lambda t: len(t.split()))
    assert s3.kept == 0 and s3.dropped["too_many_tokens"] == 4  # length filters run before dedup


def test_parquet_source_and_missing_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.core.errors import InputError

    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"content": [LOREM * 2, None, "short"]}), path)
    docs, s = _run(Corpus(source=str(path), text_field="content", min_chars=50))
    assert s.kept == 1 and dict(s.dropped) == {"malformed_row": 1, "too_short": 1}
    with pytest.raises(InputError, match="no column 'text'"):
        _run(Corpus(source=str(path), min_chars=50))


def test_shards_partition_the_corpus_and_max_documents_caps(tmp_path):
    path = tmp_path / "c.jsonl"
    texts = [f"Document {i} talks about topic {i * 7919 % 1000} in several words. " * 3 for i in range(300)]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts + texts[:20]), encoding="utf-8")
    corpus = Corpus(source=str(path), min_chars=50, dedup="exact")
    whole, s = _run(corpus)
    assert len(whole) == 300 and s.dropped["exact_duplicate"] == 20
    parts = [_run(corpus, num_shards=3, shard_index=i) for i in range(3)]
    ids = [d.id for docs, _ in parts for d in docs]
    assert sorted(ids) == sorted(d.id for d in whole)  # exact duplicates share an id, hence a shard
    assert all(st.extra["other_shards"] > 0 for _, st in parts)
    capped, _ = _run(dataclasses.replace(corpus, max_documents=40))
    assert [d.id for d in capped] == [d.id for d in whole[:40]]


def test_stdlib_corpus_is_deterministic():
    corpus = Corpus(source="stdlib", min_chars=200, max_chars=1500, max_documents=30)
    a, _ = _run(corpus)
    b, _ = _run(corpus)
    assert len(a) == 30 and [d.id for d in a] == [d.id for d in b]


def test_near_duplicate_detection_tracks_the_threshold():
    nd = NearDuplicates(threshold=0.8)
    words = [f"w{i}" for i in range(200)]
    assert not nd.check_and_add(" ".join(words))
    assert nd.check_and_add(" ".join(words[:196] + ["x", "y", "z", "q"]))  # ~0.9 similar
    assert not nd.check_and_add(" ".join(f"v{i}" for i in range(200)))
    assert lsh_shape(0.8) == (4, 8) or abs((1 / lsh_shape(0.8)[0]) ** (1 / lsh_shape(0.8)[1]) - 0.8) < 0.1


def test_shards_hold_the_unsharded_documents_with_near_dedup_and_a_cap(tmp_path):
    """Sharding comes after every filter: near duplicates across shards and max_documents give the
    same documents as one unsharded pass."""
    path = tmp_path / "c.jsonl"
    texts = [f"Document {i} talks about topic {i * 7919 % 1000} in several words. " * 3 for i in range(120)]
    near = [t + "Indeed." for t in texts[:30]]  # near duplicates, other ids
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts + near), encoding="utf-8")
    corpus = Corpus(source=str(path), min_chars=50, dedup="near", max_documents=100)
    whole, s = _run(corpus)
    assert len(whole) == 100 and s.dropped["near_duplicate"] == 0  # the cap comes before the near copies
    full, s_full = _run(dataclasses.replace(corpus, max_documents=None))
    assert s_full.dropped["near_duplicate"] >= 25 and len(full) == 150 - s_full.dropped["near_duplicate"]
    parts = [_run(corpus, num_shards=2, shard_index=i)[0] for i in range(2)]
    assert sorted(d.id for docs in parts for d in docs) == sorted(d.id for d in whole)


SEGMENTED = """\
Home | About | Login

# Growing tomatoes
Tomatoes need six hours of sun. Water them at the base, in the morning, and keep the leaves dry.

Pruning suckers
Pinch off the shoots between stem and branch while they are small; the plant puts its energy into fruit.

CONTACT US TODAY FOR A QUOTE
Call now.

Subscribe to our newsletter
Get our weekly tips by email.
"""


def test_segments_and_header_filter_keep_titled_content(tmp_path):
    from datasets_builders.segments import header_problem, segments

    pieces = list(segments(clean_text(SEGMENTED)))
    assert [h for h, _ in pieces] == [
        "# Growing tomatoes",
        "Pruning suckers",
        "CONTACT US TODAY FOR A QUOTE",
        "Subscribe to our newsletter",
    ]  # the navigation line has no text under it
    assert pieces[1][1].startswith("Pruning suckers\nPinch off") and pieces[1][1].endswith("into fruit.")
    assert [header_problem(h) for h, _ in pieces] == [
        None,
        None,
        "header_all_caps",
        "header_is_page_furniture",
    ]
    assert [h for h, _ in segments("Some preamble text here.\n\nA title\nIts body.")] == [None, "A title"]
    assert header_problem(None) == "no_header"
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": SEGMENTED}) + "\n", encoding="utf-8")
    corpus = Corpus(
        source=str(path), min_chars=60, max_chars=3000, dedup="none", segment="headers", header_filter=True
    )
    docs, s = _run(corpus)
    assert [d.meta["header"] for d in docs] == ["# Growing tomatoes", "Pruning suckers"]
    assert s.dropped == {"header_all_caps": 1, "header_is_page_furniture": 1}
    docs, s = _run(dataclasses.replace(corpus, header_filter=False))  # length alone: the two short ones go
    assert len(docs) == 2 and s.dropped == {"too_short": 2}


def test_header_filter_without_segments_is_a_config_error(tmp_path):
    from harness.core.errors import ConfigError
    from harness.experiment import load_experiment

    with pytest.raises(ConfigError, match="corpus.segment: headers"):
        load_experiment("demo", ["corpus.header_filter=true"])


def test_data_files_picks_files_of_a_local_directory(tmp_path):
    for name in ("cc_en_head-0000.jsonl", "cc_en_tail-0000.jsonl"):
        (tmp_path / name).write_text(json.dumps({"text": f"{name} " + LOREM}) + "\n", encoding="utf-8")
    docs, _ = _run(Corpus(source=str(tmp_path), data_files="cc_en_head-*", min_chars=10))
    assert len(docs) == 1 and docs[0].text.startswith("cc_en_head")
