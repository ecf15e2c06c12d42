"""`harness score` and `harness compare` run as real subprocesses on real AlpacaEval annotations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.evaluation import metrics


def harness(root: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *map(str, args)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_score_json_reproduces_the_official_leaderboard(project_root: Path, official_win_rates: dict) -> None:
    for path, (win_rate, se, n) in official_win_rates.items():
        proc = harness(project_root, "score", path, "--json", "--lc", "off")  # LC: the next test
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["win_rate"] == pytest.approx(win_rate, abs=1e-4), path
        assert out["standard_error"] == pytest.approx(se, abs=1e-4), path
        assert out["n_total"] == n, path
        assert out["discrete_win_rate"] is not None
        assert out["lc_win_rate"] is None and out["lc_reason"].endswith("eval.lc is off")


def test_score_table_says_which_lc(project_root: Path, alpaca_eval_data: Path, tmp_path: Path) -> None:
    path = alpaca_eval_data / "annotations_ae2" / "claude-2.json"
    proc = harness(project_root, "score", path)
    assert proc.returncode == 0, proc.stderr
    assert "17.1882" in proc.stdout and "1.1748" in proc.stdout
    assert "LC variant: LC (offline GLM, own annotations)" in proc.stdout
    proc = harness(project_root, "score", path, "--lc", "off")
    assert proc.returncode == 0 and "length-controlled win rate not computed: eval.lc is off" in proc.stdout
    proc = harness(
        project_root, "score", path, "--json", "--lc-data", tmp_path
    )  # a directory without the data
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "df_gamed.csv not found" in proc.stderr


def test_score_with_lc_data_matches_the_library(project_root: Path, lc_data: Path) -> None:
    path = lc_data / "annotations.json"
    proc = harness(project_root, "score", path, "--json", "--lc-data", lc_data)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = metrics.length_controlled_win_rate(metrics.load_annotations(path), lc_data)
    assert out["lc_reason"] is None and out["lc_variant"] == "official"
    assert out["lc_win_rate"] == pytest.approx(expected.length_controlled_winrate, abs=1e-9)
    assert out["lc_standard_error"] == pytest.approx(expected.lc_standard_error, abs=1e-9)


def test_compare_cli(project_root: Path, alpaca_eval_data: Path) -> None:
    a = alpaca_eval_data / "annotations_ae1" / "alpaca-7b.json"
    b = alpaca_eval_data / "annotations_ae1" / "vicuna-13b.json"
    proc = harness(project_root, "compare", a, b, "--json", "--n-bootstrap", 2000, "--seed", 1)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_shared"] == 805 and out["seed"] == 1 and out["n_bootstrap"] == 2000
    assert out["ci_low"] > 0 and out["p_value"] < 0.01 and "permutation" in out["test"]

    proc = harness(project_root, "compare", a, a, "--n-bootstrap", 500)
    assert proc.returncode == 0, proc.stderr
    assert "+0.0000" in proc.stdout and "permutation test" in proc.stdout


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"preference": 1}', "expected a JSON list"),
        (
            '[{"preference": 1, "instruction": "a"}, {"instruction": "b"}]',
            "annotation [1] has no 'preference'",
        ),
        ("not json", "malformed JSON"),
    ],
)
def test_malformed_files_exit_2_with_one_line(
    project_root: Path, tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    _assert_one_line_error(harness(project_root, "score", path), str(path), needle)
    _assert_one_line_error(harness(project_root, "compare", path, path), str(path), needle)


def test_missing_file_and_nothing_shared_exit_2(project_root: Path, tmp_path: Path) -> None:
    _assert_one_line_error(harness(project_root, "score", tmp_path / "nope.json"), "nope.json", "not found")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([{"instruction": "x", "preference": 1}]))
    b.write_text(json.dumps([{"instruction": "y", "preference": 2}]))
    _assert_one_line_error(harness(project_root, "compare", a, b), "share no instruction")
    a.write_text(json.dumps([{"instruction": "x", "preference": None}]))
    _assert_one_line_error(harness(project_root, "score", a), "nothing to score")
