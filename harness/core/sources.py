"""Public data sources, resolved to files on disk through one path, pinned where they name a commit.

A source is `hub:<owner>/<name>[@<revision>]` (a Hugging Face dataset repository),
`github:<owner>/<name>@<commit>` (files of a GitHub repository, read from its raw file server), or
a local directory laid out like that repository (what `huggingface-cli download <id> --local-dir
DIR` leaves). Every reader in the harness turns a source into a directory with `repo_dir` and then
reads that directory's data files, so a hub id, a mirror of it and a local copy go through the same
code; no dataset loading script is ever run (`datasets` >= 4 refuses them, and they hide what is read).

Offline, or on a cluster without Hub access, `HARNESS_HUB_MIRROR=ROOT` makes `hub:A/B` and
`github:A/B` read `ROOT/A/B/` (download each once with `huggingface-cli download A/B --repo-type
dataset --local-dir ROOT/A/B`). A copy made that way records the commit of every file in
`.cache/huggingface/download/*.metadata`; when a source is pinned, a copy of another commit is
refused. A source without a commit warns once per process that upstream changes would go unseen.

URL lists (Dolma publishes its data as lists of file URLs) are streamed one file at a time with
`open_stream`, never downloaded whole; `file://` URLs and plain paths work the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import gzip
import io
import json
import logging
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from harness.core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

MIRROR_ENV = "HARNESS_HUB_MIRROR"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_warned: set[str] = set()


@dataclasses.dataclass(frozen=True)
class SourceRef:
    kind: str  # "hub" | "github" | "local"
    repo: str  # owner/name, or the local directory
    revision: str | None = None

    @property
    def pinned(self) -> bool:
        return self.revision is not None and bool(_SHA.match(self.revision))

    def __str__(self) -> str:
        if self.kind == "local":
            return self.repo
        return f"{self.kind}:{self.repo}" + (f"@{self.revision}" if self.revision else "")


def is_remote(source: str) -> bool:
    return source.startswith(("hub:", "github:"))


def parse_ref(source: str, *, key: str, revision: str | None = None) -> SourceRef:
    """`hub:A/B[@rev]`, `github:A/B@commit` or a local directory; `revision` (a config key) wins
    over an `@rev` in the string."""
    if not is_remote(source):
        return SourceRef("local", str(Path(source).expanduser()))
    kind, _, rest = source.partition(":")
    repo, _, at = rest.partition("@")
    rev = revision or at or None
    if not _REPO.match(repo):
        raise ConfigError(
            f"{key}: {source!r} is not {kind}:<owner>/<name>[@<revision>]",
            fix=f"for example {kind}:allenai/dolma@<40-hex commit>",
        )
    if kind == "github" and not (rev and _SHA.match(rev)):
        raise ConfigError(
            f"{key}: {source!r} names no commit; a GitHub source must be pinned",
            fix=f"append @<40-hex commit> to {source}",
        )
    return SourceRef(kind, repo, rev)


def warn_if_unpinned(ref: SourceRef, key: str) -> None:
    """Warn once per process about a remote source that names no commit."""
    if ref.kind == "local" or ref.pinned or str(ref) in _warned:
        return
    _warned.add(str(ref))
    log.warning(
        "%s: %s names no commit, so a change upstream would change results unseen; pin it with "
        "@<commit> (`harness sources --resolve` prints the current commit of every source)",
        key,
        ref,
    )


def mirror_dir(ref: SourceRef) -> Path | None:
    root = os.environ.get(MIRROR_ENV)
    if not root or ref.kind == "local":
        return None
    path = Path(root).expanduser() / ref.repo
    return path if path.is_dir() else None


def recorded_commit(directory: Path) -> str | None:
    """The commit a `huggingface-cli download --local-dir` copy was made from (None when it
    records none; several commits: the most common, as a partial update leaves)."""
    meta = directory / ".cache" / "huggingface" / "download"
    commits: dict[str, int] = {}
    if meta.is_dir():
        for f in meta.rglob("*.metadata"):
            first = f.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
            if _SHA.match(first):
                commits[first] = commits.get(first, 0) + 1
    return max(commits, key=commits.__getitem__) if commits else None


def on_disk(
    source: str, *, key: str, revision: str | None = None, need: list[str] | None = None
) -> Resolved | None:
    """`source` resolved without the network, or None when only a download would find it: a local copy
    or the mirror's copy (as `repo_dir` resolves them, a copy of another commit than the pin refused),
    or huggingface_hub's cache when its snapshot holds a file matching each of `need`. What is on disk
    is checked when the experiment loads; a download waits for the stage that reads the source."""
    ref = parse_ref(source, key=key, revision=revision)
    if ref.kind == "local" or mirror_dir(ref) is not None:
        return repo_dir(source, key=key, revision=revision)
    if ref.kind != "hub":
        return None
    try:
        from huggingface_hub import snapshot_download

        path = Path(
            snapshot_download(ref.repo, repo_type="dataset", revision=ref.revision, local_files_only=True)
        )
    except Exception:  # not in the cache (LocalEntryNotFoundError), or no usable cache: the stage downloads
        return None
    try:  # a snapshot holding other files only: the stage downloads what is missing
        for pattern in need or []:
            match_files(path, pattern, key=key)
    except ConfigError:
        return None
    return Resolved(ref, path, path.name if _SHA.match(path.name) else ref.revision)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A source on disk: its directory, and the commit it was read at when known."""

    ref: SourceRef
    directory: Path
    commit: str | None

    def describe(self) -> dict[str, str | None]:
        return {"source": str(self.ref), "commit": self.commit, "directory": str(self.directory)}


