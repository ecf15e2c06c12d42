"""One runner per experiment and runs directory, through the real CLI: while another process holds the
demo's lock, `run`, `build`, `train` and `eval` fail at once with one line naming it (`--dry-run`
runs), `status` shows it; once it is gone the commands proceed, and a killed holder's lock is taken
over with a warning."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from _support import PROJECT_ROOT, run_harness

HOLD = (
    "import sys; from harness.core.lock import runner_lock\n"
    "with runner_lock(sys.argv[1], 'harness run --config demo'):\n"
    "    print('held', flush=True); sys.stdin.read()\n"
)
ENV = {"COLUMNS": "400"}  # warnings on one line


def _holder(exp_dir: Path) -> subprocess.Popen:
    """Another process holding the lock until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(exp_dir)],
        cwd=PROJECT_ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _cli(command: str, runs: Path, *extra: str):
    return run_harness(
        *command.split(), "--config", "demo", "--runs-dir", str(runs), *extra, env=ENV, timeout=300
    )


def test_a_second_runner_fails_at_once_and_status_shows_the_holder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    holder = _holder(runs / "demo")
    try:
        for command in ("run", "build", "train", "eval"):
            proc = _cli(command, runs, "--only", "alpaca_gpt4")
            err = proc.stderr.strip()
            assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (
                command,
                err,
            )
            for fragment in (
                f"pid {holder.pid} on {platform.node()}",
                str(runs / "demo" / "runner.lock"),
                "harness run --config demo",
                "another --runs-dir",
            ):
                assert fragment in err, (command, err)
        assert sorted(p.name for p in (runs / "demo").iterdir()) == ["runner.lock"]  # nothing was built
        assert _cli("run", runs, "--dry-run").returncode == 0  # a dry run takes no lock
        status = _cli("status", runs)
        assert status.returncode == 0, status.stderr
        assert f"running: pid {holder.pid} on {platform.node()} since " in status.stdout
        assert "command harness run --config demo" in status.stdout
    finally:
        holder.communicate("")
    after = _cli("train", runs, "--only", "sharegpt")  # past the lock: the train stage's own check answers
    assert after.returncode == 2 and "'sharegpt' is not built" in after.stderr, after.stderr
    assert "runner.lock" not in after.stderr
    assert "running:" not in _cli("status", runs).stdout


def test_the_lock_of_a_killed_runner_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    holder = _holder(runs / "demo")
    holder.kill()
    holder.communicate()
    assert "running:" not in _cli("status", runs).stdout
    proc = _cli("train", runs, "--only", "sharegpt")
    assert proc.returncode == 2 and "'sharegpt' is not built" in proc.stderr, proc.stderr
    warning = " ".join(proc.stderr.split())
    assert f"taking over the lock of pid {holder.pid} on {platform.node()}" in warning, proc.stderr
    assert "that runner no longer runs and did not release it" in warning
    assert (runs / "demo" / "runner.lock").read_text() == ""  # released cleanly this time
