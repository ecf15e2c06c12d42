"""File I/O: JSONL, JSON and gzip, with atomic writes and errors that name the file and line.

Every write goes to a temporary file in the target's directory and is renamed over the target, so
a killed process never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from harness.core.errors import InputError, StageError


def _open_text(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, mode.replace("t", "") + "b"), encoding="utf-8")
    return open(path, mode, encoding="utf-8")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open a text file for writing; it appears under its name only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        # The temporary name does not end in .gz, so pick the compression from the target's name.
        if path.suffix == ".gz":
            f: IO[str] = io.TextIOWrapper(gzip.open(tmp_path, "wb"), encoding="utf-8")
        else:
            f = open(tmp_path, "w", encoding="utf-8")
        with f:
            yield f
            f.flush()
            if path.suffix != ".gz":
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp_path, path)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise StageError(f"cannot write {path}: {e.strerror}; the previous file, if any, is unchanged",
                             fix="free disk space and rerun: finished stages are kept") from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, default=_json_default)
        f.write("\n")


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any] | Any]) -> int:
    """Write rows (dicts, or objects with `to_dict`) one per line; returns the count."""
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            if hasattr(row, "to_dict"):
                row = row.to_dict()
            f.write(json.dumps(row, ensure_ascii=False, default=_json_default))
            f.write("\n")
            n += 1
    return n


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _require_file(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", path=path, fix="check the path")
    if path.is_dir():
        raise InputError("is a directory, expected a file", path=path)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a malformed line names file and line."""
    path = Path(path)
    _require_file(path)
    with _open_binary(path) as f:
        for lineno, line in _numbered_lines(f, path):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON ({e.msg} at column {e.colno})", path=path, line=lineno,
                                 fix="each line must hold one JSON object") from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno)
            yield lineno, obj


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def _numbered_lines(f: IO[bytes], path: Path) -> Iterator[tuple[int, str]]:
    """(line number, decoded line); bytes that are not UTF-8 are an InputError naming the line."""
    for lineno, raw in enumerate(f, start=1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=path, line=lineno,
                             fix="save the file as UTF-8") from None


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    _require_file(path)
    with _open_text(path, "rt") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"malformed JSON ({e.msg})", path=path, line=e.lineno) from None
        except UnicodeDecodeError as e:
            raise InputError(f"not UTF-8 text ({e.reason})", path=path, fix="save the file as UTF-8") from None


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def count_lines(path: str | os.PathLike[str]) -> int:
    with _open_text(Path(path), "rt") as f:
        return sum(1 for line in f if line.strip())
