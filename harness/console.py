"""What `harness run` shows a person: one line per stage, library output kept in a log file.

`library_output_to(log_path)` points the process's stdout and stderr (file descriptors 1 and 2,
so subprocesses such as `accelerate launch` ranks and vLLM engine processes inherit it) at a log
file in the run directory; the terminal keeps a handle of its own for the stage display. Warnings
of the harness's own loggers still reach the terminal, once each, on one short line.

`StageDisplay` is that display: on a terminal a rich progress table (a line per stage with its
state, a bar and ETA while running, a one-line summary when done); on a pipe or in CI plain lines,
one per finished stage, with no animation and no ANSI codes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

OUR_LOGGERS = ("harness", "datasets_builders", "baselines")
QUIET_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def terminal_stream() -> TextIO:
    """A handle on the terminal (the current stdout) that stays there after a redirect."""
    sys.stdout.flush()
    return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")


def make_console(stream: TextIO | None = None) -> Any:
    """A rich console on `stream`; plain (no colour, no animation) when it is not a terminal."""
    from rich.console import Console

    stream = stream or sys.stdout
    tty = stream.isatty()
    return Console(
        file=stream,
        force_terminal=tty,
        no_color=not tty,
        highlight=False,
        force_interactive=tty,
        soft_wrap=False,
    )


@contextlib.contextmanager
def library_output_to(log_path: Path, *, enabled: bool = True) -> Iterator[None]:
    """Send everything written to fds 1 and 2 (libraries, subprocesses) to `log_path` until the block ends."""
    if not enabled:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    saved_env = {k: os.environ.get(k) for k in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a", encoding="utf-8", buffering=1) as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:  # Python-level writers too, for when sys.stdout is not fd 1 (pytest, notebooks)
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class WarningsOnce(logging.Handler):
    """The harness's own warnings on the terminal: each distinct message once, its first line only."""

    def __init__(self, console: Any) -> None:
        super().__init__(logging.WARNING)
        self.console = console
        self.seen: set[str] = set()
        self.addFilter(lambda r: r.name.split(".")[0] in OUR_LOGGERS)

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
        if text and text not in self.seen:
            self.seen.add(text)
            self.console.print(f"warning: {text[:300]}", markup=False, highlight=False, soft_wrap=True)


LIBRARY_LOGGERS = ("transformers", "datasets", "vllm", "accelerate", "trl", "sentence_transformers")


@contextlib.contextmanager
def logging_to(log_path: Path, console: Any, *, verbose: bool) -> Iterator[None]:
    """Every log record into `log_path` (and the terminal too when `verbose`); our warnings on the terminal."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    handlers: list[logging.Handler] = []
    libraries: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    if not verbose:
        # libraries that log through their own stderr handler without propagating (transformers does,
        # bound to whatever sys.stderr was when it configured itself) hand their records to ours
        for name in LIBRARY_LOGGERS:
            lib = logging.getLogger(name)
            libraries.append((lib, lib.handlers[:], lib.propagate))
            lib.handlers[:], lib.propagate = [], True
        log_path.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_path, encoding="utf-8")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers = [to_file, WarningsOnce(console)]
        root.handlers[:] = handlers
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
    try:
        yield
    finally:
        for lib, lib_handlers, propagate in libraries:
            lib.handlers[:], lib.propagate = lib_handlers, propagate
        if handlers:
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            for h in handlers:
                h.close()
            logging.captureWarnings(False)


class StageDisplay:
    """A line per stage: waiting, cached, running (bar and ETA when the stage reports progress), done, failed."""

    def __init__(self, console: Any, labels: Sequence[str]) -> None:
        self.console = console
        self.interactive = bool(console.is_terminal)
        self.width = max((len(x) for x in labels), default=10) + 2
        self.started: dict[str, float] = {}
        self.progress = self._rich_progress() if self.interactive else None
        self.tasks = (
            {x: self.progress.add_task(x, total=None, state="waiting", note="", start=False) for x in labels}
            if self.progress
            else {}
        )

    def _rich_progress(self) -> Any:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class WhileRunning(ProgressColumn):
            """A bar, count or ETA only on the running stage's line."""

            def __init__(self, inner: ProgressColumn) -> None:
                super().__init__()
                self.inner = inner

            def render(self, task: Any) -> Any:
                return self.inner.render(task) if task.fields.get("state") == "running" else Text("")

        return Progress(
            TextColumn(f"{{task.description:<{self.width}}}"),
            TextColumn("{task.fields[state]:<8}"),
            WhileRunning(BarColumn(bar_width=24)),
            WhileRunning(MofNCompleteColumn()),
            WhileRunning(TimeRemainingColumn()),
            TextColumn("{task.fields[note]}"),
            console=self.console,
            transient=False,
        )

    def __enter__(self) -> StageDisplay:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress:
            self.progress.stop()

    @property
    def running(self) -> str:
        """The stage started last and not finished yet ("" when none)."""
        return next(reversed(self.started), "")

    def start(self, label: str) -> None:
        self.started[label] = time.perf_counter()
        if self.progress:
            task = self._task(label)
            self.progress.start_task(task)
            self.progress.update(task, state="running")

    def advance(self, label: str, done: int, total: int, what: str = "") -> None:
        """Progress of a running stage: `done` of `total` (of `what`, e.g. generate, judge)."""
        if self.progress and label:
            self.progress.update(self._task(label), completed=done, total=total, note=what)

    def finish(self, label: str, summary: str, *, cached: bool = False) -> None:
        state = "cached" if cached else "done"
        seconds = time.perf_counter() - self.started.pop(label, time.perf_counter())
        note = summary if cached or seconds < 1 else f"{summary} ({seconds:.0f} s)"
        self._line(label, state, note)

    def fail(self, label: str, reason: str) -> None:
        self.started.pop(label, None)
        self._line(label, "failed", reason.splitlines()[0][:200] if reason else "")

    def _line(self, label: str, state: str, note: str) -> None:
        if self.progress:
            task = self._task(label)
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, state=state, note=note, total=total, completed=total)
            self.progress.stop_task(task)
        else:
            self.console.print(
                f"{label:<{self.width}}{state:<8}{note}", markup=False, highlight=False, soft_wrap=True
            )

    def _task(self, label: str) -> Any:
        if label not in self.tasks:  # a stage the plan did not list (it cannot happen, but must not crash)
            self.tasks[label] = self.progress.add_task(
                label, total=None, state="waiting", note="", start=False
            )
        return self.tasks[label]
