"""What `harness run` shows: library output (this process's and its subprocesses') in the run's log
file, the stage lines on the terminal, plain on a pipe; the harness's warnings once each; and
`harness status` seeing a stage run from another process."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import run_harness

from harness.console import StageDisplay, library_output_to, logging_to, make_console, terminal_stream


def test_library_output_goes_to_the_log_and_stage_lines_to_the_terminal(tmp_path: Path, capfd):
    log_path = tmp_path / "logs" / "run.log"
    console = make_console(terminal_stream())
    with (
        library_output_to(log_path),
        logging_to(log_path, console, verbose=False),
        StageDisplay(console, ["build/a", "train/a"]) as display,
    ):
        display.start("build/a")
        print("Loading weights: 100%")  # a library printing
        os.write(2, b"Writing model shards\n")  # a library writing to the stderr fd
        subprocess.run(
            [sys.executable, "-c", "import sys; print('engine process'); print('oops', file=sys.stderr)"],
            check=True,
        )  # a vLLM engine or accelerate rank
        logging.getLogger("transformers.modeling_utils").warning("some weights were not used")
        for _ in range(3):
            logging.getLogger("harness.stages.build").warning(
                "a: the dataset is empty; see drops.jsonl\nmore"
            )
        display.finish("build/a", "12 records")
        display.start("train/a")
        display.fail("train/a", "StageError: out of memory\ntraceback...")
    out = capfd.readouterr()
    log = log_path.read_text()
    for noise in ("Loading weights", "Writing model shards", "engine process", "oops", "some weights"):
        assert noise in log and noise not in out.out + out.err, noise
    lines = out.out.splitlines()
    assert lines == [
        "warning: a: the dataset is empty; see drops.jsonl",
        "build/a  done    12 records",
        "train/a  failed  StageError: out of memory",
    ], lines
    assert "\x1b" not in out.out  # a pipe gets no ANSI codes
    assert "the dataset is empty" in log  # and the log keeps every record


def test_a_terminal_gets_the_live_display():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    console = make_console(stream)
    with StageDisplay(console, ["eval/a"]) as display:
        display.start("eval/a")
        display.advance("eval/a", 3, 10, "judge")
        display.finish("eval/a", "win rate 50.0 ± 5.0 %")
    text = stream.getvalue()
    assert "\x1b[" in text and "eval/a" in text and "win rate 50.0" in text


DEMO_SMALL = """\
# harness status --config THIS_FILE
name: statustest
base_model: tiny:tiny
datasets:
  alpaca_gpt4: {builder: baseline, options: {loader: alpaca_gpt4, n: 8}}
eval: {eval_set: bundled:demo, judge: "local:weighted_alpaca_eval_gpt4_turbo:@base"}
analysis: {enabled: false, reference: null}
"""


def test_status_sees_a_running_stage_from_another_process(tmp_path: Path):
    from harness.commands.status import stage_rows
    from harness.core.runs import StageResult, run_stage
    from harness.experiment import load_experiment
    from harness.stages import fingerprints, paths

    cfg = tmp_path / "statustest.yaml"
    cfg.write_text(DEMO_SMALL)
    runs = tmp_path / "runs"
    exp = load_experiment(str(cfg))
    d, fp = paths.build_dir(exp, "alpaca_gpt4", runs), fingerprints.build_fingerprint(exp, "alpaca_gpt4")
    seen = {}

    def body(directory: Path) -> StageResult:
        r = run_harness("status", "--config", str(cfg), "--runs-dir", str(runs), "--json")
        assert r.returncode == 0, r.stderr
        seen.update({s["stage"]: s for s in json.loads(r.stdout)["stages"]})
        return StageResult(stats={"records": 0})

    run_stage(d, stage="build", fingerprint=fp, body=body)
    assert (
        seen["build/alpaca_gpt4"]["state"] == "running"
        and str(os.getpid()) in seen["build/alpaca_gpt4"]["note"]
    )
    assert seen["train/alpaca_gpt4"]["state"] == "to run"
    states = {s["stage"]: s["state"] for s in stage_rows(exp, runs)}
    assert states["build/alpaca_gpt4"] == "done" and not (d / "running.json").exists()
    (d / "running.json").write_text(
        json.dumps({"pid": 2**22 + 7, "host": os.uname().nodename, "started_at": "x"})
    )
    assert {s["stage"]: s["state"] for s in stage_rows(exp, runs)}["build/alpaca_gpt4"] == "interrupted"
    r = run_harness("status", "--config", str(cfg), "--runs-dir", str(runs), env={"COLUMNS": "100"})
    assert r.returncode == 0 and "interrupted" in r.stdout and "\x1b" not in r.stdout, r.stdout + r.stderr

    # Ctrl-C in a stage: its failed manifest says KeyboardInterrupt, and status says "interrupted"
    (d / "running.json").unlink()

    def interrupted(directory: Path) -> StageResult:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(d, stage="build", fingerprint=fp, force=True, body=interrupted)
    [row] = [s for s in stage_rows(exp, runs) if s["stage"] == "build/alpaca_gpt4"]
    assert row["state"] == "interrupted" and "rerun to resume" in row["note"], row
    r = run_harness("status", "--config", str(cfg), "--runs-dir", str(runs), env={"COLUMNS": "200"})
    assert "KeyboardInterrupt" not in r.stdout and "interrupted" in r.stdout, r.stdout