def repo_dir(
    source: str, *, key: str, revision: str | None = None, allow_patterns: list[str] | None = None
) -> Resolved:
    """The source as a local directory: a local copy as it is, the mirror's copy, or a download
    of the files matching `allow_patterns` at the pinned revision (cached by huggingface_hub)."""
    ref = parse_ref(source, key=key, revision=revision)
    if ref.kind == "local":
        path = Path(ref.repo)
        if not path.is_dir():
            raise ConfigError(
                f"{key}: {source} is not a directory laid out like the hub repository",
                fix="download it with `huggingface-cli download <id> --repo-type dataset --local-dir DIR`",
            )
        return Resolved(ref, path, recorded_commit(path))
    warn_if_unpinned(ref, key)
    local = mirror_dir(ref)
    if local is not None:
        commit = recorded_commit(local)
        if ref.pinned and commit is not None and commit != ref.revision:
            raise ConfigError(
                f"{key}: the copy of {ref.repo} in {local} is commit {commit[:12]}, the config pins "
                f"{ref.revision[:12]}",
                fix=f"download the pinned commit (--revision {ref.revision}) into {local}",
            )
        return Resolved(ref, local, commit or (ref.revision if ref.pinned else None))
    if ref.kind == "github":
        return Resolved(ref, _github_files(ref, allow_patterns or [], key=key), ref.revision)
    return _hub_snapshot(ref, allow_patterns, key=key)


def _hub_snapshot(ref: SourceRef, allow_patterns: list[str] | None, *, key: str) -> Resolved:
    offline_fix = (
        f"set {MIRROR_ENV} to a folder holding {ref.repo}/ (huggingface-cli download {ref.repo} "
        f"--repo-type dataset --local-dir $HARNESS_HUB_MIRROR/{ref.repo}), or point {key} at a local copy"
    )
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as e:  # a declared dependency; only a broken environment lands here
        raise ConfigError(f"{key}: cannot import huggingface_hub ({e})") from None
    try:
        path = snapshot_download(
            ref.repo, repo_type="dataset", revision=ref.revision, allow_patterns=allow_patterns
        )
    except LocalEntryNotFoundError:
        raise ConfigError(
            f"{key}: {ref} is not reachable (offline) and not in the local cache", fix=offline_fix
        ) from None
    except Exception as e:  # network, gated repository, unknown revision: one line
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"{key}: cannot download {ref} ({type(e).__name__}: {first})", fix=offline_fix
        ) from None
    directory = Path(path)
    # the snapshot folder is named after the commit it holds
    commit = directory.name if _SHA.match(directory.name) else ref.revision
    return Resolved(ref, directory, commit)


