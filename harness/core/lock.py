"""One runner per experiment and runs directory: an exclusive `flock` on `<runs>/<experiment>/runner.lock`.

`harness run`, `build`, `train` and `eval` (the commands that write stages) hold it while they work;
a second one fails at once, naming the holder that the lock file records as JSON (pid, host,
command, start time). The kernel drops a lock when its process dies, so a lock left by a killed run
is simply taken over, with a warning naming that run. A clean release empties the file, so what a
file still says after its holder is gone is a run that did not finish. Shards of one build run side
by side: each holds the experiment's lock shared (no whole-experiment runner meanwhile) and its own
shard's lock exclusively.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError, HarnessError

log = logging.getLogger(__name__)

LOCK = "runner.lock"
_HELD: set[int] = set()  # this process's lock fds


def _close_held_in_child() -> None:
    """A forked child (a data loader, an engine process) closes its copies of the lock fds: the lock
    stays with the runner and ends with it, never kept alive by a leftover child. (Executed
    programs never see them: Python opens fds non-inheritable.)"""
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


class BusyError(HarnessError):
    """Another runner holds the experiment's runs directory."""


def _read(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 1 << 16, 0)
        holder = json.loads(data) if data.strip() else None
    except (OSError, ValueError):  # half-written by a holder that is just starting, or not ours
        return None
    return holder if isinstance(holder, dict) else None


def _write(fd: int, holder: dict[str, Any] | None) -> None:
    """In place, never by rename: the lock belongs to this file's inode."""
    os.ftruncate(fd, 0)
    if holder is not None:
        os.pwrite(fd, json.dumps(holder).encode(), 0)


def is_alive(holder: dict[str, Any]) -> bool | None:
    """Whether the holder's process still runs: None when it ran on another host (unknowable here)."""
    if holder.get("host") != platform.node():
        return None
    try:
        os.kill(int(holder["pid"]), 0)
    except PermissionError:  # it runs, as another user
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another runner (a shard build, or one that is just starting)"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started_at')}, "
        f"command: {holder.get('command')}"
    )


def holder_of(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who holds the lock file `path`, from what it records, without touching the lock (a probe could
    make a starting runner fail): None when the file is empty or its process is gone."""
    try:
        with open(path, "rb") as f:
            holder = _read(f.fileno())
    except OSError:
        return None
    return holder if holder and is_alive(holder) is not False else None


def runners(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The live holders of an experiment's lock and of its build shards' locks, from their files."""
    files = [Path(directory) / LOCK, *sorted(Path(directory).glob("runner.shard-*.lock"))]
    return [h for h in map(holder_of, files) if h]


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # a runs root that is a file, or read-only
        raise ConfigError(
            f"the lock file {path} cannot be created ({e.strerror})",
            fix="point --runs-dir (or $HARNESS_RUNS_DIR) at a directory you can write to",
        ) from None


def _take(fd: int, path: Path, shared: bool) -> None:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BusyError(
            f"{path.parent} is in use by {describe(_read(fd))}; lock file {path}",
            fix="wait for it to finish, or give this run another --runs-dir",
        ) from None


def _take_over(fd: int, path: Path) -> None:
    """A holder recorded in a lock file that this process could take did not release it: say so."""
    stale = _read(fd)
    if stale and stale.get("pid") != os.getpid():
        state = {False: "no longer runs", None: "ran on another host", True: "no longer holds it"}[
            is_alive(stale)
        ]
        log.warning(
            "%s: taking over the lock of %s: that runner %s and did not release it",
            path,
            describe(stale),
            state,
        )


@contextlib.contextmanager
def runner_lock(
    directory: str | os.PathLike[str], command: str, *, shared: bool = False, name: str = LOCK
) -> Iterator[Path]:
    """Hold `directory/name` for the block, or raise BusyError naming its holder. `shared`: held beside
    other shared holders (build shards), recording no holder."""
    path = Path(directory) / name
    fd = _open(path)
    try:
        _take(fd, path, shared)
    except BaseException:
        os.close(fd)
        raise
    _HELD.add(fd)
    try:
        _take_over(fd, path)
        holder = {
            "pid": os.getpid(),
            "host": platform.node(),
            "command": command,
            "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        _write(fd, None if shared else holder)
        yield path
    finally:  # a failed or interrupted run releases it too; only a killed one leaves its record behind
        with contextlib.suppress(OSError):
            _write(fd, None)
        _HELD.discard(fd)
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def stage_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold `<directory>/.stage.lock` exclusively while one stage directory is checked and written: two
    processes that reach one stage at once (the shards of a build that both need one shared helper
    model, two jobs of a graph) run it one after the other, and the second finds it finished. It
    waits (with one line saying for whom) rather than failing: the holder is doing the same work."""
    d = Path(directory)
    path = d / ".stage.lock"  # inside: a listing of the stages beside it shows stages only
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: waiting for %s, which runs this stage now", d, describe(_read(fd)))
            fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD.add(fd)
        _write(
            fd,
            {
                "pid": os.getpid(),
                "host": platform.node(),
                "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": "stage " + d.name,
            },
        )
        yield
    finally:
        _HELD.discard(fd)
        with contextlib.suppress(OSError):
            _write(fd, None)
        os.close(fd)
