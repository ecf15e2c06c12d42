"""The request cache on a network filesystem: a rollback journal instead of WAL where /proc/mounts
says nfs/lustre/gpfs/cifs (or HARNESS_CACHE_JOURNAL says so), one file per writer (two processes
fill their own shard caches at once), the merge folding them into one, and a shard's cache reading
the experiment's on a miss without writing it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.backends.cache import CachedGenerator, filesystem_type, journal_mode, merge_caches
from harness.core.errors import ConfigError

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
fileserver:/export/home /home nfs4 rw,vers=4.2 0 0
10.0.0.1@tcp:/scratch /scratch lustre rw,flock 0 0
gpfs0 /gpfs gpfs rw 0 0
//nas/share /mnt/my\\040share cifs rw 0 0
/dev/sdb /home/local ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "fstype", "mode"),
    [
        ("/home/alice/runs/demo/cache/requests.sqlite", "nfs4", "delete"),
        ("/scratch/runs/x.sqlite", "lustre", "delete"),
        ("/gpfs/p/runs/x.sqlite", "gpfs", "delete"),
        ("/mnt/my share/runs/x.sqlite", "cifs", "delete"),
        ("/home/local/runs/x.sqlite", "ext4", "wal"),  # the longest mount point wins
        ("/tmp/runs/x.sqlite", "tmpfs", "wal"),
        ("/work/runs/x.sqlite", "ext4", "wal"),
    ],
)
def test_the_journal_follows_the_filesystem(path, fstype, mode):
    assert filesystem_type(Path(path), MOUNTS) == fstype
    assert journal_mode(Path(path), MOUNTS, env={}) == mode


def test_the_environment_forces_a_journal():
    assert journal_mode(Path("/tmp/x"), MOUNTS, env={"HARNESS_CACHE_JOURNAL": "delete"}) == "delete"
    assert journal_mode(Path("/home/a/x"), MOUNTS, env={"HARNESS_CACHE_JOURNAL": "wal"}) == "wal"
    with pytest.raises(ConfigError, match="HARNESS_CACHE_JOURNAL"):
        journal_mode(Path("/tmp/x"), MOUNTS, env={"HARNESS_CACHE_JOURNAL": "memory"})


# A generator whose text is a function of the request (control flow only: the cache is what is tested)
WRITER = textwrap.dedent("""
    import sys
    from harness.backends.base import ChatRequest, Results, SamplingParams
    from harness.backends.cache import CachedGenerator
    from harness.core.records import Generation, Message

    class Echo:
        name = "echo"
        def identity(self):
            return {"backend": "echo"}
        def generate(self, requests, on_result=None):
            results = Results(len(requests), on_result)
            for i, r in enumerate(requests):
                results.set_many([(i, Generation(r.id, "echo " + r.messages[0].content, "stop", 1, 1))])
            return results.done()
        def close(self):
            pass

    path, shard, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cache = CachedGenerator(Echo(), path)
    mode = cache._db.execute("PRAGMA journal_mode").fetchone()[0]
    # one request at a time: a commit each, as a real engine reports its results
    for k in range(n):
        cache.generate([ChatRequest(f"{shard}-{k}", (Message("user", f"shard {shard} doc {k}"),), SamplingParams())])
    cache.close()
    print(mode)
""")


def _requests(shard: int, n: int):
    from harness.backends.base import ChatRequest, SamplingParams
    from harness.core.records import Message

    return [
        ChatRequest(f"{shard}-{k}", (Message("user", f"shard {shard} doc {k}"),), SamplingParams())
        for k in range(n)
    ]


class Refuse:
    """Fails on any request: everything must come from the cache."""

    name = "echo"

    def identity(self):
        return {"backend": "echo"}

    def generate(self, requests, on_result=None):
        raise AssertionError(f"{len(requests)} request(s) missed the cache")

    def close(self):
        pass


def test_two_processes_fill_their_own_shard_caches_and_the_merge_holds_both(tmp_path):
    env = {**os.environ, "HARNESS_CACHE_JOURNAL": "delete", "PYTHONPATH": os.pathsep.join(sys.path)}
    shards = [tmp_path / "cache" / "shards" / f"d-{i:05d}-of-00002.sqlite" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(p), str(i), "150"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, p in enumerate(shards)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert [o[0].strip() for o in outs] == ["delete", "delete"]  # a rollback journal, no -wal/-shm files
    assert not list((tmp_path / "cache" / "shards").glob("*-wal"))

    dest = tmp_path / "cache" / "requests.sqlite"
    os.environ["HARNESS_CACHE_JOURNAL"] = "delete"
    try:
        assert merge_caches(dest, shards) == 300
        assert merge_caches(dest, shards) == 0  # folding again adds nothing
        with sqlite3.connect(dest) as db:
            assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == 300
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        merged = CachedGenerator(Refuse(), dest)
        for i in range(2):
            texts = [g.text for g in merged.generate(_requests(i, 150))]
            assert texts == [f"echo shard {i} doc {k}" for k in range(150)]
        merged.close()
    finally:
        del os.environ["HARNESS_CACHE_JOURNAL"]


def test_a_shard_cache_reads_the_experiments_on_a_miss_and_never_writes_it(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    experiment = tmp_path / "requests.sqlite"
    subprocess.run(
        [sys.executable, "-c", WRITER, str(experiment), "0", "5"], env=env, check=True, capture_output=True
    )
    before = experiment.read_bytes()
    own = tmp_path / "shard.sqlite"
    shard = CachedGenerator(Refuse(), own, fallback=experiment)
    assert [g.text for g in shard.generate(_requests(0, 5))] == [f"echo shard 0 doc {k}" for k in range(5)]
    shard.close()
    assert experiment.read_bytes() == before
