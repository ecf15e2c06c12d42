"""The bundled demo experiment end to end, through the real CLI, as CI runs it.

One full `harness run --config demo` (tiny model, five datasets, training, local judge, analysis,
report) is shared by the tests here; each later test copies its run directory so that the
changes it makes (a changed setting, a killed run) start from the finished state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support import PROJECT_ROOT, run_harness

# One builder setting of one dataset: changing it must rerun that dataset's chain alone.
CHANGED_DATASET = "humpback"
CHANGE = "datasets.humpback.options.iterations=1"
TIMEOUT = 1500


def _last_run(runs: Path) -> dict:
    lines = (runs / "demo" / "run-log.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def _rows(results: Path) -> list[dict]:
    board = json.loads((results / "demo" / "leaderboard.json").read_text())
    return [{k: v for k, v in r.items()} for r in board["rows"]]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Every run here uses one OpenMP thread, as `results/demo` was made (`OMP_NUM_THREADS=1 make
    demo` from scratch): the tiny models' numerics, hence the random judge's near-threshold
    curation decisions, depend on the thread count."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    if saved is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = saved


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("demo")
    runs, results = base / "runs", base / "results"
    t0 = time.perf_counter()
    r = run_harness(
        "run",
        "--config",
        "demo",
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
        timeout=TIMEOUT,
        env={"COLUMNS": "200"},
    )
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    print(f"\ndemo from scratch: {wall:.1f} s")
    return {"base": base, "runs": runs, "results": results, "output": r.stdout + r.stderr}


def test_demo_prints_a_short_plain_account(demo):
    """A pipe gets one line per stage, the leaderboard and a few more: no library output, no ANSI codes."""
    out = demo["output"]
    assert len(out.splitlines()) < 40, out
    assert "\x1b" not in out
    for noise in ("Loading weights", "Writing model shards", "{'loss'", "Tokenizing train dataset", "it/s]"):
        assert noise not in out, noise
    for stage in ("build/humpback", "train/sharegpt", "eval/distillation", "analysis", "report"):
        assert stage in out, stage
    logs = list((demo["runs"] / "demo" / "logs").glob("run-*.log"))
    assert len(logs) == 1 and "'loss'" in logs[0].read_text()  # the trainer's printed log went there


def test_demo_matches_the_committed_baseline(demo):
    rows = _rows(demo["results"])
    assert len(rows) == 5
    for row in rows:
        assert row["records"] and row["records"] > 0, row
        assert row["win_rate"] is not None and 0 <= row["win_rate"] <= 100, row
        assert row["training_tokens"] and row["training_tokens"] > 0, row
    r = run_harness(
        "check",
        "--config",
        "demo",
        "--runs-dir",
        str(demo["runs"]),
        "--baseline",
        str(PROJECT_ROOT / "results" / "demo" / "leaderboard.json"),
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_demo_build_starts_each_models_engine_once(demo):
    """One engine per model per process: the demo's three builders backtranslate, curate, rewrite
    and answer with the backward, seed and Humpback M1 models, and each is loaded once."""
    from _support import engine_starts, substage_models

    build_dir = demo["runs"] / "demo" / "build"
    starts = engine_starts(build_dir)
    assert set(starts) == substage_models(build_dir) and len(starts) == 3, starts
    assert all(n == 1 for n in starts.values()), starts


def test_cached_rerun_runs_nothing(demo):
    t0 = time.perf_counter()
    r = run_harness(
        "run",
        "--config",
        "demo",
        "--runs-dir",
        str(demo["runs"]),
        "--results-dir",
        str(demo["results"]),
        env={"COLUMNS": "200"},
    )
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert _last_run(demo["runs"])["ran"] == []
    print(f"\ndemo fully cached: {wall:.1f} s")


def test_check_fails_on_a_moved_metric(demo, tmp_path: Path):
    board = json.loads((demo["results"] / "demo" / "leaderboard.json").read_text())
    board["rows"][0]["win_rate"] += 10
    board["rows"].pop()
    baseline = tmp_path / "leaderboard.json"
    baseline.write_text(json.dumps(board))
    r = run_harness(
        "check",
        "--config",
        "demo",
        "--runs-dir",
        str(demo["runs"]),
        "--baseline",
        str(baseline),
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "moved" in r.stdout and "appeared" in r.stdout, r.stdout
    # a baseline made on the other engine is refused in one line naming the backends and the baseline to use
    board = json.loads((demo["results"] / "demo" / "leaderboard.json").read_text())
    assert board["backend"] == "hf"
    baseline.write_text(json.dumps({**board, "backend": "vllm"}))
    r = run_harness("check", "--config", "demo", "--runs-dir", str(demo["runs"]), "--baseline", str(baseline))
    assert r.returncode == 2, r.stdout + r.stderr
    assert (
        "made with backend vllm, this run uses hf" in r.stderr and "results/demo/leaderboard.json" in r.stderr
    )
    assert len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr, r.stderr


BASELINE = PROJECT_ROOT / "results" / "demo" / "leaderboard.json"


def _check(runs: Path, config: str = "demo"):
    return run_harness(
        "check",
        "--config",
        config,
        "--runs-dir",
        str(runs),
        "--baseline",
        str(BASELINE),
        env={"COLUMNS": "200"},
    )


def test_check_fails_when_a_dataset_is_removed(demo, tmp_path: Path):
    """A real mutation of the experiment, not of the leaderboard: the demo's config without one
    dataset, rerun on a copy of the finished runs (only the analysis and the report rerun)."""
    import yaml

    data = yaml.safe_load((PROJECT_ROOT / "harness" / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    del data["datasets"]["sharegpt"]
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    runs = tmp_path / "runs"
    shutil.copytree(demo["runs"], runs)
    r = run_harness(
        "run",
        "--config",
        str(config),
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(tmp_path / "results"),
        timeout=TIMEOUT,
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert set(_last_run(runs)["ran"]) <= {"analysis", "report"}, _last_run(runs)
    r = _check(runs, str(config))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "sharegpt" in r.stdout and "disappeared" in r.stdout, r.stdout


def test_check_fails_when_the_judges_positions_are_not_mapped_back(demo, tmp_path: Path):
    """A real mutation of the code: the judge's seeded position swap made but never undone, in a
    patched copy of the packages; the evals rerun on a copy of the finished runs (fingerprints do
    not hash code, hence --force eval) and the check must see the win rates move past the noise."""
    tree = tmp_path / "tree"
    for pkg in ("harness", "datasets_builders", "baselines"):
        shutil.copytree(PROJECT_ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    judges = tree / "harness" / "evaluation" / "judges" / "spec.py"
    old = "return 3 - preference if preference is not None and switched else preference"
    assert old in judges.read_text(encoding="utf-8")
    judges.write_text(
        judges.read_text(encoding="utf-8").replace(old, "return preference", 1), encoding="utf-8"
    )
    runs = tmp_path / "runs"
    shutil.copytree(demo["runs"], runs)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--config",
            "demo",
            "--runs-dir",
            str(runs),
            "--results-dir",
            str(tmp_path / "results"),
            "--force",
            "eval",
            "report",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = _check(runs)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "win_rate" in r.stdout and "moved" in r.stdout, r.stdout


# every plot of the demo's report: results, training curves, judge diagnostics, the analysis stage's
REPORT_PLOTS = (
    "plot-win-rate",
    "plot-size",
    "plot-training-curves",
    "plot-judge-bias",
    "plot-length-vs-win-rate",
    "plot-responses",
    "plot-responses-mauve",
    "plot-responses-lengths",
    "plot-outputs",
)


def test_html_report_renders_in_chromium(demo, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    page_path = demo["results"] / "demo" / "index.html"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
        page.goto(page_path.as_uri())
        rows = page.locator("#leaderboard tbody tr").count()
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        plots = {
            fid: page.eval_on_selector(f"#{fid} img", "i => i.complete ? i.naturalWidth : 0")
            for fid in REPORT_PLOTS
            if page.locator(f"#{fid} img").count() == 1
        }
        text = page.inner_text("body")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert rows == 5
    assert len(widths) >= 4 and all(w > 100 for w in widths), widths
    assert set(plots) == set(REPORT_PLOTS) and all(w > 300 for w in plots.values()), (
        plots
    )  # each plot, rendered
    for heading in ("Training curves", "Judge diagnostics", "loss tokens %", "judge prefers 1st slot %"):
        assert heading in text, heading
    from PIL import Image

    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100, "the screenshot is blank"
    assert len(img.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50, (
        "the screenshot has almost no content"
    )


@pytest.fixture(scope="module")
def changed(demo) -> dict[str, Path]:
    """The demo with one builder setting changed, run uninterrupted."""
    base = demo["base"] / "changed"
    shutil.copytree(demo["runs"], base / "runs")
    r = run_harness(
        "run",
        "--config",
        "demo",
        CHANGE,
        "--runs-dir",
        str(base / "runs"),
        "--results-dir",
        str(base / "results"),
        timeout=TIMEOUT,
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return {"runs": base / "runs", "results": base / "results"}


def test_changing_one_builder_setting_reruns_only_its_chain(changed):
    ran = set(_last_run(changed["runs"])["ran"])
    assert ran == {
        f"build/{CHANGED_DATASET}",
        f"train/{CHANGED_DATASET}",
        f"eval/{CHANGED_DATASET}",
        "analysis",
    }


def _kill_when(cmd: list[str], ready, what: str) -> bool:
    """Start `cmd`; SIGKILL its process group once `ready()` holds. False if it finished first."""
    proc = subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.time() + TIMEOUT
    try:
        while time.time() < deadline and proc.poll() is None and not ready():
            time.sleep(0.05)
        if proc.poll() is not None:
            return False
        os.killpg(proc.pid, signal.SIGKILL)
        return True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_killed_run_resumes_without_redoing_work(demo, changed):
    """SIGKILL at several points of one run (mid-build, mid-training, mid-eval, mid-analysis), each time
    rerun: the final leaderboard equals the uninterrupted run's, and finished stages are not redone."""
    base = demo["base"] / "killed"
    runs, results = base / "runs", base / "results"
    shutil.copytree(demo["runs"], runs)
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--config",
        "demo",
        CHANGE,
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
    ]
    exp = runs / "demo"

    def fresh(*parts: str) -> bool:  # a file the changed run writes (the copied run's are older)
        p = exp.joinpath(*parts)
        return p.exists() and p.stat().st_mtime > start

    def fresh_under(*parts: str) -> bool:
        return any(p.is_file() and p.stat().st_mtime > start for p in exp.joinpath(*parts).rglob("*"))

    points = [
        ("mid-build", lambda: fresh_under("build", CHANGED_DATASET)),
        ("mid-training", lambda: any(exp.glob(f"train/{CHANGED_DATASET}/checkpoints/checkpoint-*"))),
        ("mid-eval", lambda: fresh("eval", CHANGED_DATASET, "model_outputs.json")),
        ("mid-analysis", lambda: fresh("eval", CHANGED_DATASET, "manifest.json")),
    ]
    start = time.time()
    killed = [what for what, ready in points if _kill_when(cmd, ready, what)]
    print(f"\nkilled at: {', '.join(killed)}")
    assert len(killed) >= 3, killed
    r = run_harness(
        "run",
        "--config",
        "demo",
        CHANGE,
        "--runs-dir",
        str(runs),
        "--results-dir",
        str(results),
        timeout=TIMEOUT,
        env={"COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "build/humpback" not in set(_last_run(runs)["ran"])  # finished before the later kills: not redone
    for d in exp.rglob("*"):  # nothing half-written left behind under a real name
        assert not d.name.endswith(".tmp") or d.name.startswith("."), d
    strip = ("fingerprints",)
    a = [{k: v for k, v in row.items() if k not in strip} for row in _rows(results)]
    b = [{k: v for k, v in row.items() if k not in strip} for row in _rows(changed["results"])]
    assert a == b


def test_instruction_tags_on_the_demo_say_the_tiny_tagger_cannot_discriminate(demo, tmp_path: Path):
    """`analysis.instruction_tagger=@base` on a copy of the finished demo: the tiny random base model is
    asked for every dataset's tags through the real backend and request cache; it writes no JSON list,
    so every set says it cannot discriminate and no pair is compared. A rerun is the cached analysis;
    the report carries the tags' verdicts and, with none readable, no tags column."""
    runs = tmp_path / "runs"
    shutil.copytree(demo["runs"], runs)
    overrides = [
        "analysis.instruction_tagger=@base",
        "analysis.max_tagged=24",
        "analysis.tagger_max_tokens=16",
    ]
    args = ["analyze", "--config", "demo", "--runs-dir", str(runs), *overrides]
    r = run_harness(*args, timeout=TIMEOUT, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    tags = json.loads((runs / "demo" / "analysis" / "instruction_tags.json").read_text())
    assert set(tags["sets"]) == {"distillation", "back_and_forth", "humpback", "alpaca_gpt4", "sharegpt"}
    for s in tags["sets"].values():
        assert s["instructions"] == 24 and s["unparsed_share"] > 0.5
        assert s["verdict"].startswith("cannot discriminate")
    assert len(tags["pairs"]) == 10 and all(p["difference"] is None for p in tags["pairs"])
    assert "instruction complexity: tags per instruction by @base" in r.stdout
    assert "warning: distillation: cannot discriminate" in r.stdout
    again = run_harness(*args, timeout=TIMEOUT, env={"COLUMNS": "200"})
    assert again.returncode == 0 and "analysis: cached" in again.stdout, again.stdout[-2000:]
    results = tmp_path / "results"
    rep = run_harness(
        "report", "--config", "demo", "--runs-dir", str(runs), "--results-dir", str(results), *overrides
    )
    assert rep.returncode == 0, rep.stdout[-2000:] + rep.stderr[-2000:]
    board = json.loads((results / "demo" / "leaderboard.json").read_text())
    assert board["instruction_tags"]["tagger"] == "@base" and len(board["instruction_tags"]["pairs"]) == 10
    assert all("tags_per_instruction" not in row for row in board["rows"])
