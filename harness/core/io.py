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
import stat
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
            raise StageError(
                f"cannot write {path}: {e.strerror}; the previous file, if any, is unchanged",
                fix="free disk space and rerun: finished stages are kept",
            ) from None
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


def require_file(path: Path) -> None:
    """A readable regular file, else one line saying what is there instead (checked before opening,
    so a FIFO never blocks the reader)."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(
                "is a symlink loop (a link that points back at itself)",
                path=path,
                fix="point the link at a real file",
            ) from None
        if e.errno in (errno.EACCES, errno.EPERM):
            raise _unreadable(path, e.strerror) from None
        if path.is_symlink():
            raise InputError(
                f"is a broken symlink to {os.readlink(path)}",
                path=path,
                fix="point the link at an existing file",
            ) from None
        raise InputError("file not found", path=path, fix="check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, expected a file", path=path, fix="name a file inside it")
    if stat.S_ISFIFO(st.st_mode):
        raise InputError(
            "is a named pipe (FIFO), not a regular file",
            path=path,
            fix="write its contents to a regular file and pass that",
        )
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file (a device or socket)", path=path, fix="pass a regular file")
    if not os.access(path, os.R_OK):
        raise _unreadable(path, "Permission denied")


def _unreadable(path: Path, reason: str | None) -> InputError:
    return InputError(
        f"cannot be read ({reason})", path=path, fix="make it readable (chmod) or copy it somewhere readable"
    )


def _open_checked(path: Path, opener: Any) -> Any:
    """`opener(path)`, with a permission error (which os.access cannot foresee for every user) as one line."""
    try:
        return opener(path)
    except PermissionError as e:
        raise _unreadable(path, e.strerror) from None


def _is_gzip(path: Path) -> bool:
    """Gzip bytes under a name that does not end in .gz (the reader would call them "not UTF-8")."""
    if path.name.endswith(".gz"):
        return False
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC
    return False


GZIP_MAGIC = b"\x1f\x8b"
_GZIP_FIX = "decompress it first (gunzip), or name it with a .gz suffix"


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a malformed line names file and line."""
    path = Path(path)
    require_file(path)
    with _open_checked(path, _open_binary) as f:
        for lineno, line in _numbered_lines(f, path):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(
                    f"malformed JSON ({e.msg} at column {e.colno})",
                    path=path,
                    line=lineno,
                    fix="each line must hold one JSON object",
                ) from None
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
            if lineno == 1 and _is_gzip(path):
                raise InputError("is gzip-compressed, not plain text", path=path, fix=_GZIP_FIX) from None
            raise InputError(
                f"not UTF-8 text ({e.reason} at byte {e.start})",
                path=path,
                line=lineno,
                fix="save the file as UTF-8",
            ) from None


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    require_file(path)
    with _open_checked(path, lambda p: _open_text(p, "rt")) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            if e.msg == "Extra data" and _looks_like_json_lines(path):
                raise InputError(
                    f"looks like JSON Lines (one object per line), but one JSON document is "
                    f"expected (extra data at line {e.lineno})",
                    path=path,
                    fix="wrap the objects in a list: [obj1, obj2, ...]",
                ) from None
            raise InputError(f"malformed JSON ({e.msg})", path=path, line=e.lineno) from None
        except UnicodeDecodeError as e:
            if _is_gzip(path):
                raise InputError("is gzip-compressed, not plain JSON", path=path, fix=_GZIP_FIX) from None
            raise InputError(
                f"not UTF-8 text ({e.reason})", path=path, fix="save the file as UTF-8"
            ) from None


def _looks_like_json_lines(path: Path) -> bool:
    """Every non-blank line is a JSON value of its own (and there are at least two)."""
    try:
        with _open_text(path, "rt") as f:
            lines = [ln for ln in f if ln.strip()]
        for ln in lines:
            json.loads(ln)
    except (ValueError, OSError):
        return False
    return len(lines) >= 2


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def count_lines(path: str | os.PathLike[str]) -> int:
    with _open_text(Path(path), "rt") as f:
        return sum(1 for line in f if line.strip())


def iter_records(path: str | os.PathLike[str], *, fix: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, InstructionRecord) for each line of a JSONL file of records; a line that is not
    one names the file and the line, with `fix`."""
    from harness.core.records import InstructionRecord

    for line, row in iter_jsonl(path):
        try:
            record = InstructionRecord.from_dict(row)
        except (ValueError, KeyError, TypeError, StopIteration) as e:
            raise InputError(str(e), path=Path(path), line=line, fix=fix) from None
        yield line, record


def read_records(path: str | os.PathLike[str], *, fix: str | None = None) -> list[Any]:
    """Every InstructionRecord of a JSONL file (`iter_records`)."""
    return [record for _, record in iter_records(path, fix=fix)]