def _github_files(ref: SourceRef, patterns: list[str], *, key: str) -> Path:
    """Download the named files of a pinned GitHub commit into the user cache (once)."""
    cache = (
        Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))
        / "github"
        / ref.repo
        / str(ref.revision)
    )
    for name in patterns:
        if any(c in name for c in "*?["):
            raise ConfigError(f"{key}: a GitHub source needs exact file paths, got the pattern {name!r}")
        target = cache / name
        if target.is_file():
            continue
        url = f"https://raw.githubusercontent.com/{ref.repo}/{ref.revision}/{urllib.parse.quote(name)}"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ConfigError(
                f"{key}: cannot download {url} ({e})",
                fix=f"set {MIRROR_ENV} to a folder holding {ref.repo}/{name}",
            ) from None
        tmp.replace(target)
    return cache


def match_files(directory: Path, patterns: str | list[str], *, key: str) -> list[Path]:
    """Files under `directory` whose path relative to it matches one of the glob patterns (`*`
    crosses folders, so `*cc_en_head*` finds `cc_en_head/cc_en_head-0000.json.gz`), sorted."""
    pats = [patterns] if isinstance(patterns, str) else list(patterns)
    hits = sorted(
        {
            p
            for p in directory.rglob("*")
            if p.is_file()
            and ".cache" not in p.relative_to(directory).parts
            and any(fnmatch.fnmatchcase(p.relative_to(directory).as_posix(), pat) for pat in pats)
        }
    )
    if not hits:
        have = sorted(
            p.relative_to(directory).as_posix()
            for p in directory.rglob("*")
            if p.is_file() and ".cache" not in p.relative_to(directory).parts
        )[:6]
        raise ConfigError(
            f"{key}: no file in {directory} matches {', '.join(pats)}",
            fix=f"files there: {', '.join(have) or 'none'}",
        )
    return hits


def read_url_list(path: Path, pattern: str | None) -> list[str]:
    """The URLs of a URL-list file (one per line, `#` comments), those matching `pattern` (a glob
    over the URL's path) when given."""
    urls = [
        u.strip()
        for u in path.read_text(encoding="utf-8").splitlines()
        if u.strip() and not u.startswith("#")
    ]
    if pattern:
        urls = [
            u
            for u in urls
            if fnmatch.fnmatchcase(urllib.parse.urlparse(u).path, pattern) or fnmatch.fnmatchcase(u, pattern)
        ]
    return urls


def open_stream(location: str, *, key: str, timeout: float = 120) -> IO[str]:
    """A text stream over a URL (http, https, file) or a path, gunzipped on the fly when the name
    ends in .gz: the file is read as it arrives, never stored."""
    parsed = urllib.parse.urlparse(location)
    name = parsed.path if parsed.scheme else location
    try:
        if parsed.scheme in ("http", "https", "file"):
            raw: IO[bytes] = urllib.request.urlopen(location, timeout=timeout)
        else:
            raw = open(location, "rb")
    except OSError as e:
        raise InputError(
            f"cannot open ({e})",
            path=location,
            fix=f"check the URL or download the file and point {key} at a local folder",
        ) from None
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if name.endswith(".gz") else raw  # type: ignore[assignment]
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace")


JSONL_SUFFIXES = (
    ".jsonl",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson",
)  # one JSON value a line (Dolma's .json.gz too)


def iter_jsonl_lines(location: str, *, key: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a JSONL stream, blank lines skipped; a cut or corrupt gzip member
    fails with the file named."""
    with open_stream(location, key=key) as f:
        try:
            for lineno, line in enumerate(f, start=1):
                if line.strip():
                    yield lineno, line
        except (EOFError, OSError, gzip.BadGzipFile) as e:
            raise InputError(
                f"the file ends early or is not valid gzip ({e})", path=location, fix="download it again"
            ) from None


def iter_json_lines(location: str, *, key: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of a JSONL stream; a line that is not JSON gives None."""
    for lineno, line in iter_jsonl_lines(location, key=key):
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError:
            yield lineno, None
