"""The runner lock (`harness.core.lock`): one exclusive holder, shards side by side, a dead holder's
record taken over with a warning, and `holder_of` reading the record without touching the lock."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.lock import LOCK, BusyError, holder_of, runner_lock, runners


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def test_a_second_runner_fails_naming_the_first_and_a_release_empties_the_record(tmp_path: Path) -> None:
    with runner_lock(tmp_path, "harness run --config demo") as path:
        record = json.loads(path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == platform.node()
        assert record["command"] == "harness run --config demo" and record["started_at"]
        assert holder_of(path) == record and runners(tmp_path) == [record]
        with pytest.raises(BusyError) as e, runner_lock(tmp_path, "harness build --config demo"):
            pass
        message = str(e.value)
        assert f"pid {os.getpid()} on {platform.node()}" in message and str(path) in message
        assert "harness run --config demo" in message and "\n" not in message
        assert json.loads(path.read_text()) == record  # the failed attempt left the holder's record alone
    assert path.read_text() == "" and holder_of(path) is None and runners(tmp_path) == []
    with runner_lock(tmp_path, "harness eval --config demo"):  # free again
        pass


def test_a_failed_run_releases_the_lock(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), runner_lock(tmp_path, "harness build"):
        raise RuntimeError("the stage failed")
    assert (tmp_path / LOCK).read_text() == ""


def test_shards_run_side_by_side_but_not_beside_a_whole_run(tmp_path: Path) -> None:
    shard = "runner.shard-00000-of-00002.lock"
    with (
        runner_lock(tmp_path, "shard 0", shared=True),
        runner_lock(tmp_path, "shard 0", name=shard),
        runner_lock(tmp_path, "shard 1", shared=True),
    ):
        with pytest.raises(BusyError, match="a shard build"), runner_lock(tmp_path, "harness run"):
            pass
        with pytest.raises(BusyError, match="shard 0"), runner_lock(tmp_path, "shard 0 again", name=shard):
            pass
        assert [h["command"] for h in runners(tmp_path)] == ["shard 0"]
    with (
        runner_lock(tmp_path, "harness run"),
        pytest.raises(BusyError, match="harness run"),
        runner_lock(tmp_path, "shard 1", shared=True),
    ):
        pass


def test_the_lock_of_a_dead_runner_is_taken_over_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid = _dead_pid()
    stale = {
        "pid": pid,
        "host": platform.node(),
        "command": "harness run --config demo",
        "started_at": "then",
    }
    (tmp_path / LOCK).write_text(json.dumps(stale))
    assert holder_of(tmp_path / LOCK) is None and runners(tmp_path) == []  # status shows no one
    with (
        caplog.at_level(logging.WARNING, logger="harness.core.lock"),
        runner_lock(tmp_path, "harness build") as path,
    ):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    [warning] = [r.getMessage() for r in caplog.records]
    assert (
        f"pid {pid} on {platform.node()}" in warning and "no longer runs" in warning and str(path) in warning
    )


def test_a_runs_root_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    from harness.core.errors import ConfigError

    (tmp_path / "runs").write_text("")
    with (
        pytest.raises(ConfigError, match="cannot be created"),
        runner_lock(tmp_path / "runs" / "demo", "harness run"),
    ):
        pass


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    """A child forked while the lock is held (a data loader, an engine) and outliving the runner does not
    keep the experiment locked."""
    import signal

    ready, started = os.pipe()
    with runner_lock(tmp_path, "harness run"):
        pid = os.fork()
        if pid == 0:  # the child (its fork hooks have run): outlive the block
            os.write(started, b"x")
            signal.pause()
        assert os.read(ready, 1) == b"x"
    try:
        with runner_lock(tmp_path, "harness build"):
            pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_two_processes_on_one_stage_run_it_once(tmp_path, caplog):
    """The shards of a build that need one shared helper model, or two jobs of a graph, reach one stage
    at once: the second waits for the first (one warning line) and finds the stage finished."""
    import logging
    import subprocess
    import sys
    import textwrap
    import time

    from harness.core.runs import run_stage

    stage = tmp_path / "shared" / "helper"
    first = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness.core.runs import StageResult, run_stage
        def body(d):
            Path(d, "started").write_text("1")
            time.sleep(3)
            Path(d, "out.txt").write_text("made once")
            return StageResult(outputs=["out.txt"])
        run_stage(Path({str(stage)!r}), stage="helper", fingerprint="fp1", body=body)
    """),
        ],
        cwd=str(tmp_path),
    )
    deadline = time.monotonic() + 60
    while not (stage / "started").exists():
        assert time.monotonic() < deadline and first.poll() is None, (
            "the first process did not start the stage"
        )
        time.sleep(0.05)

    def again(d):
        raise AssertionError("the stage ran twice")

    with caplog.at_level(logging.WARNING, logger="harness.core.lock"):
        outcome = run_stage(stage, stage="helper", fingerprint="fp1", body=again)
    assert first.wait(timeout=60) == 0
    assert outcome.skipped and (stage / "out.txt").read_text() == "made once"
    assert any("waiting for pid" in r.getMessage() for r in caplog.records), caplog.records
