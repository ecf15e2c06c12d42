"""`harness analyze` end to end in a subprocess: --json, --plot, --eval-prompts, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from harness.evaluation.analysis.embeddings import Embedder
from harness.evaluation.analysis.texts import TextSet

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "analyze", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_json_and_plots(
    model_outputs: Path, embedding_cache: Path, real_embeddings: dict[str, np.ndarray], tmp_path: Path
) -> None:
    # real_embeddings fills the shared cache first, so the subprocess encodes nothing
    files = [str(model_outputs / f"{m}.json") for m in ("gpt4", "alpaca-7b", "llama-2-7b-chat-hf")]
    prompts = tmp_path / "eval.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {"instruction": json.loads((model_outputs / "gpt4.json").read_text())[i]["instruction"]}
            )
            + "\n"
            for i in range(3)
        )
    )
    out = _harness(
        *files,
        "--json",
        "--plot",
        str(tmp_path / "map.png"),
        "--cache",
        str(embedding_cache),
        "--max-texts",
        "300",
        "--mauve-seeds",
        "2",
        "--eval-prompts",
        str(prompts),
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)  # exactly one JSON object on stdout
    assert report["embedder"]["name"] == "all-MiniLM-L6-v2"
    assert set(report["sets"]) == {"gpt4", "alpaca-7b", "llama-2-7b-chat-hf"}
    for s in report["sets"].values():
        assert s["n"] == 300 and s["subsampled_from"] == 805
        for key in ("mean_length_tokens", "unique_trigrams_per_1k_tokens", "distinct_2"):
            assert s[key] > 0
        assert s["contamination"]["eval_prompts"] == 3
    assert len(report["pairs"]) == 3
    for p in report["pairs"]:
        assert len(p["mauve"]["values"]) == 2 and 0 < p["mauve"]["mean"] <= 1
        assert (
            set(p["classifier_accuracy"]) >= {"mean", "std", "chance"}
            and p["classifier_auc"]["chance"] == 0.5
        )
        assert p["paired_accuracy"]["mean"] > 0.6 and p["n_shared_instructions"] == 300
        # per pair: the measure, its interval, the noise floor, the verdict, the CV, the features, truncation
        for m in ("mauve", "classifier_accuracy", "classifier_auc", "paired_accuracy"):
            x = p[m]
            assert x["ci"][0] <= x["mean"] <= x["ci"][1] and x["noise_floor"]["mean"] > 0
            assert x["verdict"] in ("separated", "not separated"), (m, x)
        assert p["cv"] == {"kind": "grouped by instruction", "folds": 5, "shared_instructions": 300}
        assert p["features"]["mauve"]["kind"].startswith("sentence embeddings (the offline default")
        assert p["truncated"]["mauve"]["window"] == 256 and p["truncated"]["mauve"][p["a"]] > 0
    assert "verdict_rule" in report and "unique_trigrams_at_equal_examples" in report["sets"]["gpt4"]
    assert any("subsampled from 805 to 300" in n for n in report["notes"])
    # three sets: the PCA map, the length histogram and the MAUVE heatmap
    assert [Path(p).name for p in report["plots"]] == ["map.png", "map.lengths.png", "map.mauve.png"]
    for p in report["plots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(p).stat().st_size > 5000


def test_table_output(
    model_outputs: Path, embedding_cache: Path, real_embeddings: dict[str, np.ndarray]
) -> None:
    out = _harness(
        str(model_outputs / "gpt4.json"),
        str(model_outputs / "alpaca-7b.json"),
        "--cache",
        str(embedding_cache),
        "--max-texts",
        "100",
        "--mauve-seeds",
        "1",
    )
    assert out.returncode == 0, out.stderr
    assert "MAUVE" in out.stdout and "paired acc" in out.stdout and "warning:" in out.stdout
    assert "grouped" in out.stdout and "floor" in out.stdout and "verdicts:" in out.stdout


def test_bad_input_is_a_one_line_error(tmp_path: Path, model_outputs: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "q", "output": "a"}\n{"instruction": "q"}\n')
    out = _harness(str(model_outputs / "gpt4.json"), str(bad), "--no-cache")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"harness analyze: error: {bad}:2: missing field 'output'")
    few = tmp_path / "few.jsonl"
    few.write_text(
        "".join(
            json.dumps({"instruction": f"q{i}", "output": f"answer {i}" if i < 5 else ""}) + "\n"
            for i in range(8)
        )
    )
    out = _harness(str(model_outputs / "gpt4.json"), str(few), "--no-cache")
    assert out.returncode == 2
    assert (
        "has 5 texts after dropping 3 empty; MAUVE and the classifier need at least 20 per set" in out.stderr
    )
    assert len(out.stderr.strip().splitlines()) == 1


def test_importing_the_command_stays_light() -> None:
    code = (
        "import sys, harness.commands.analyze, harness.evaluation.analysis.report, "
        "harness.evaluation.analysis.plots, harness.evaluation.analysis.embeddings; "
        "heavy = {'torch', 'sklearn', 'sentence_transformers', 'mauve', 'matplotlib', 'transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_embedder_is_the_shipped_minilm(embedder: Embedder, real_sets: dict[str, TextSet]) -> None:
    assert embedder.identity.startswith("st:all-MiniLM-L6-v2@")
