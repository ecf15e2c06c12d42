"""The corpus, seed and eval-set sources the paper configs name, on replicas of the real repositories
(`tests/fixtures/hub/`): Dolma's URL list streamed over HTTP from a server on 127.0.0.1 through the
same code as the real URLs, Dolma downloaded into its nested layout, oasst1's train Parquet at the
pinned commit, and AlpacaEval's JSON files (805 rows, built from the real reference outputs)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from datasets_builders.corpus import iter_documents
from datasets_builders.seed import load_seed
from datasets_builders.steps import StepLog
from harness.core import sources
from harness.core.errors import ConfigError, InputError
from harness.evaluation import eval_set as es
from harness.experiment import Corpus, SeedData

HUB = Path(__file__).resolve().parents[1] / "fixtures" / "hub"
OASST = "hub:OpenAssistant/oasst1@fdf72ae0827c1cda404aff25b6603abec9e3399b"


class _Server(http.server.ThreadingHTTPServer):
    requests: list[str]


@pytest.fixture
def dolma_server():
    """Dolma's file server (olmo-data.org) replicated on 127.0.0.1: it serves the replica's files."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    handler = functools.partial(Handler, directory=str(HUB / "_servers" / "olmo-data.org"))
    server = _Server(("127.0.0.1", 0), handler)
    server.requests = requests
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirror(tmp_path, monkeypatch, dolma_server):
    """A mirror of the replicas in which Dolma's URL lists point at the local server."""
    root = tmp_path / "mirror"
    shutil.copytree(HUB, root, ignore=shutil.ignore_patterns("_servers", "make_replicas.py"))
    host = f"http://127.0.0.1:{dolma_server.server_address[1]}"
    for lst in (root / "allenai" / "dolma" / "urls").glob("*.txt"):
        lst.write_text(lst.read_text().replace("https://olmo-data.org", host))
    monkeypatch.setenv(sources.MIRROR_ENV, str(root))
    return root


def _docs(corpus):
    log = StepLog(None)
    with log.step("corpus") as s:
        docs = list(iter_documents(corpus, s, origins=log.sources))
    return docs, s, log.sources


PAPER_CORPUS = dict(
    source="hub:allenai/dolma", url_list="urls/v1.txt", data_files="*cc_en_head*", min_chars=100, dedup="near"
)


def test_dolma_url_list_streams_the_head_split_over_http(mirror, dolma_server):
    docs, s, origins = _docs(Corpus(**PAPER_CORPUS))
    assert len(docs) == 12 and s.seen == 12  # 2 files of the head split, 6 documents each
    assert {d.source.rsplit("/", 1)[-1] for d in docs} == {
        "cc_en_head-0000.json.gz",
        "cc_en_head-0001.json.gz",
    }
    assert sorted(dolma_server.requests) == [
        "/dolma-v1/cc_en_head/cc_en_head-0000.json.gz",
        "/dolma-v1/cc_en_head/cc_en_head-0001.json.gz",
    ]
    assert origins[0]["source"] == "hub:allenai/dolma"
    assert not list(mirror.rglob("*.json.gz"))  # streamed: nothing was stored
    dolma_server.requests.clear()
    docs, _, _ = _docs(Corpus(**PAPER_CORPUS, max_documents=3))
    assert len(docs) == 3 and dolma_server.requests == ["/dolma-v1/cc_en_head/cc_en_head-0000.json.gz"]


def test_dolma_errors_name_the_list_and_the_pattern(mirror):
    with pytest.raises(ConfigError, match=r"no URL in urls/v1.txt matches '\*cc_en_tail\*'"):
        _docs(Corpus(**{**PAPER_CORPUS, "data_files": "*cc_en_tail*"}))
    with pytest.raises(ConfigError, match="has no file urls/v9.txt"):
        _docs(Corpus(**{**PAPER_CORPUS, "url_list": "urls/v9.txt"}))
    # without url_list the repository's own files are searched: a script and lists, no data
    with pytest.raises(ConfigError, match=r"no file in .*dolma matches \*cc_en_head\*"):
        _docs(Corpus(**{**PAPER_CORPUS, "url_list": None}))


def test_a_cut_gzip_file_fails_naming_the_url(mirror, tmp_path):
    cut = tmp_path / "cut.json.gz"
    data = (HUB / "_servers" / "olmo-data.org" / "dolma-v1" / "c4" / "c4-0000.json.gz").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    lst = mirror / "allenai" / "dolma" / "urls" / "v1.txt"
    lst.write_text(cut.as_uri() + "\n")
    with pytest.raises(InputError, match="cut.json.gz.*ends early or is not valid gzip"):
        _docs(Corpus(**{**PAPER_CORPUS, "data_files": None}))


def test_dolma_downloaded_in_its_nested_layout(tmp_path):
    """A local folder of the downloaded files (`cc_en_head/cc_en_head-0000.json.gz`) with the same pattern."""
    shutil.copytree(HUB / "_servers" / "olmo-data.org" / "dolma-v1", tmp_path / "dolma")
    docs, _, origins = _docs(Corpus(**{**PAPER_CORPUS, "source": str(tmp_path / "dolma")}))
    assert len(docs) == 12 and origins == [
        {"source": str(tmp_path / "dolma"), "commit": None, "directory": str(tmp_path / "dolma")}
    ]
    everything, _, _ = _docs(
        Corpus(**{**PAPER_CORPUS, "source": str(tmp_path / "dolma"), "data_files": None, "url_list": None})
    )
    assert len(everything) == 30  # five files of six documents


def test_oasst1_seed_first_turns_at_the_pinned_commit(mirror):
    seed = load_seed(SeedData(source=OASST))
    assert sorted(r.instruction for r in seed) == sorted(
        [
            "Can you explain what a monad is in simple terms?",
            "How many bones does an adult human have?",
            "Suggest a name for a grey cat.",
            "Why is the sky blue?",
        ]
    )  # English roots with a live rank-0 reply
    monad = next(r for r in seed if "monad" in r.instruction)
    assert monad.response.startswith("Think of a monad as a box")  # rank 0, not the first sibling
    assert all(r.provenance["origin"] == "seed" for r in seed)
    assert not any("validation" in r.instruction for r in seed)  # the train split only
    assert [r.id for r in load_seed(SeedData(source=OASST, n=2))] == [
        r.id for r in load_seed(SeedData(source=OASST, n=2))
    ]
    assert len(load_seed(SeedData(source=OASST, n=2))) == 2
    local = load_seed(SeedData(source=str(mirror / "OpenAssistant" / "oasst1")))  # the copy as a directory
    assert [r.id for r in local] == [r.id for r in seed]
    spanish = load_seed(SeedData(source=OASST, language="es"))
    assert [r.response for r in spanish] == [
        "Las bacterias son células vivas; los virus necesitan una célula para reproducirse."
    ]


def test_alpaca_eval_from_the_repositorys_json_files(tmp_path, monkeypatch, alpaca_eval_data):
    """A replica holding the real 805 references of both protocols, with the loading script beside them."""
    repo = tmp_path / "mirror" / "tatsu-lab" / "alpaca_eval"
    shutil.copytree(HUB / "tatsu-lab" / "alpaca_eval", repo)
    for proto, name in (("alpaca_eval_1", "text_davinci_003"), ("alpaca_eval_2", "gpt4_1106_preview")):
        real = json.loads((alpaca_eval_data / "model_outputs" / f"{name}.json").read_text())
        (repo / es.get_protocol(proto).hub_file).write_text(json.dumps(real))
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / "mirror"))
    for proto, name in (("alpaca_eval_1", "text_davinci_003"), ("alpaca_eval_2", "gpt4_1106_preview")):
        rows = es.load_eval_set("hub", proto)
        local = es.load_eval_set(str(alpaca_eval_data / "model_outputs" / f"{name}.json"), proto)
        assert len(rows) == 805 and {r["generator"] for r in rows} == {name}
        assert [(r["instruction"], r["output"]) for r in rows] == [
            (r["instruction"], r["output"]) for r in local
        ]
        assert es.load_eval_set(str(repo), proto) == rows  # the copy as a directory


def test_the_bundled_alpaca_eval_replica_and_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv(sources.MIRROR_ENV, str(HUB))
    rows = es.load_eval_set("hub", "alpaca_eval_1")
    assert len(rows) == 5 and rows[0]["generator"] == "text_davinci_003"
    empty = tmp_path / "alpaca_eval"
    empty.mkdir()
    (empty / "alpaca_eval.py").write_text("# script only\n")
    with pytest.raises(ConfigError, match="has no alpaca_eval_gpt4_baseline.json"):
        es.load_eval_set(str(empty), "alpaca_eval_2")
