"""A real two-node SLURM cluster on 127.0.0.1, for tests and for trying the SLURM executor by hand.

Debian's `slurm-wlm` and `munge` packages: one `munged` with its own key and socket, one `slurmctld`
and two `slurmd -N <node>` on distinct ports (`NodeAddr=127.0.0.1`, `CommunicationParameters=
NoInAddrAny`), all state, spool, logs and pid files in one directory, no cgroups, no accounting
database (so `sacct` is unavailable; finished jobs stay visible to `scontrol` for `MinJobAge`).
Every daemon runs in the foreground as our own child and is stopped by its own pid.

With `accounting=True` (`start DIR --accounting`) the cluster also keeps accounting, so `sacct`
works: a private `mariadbd` (Debian's `mariadb-server`; its own datadir, socket and TCP port on
127.0.0.1 under DIR/mysql), a `slurmdbd -D` (Debian's `slurmdbd`) storing into it through its own
`slurmdbd.conf`, and `AccountingStorageType=accounting_storage/slurmdbd` in slurm.conf; the cluster
is registered with `sacctmgr -i add cluster` before slurmctld starts.

    python tests/slurm_cluster.py start DIR [--accounting]  # prints `export SLURM_CONF=...`
    python tests/slurm_cluster.py stop DIR    # stops the daemons recorded in DIR/pids.json
(`scripts/local_slurm.sh start|stop [DIR] [--accounting]` wraps these.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

NODES = ("node1", "node2")
CPUS_PER_NODE = 2
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scontrol")
PACKAGES = ("slurm-wlm", "munge")
INSTALL_HINT = "apt-get install -y slurm-wlm munge"
# what accounting adds: the database daemon, its client and installer, slurmdbd and its clients
ACCOUNTING_BINARIES = ("mariadbd", "mariadb-install-db", "mariadb", "slurmdbd", "sacct", "sacctmgr")
ACCOUNTING_PACKAGES = ("slurmdbd", "mariadb-server")
ACCOUNTING_HINT = "apt-get install -y slurm-wlm munge slurmdbd mariadb-server"
CLUSTER_NAME = "harness-local"
DB_NAME = "slurm_acct_db"
DB_USER = "slurm"
STOP_ORDER = ("slurmctld", "slurmdbd", "mariadbd", "munged")  # after every slurmd


def missing_binaries(accounting: bool = False) -> list[str]:
    wanted = BINARIES + (ACCOUNTING_BINARIES if accounting else ())
    return [b for b in wanted if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]


def install_packages(accounting: bool = False) -> str | None:
    """Install slurm-wlm and munge (and, for accounting, slurmdbd and mariadb-server) with apt-get;
    None when done, else why it could not."""
    hint = ACCOUNTING_HINT if accounting else INSTALL_HINT
    if os.geteuid() != 0:
        return f"not root, so cannot run `{hint}`; run it with sudo"
    if shutil.which("apt-get") is None:
        return f"no apt-get on this machine; install SLURM and munge by hand ({hint} on Debian)"
    proc = subprocess.run(
        ["apt-get", "install", "-y", *PACKAGES, *(ACCOUNTING_PACKAGES if accounting else ())],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if proc.returncode != 0 or (missing := missing_binaries(accounting)):
        why = proc.stderr.strip()[-300:] if proc.returncode else f"still no {', '.join(missing)}"
        return f"`{hint}` failed: {why}"
    return None


def _free_ports(n: int, avoid: tuple[int, ...] = ()) -> list[int]:
    """`n` distinct free ports on 127.0.0.1, none of them in `avoid` (ports handed out before)."""
    while True:
        socks = [socket.socket() for _ in range(n)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", 0))
            ports = [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()
        if not set(ports) & set(avoid):
            return ports


def _bin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def write_conf(root: Path, dbd_port: int | None = None, taken: tuple[int, ...] = ()) -> Path:
    """slurm.conf (and an empty cgroup.conf) for NODES on 127.0.0.1, everything under `root`; with
    `dbd_port`, accounting goes to the slurmdbd listening there. The daemons' ports avoid `taken`."""
    ctld_port, *node_ports = _free_ports(1 + len(NODES), avoid=(*taken, *([dbd_port] if dbd_port else [])))
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for node in NODES:
        (root / "spool" / node).mkdir(exist_ok=True)
    nodes = "\n".join(
        f"NodeName={n} NodeAddr=127.0.0.1 NodeHostname={host} Port={p} CPUs={CPUS_PER_NODE} "
        f"RealMemory=4000 State=UNKNOWN"
        for n, p in zip(NODES, node_ports)
    )
    accounting = (
        "AccountingStorageType=accounting_storage/none"
        if dbd_port is None
        else "AccountingStorageType=accounting_storage/slurmdbd\n"
        f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={dbd_port}\n"
        f"AccountingStoragePass={root}/munge/munge.socket"  # the munged that slurmdbd's clients use
    )
    conf = f"""# written by tests/slurm_cluster.py: a two-node cluster on 127.0.0.1
ClusterName={CLUSTER_NAME}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
CommunicationParameters=NoInAddrAny
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=86400
KillWait=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
{accounting}
JobCompType=jobcomp/none
SchedulerParameters=sched_interval=1
{nodes}
PartitionName=debug Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""
    path = root / "slurm.conf"
    path.write_text(conf, encoding="utf-8")
    (root / "cgroup.conf").write_text("# no cgroups in the local test cluster\n", encoding="utf-8")
    return path


@dataclass
class Cluster:
    """A running local cluster: its directory, environment (SLURM_CONF) and the daemons' pids."""

    root: Path
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    start_seconds: float = 0.0

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, check=False, timeout=120
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def succeeds(self, *args: str) -> bool:
        """Whether the command exits 0 (its output dropped)."""
        proc = subprocess.run(list(args), env=self.env, capture_output=True, check=False, timeout=120)
        return proc.returncode == 0


def _munge_key(root: Path) -> Path:
    mdir = root / "munge"
    mdir.mkdir(mode=0o700, exist_ok=True)
    key = mdir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    return key


def _spawn(cmd: list[str], log: Path, detach: bool, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
            env=env,
        )


def _wait(what: str, ok, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs if p.exists())
    raise RuntimeError(f"local SLURM: {what} not ready after {timeout:.0f}s\n{tails}")


def write_dbd_conf(root: Path, dbd_port: int, db_port: int, password: str) -> Path:
    """slurmdbd.conf (next to slurm.conf, where slurmdbd looks for it; mode 600 as it demands): the
    daemon on 127.0.0.1:`dbd_port`, storing into the private mariadbd on 127.0.0.1:`db_port`."""
    host = socket.gethostname().split(".")[0]
    conf = f"""# written by tests/slurm_cluster.py: accounting for the local cluster
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
DbdHost={host}
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=root
PidFile={root}/slurmdbd.pid
LogFile={root}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser={DB_USER}
StoragePass={password}
StorageLoc={DB_NAME}
"""
    path = root / "slurmdbd.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(conf, encoding="utf-8")
    return path


def _sql(root: Path, statements: str) -> subprocess.CompletedProcess:
    """Run SQL as the database's root over its socket (the socket's unix-user login)."""
    return subprocess.run(
        [
            _bin("mariadb"),
            "--no-defaults",
            f"--socket={root}/mysql/mysql.sock",
            "-u",
            "root",
            "-e",
            statements,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _start_database(cluster: Cluster, db_port: int, password: str, detach: bool) -> None:
    """A fresh datadir (mariadb-install-db), `mariadbd` in the foreground on 127.0.0.1:`db_port` and
    its own socket, and the database user slurmdbd logs in as over TCP."""
    root, logs = cluster.root, cluster.root / "log"
    mysql = root / "mysql"
    shutil.rmtree(mysql / "data", ignore_errors=True)  # a restart in the same DIR starts a fresh database
    (mysql / "data").mkdir(parents=True, exist_ok=True)
    common = ["--no-defaults", f"--datadir={mysql}/data", "--user=root"]
    proc = subprocess.run(
        [_bin("mariadb-install-db"), *common, "--skip-test-db", "--auth-root-authentication-method=socket"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mariadb-install-db exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    db = _spawn(
        [
            _bin("mariadbd"),
            *common,
            f"--socket={mysql}/mysql.sock",
            f"--port={db_port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--pid-file={mysql}/mariadbd.pid",
            f"--log-error={logs}/mariadbd.log",
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
        ],
        logs / "mariadbd.out",
        detach,
    )
    cluster.pids["mariadbd"] = db.pid
    _wait("mariadbd", lambda: _sql(root, "SELECT 1").returncode == 0, 60, [logs / "mariadbd.log"])
    user = f"'{DB_USER}'@'127.0.0.1'"
    proc = _sql(root, f"CREATE USER {user} IDENTIFIED BY '{password}'; GRANT ALL ON {DB_NAME}.* TO {user};")
    if proc.returncode != 0:
        raise RuntimeError(f"creating the slurmdbd database user failed: {proc.stderr.strip()}")


def _start_slurmdbd(cluster: Cluster, detach: bool) -> None:
    """`slurmdbd -D` (it finds slurmdbd.conf beside $SLURM_CONF), then the cluster registered in it
    (which also gives it the root account and user)."""
    logs = cluster.root / "log"
    dbd = _spawn([_bin("slurmdbd"), "-D"], logs / "slurmdbd.out", detach, env=cluster.env)
    cluster.pids["slurmdbd"] = dbd.pid
    tails = [logs / "slurmdbd.log", logs / "slurmdbd.out", logs / "mariadbd.log"]
    _wait("slurmdbd", lambda: cluster.succeeds("sacctmgr", "-n", "-P", "list", "cluster"), 60, tails)
    cluster.run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME)


def start(root: Path, detach: bool = False, timeout: float = 60.0, accounting: bool = False) -> Cluster:
    """Write the config, start munged, slurmctld and one slurmd per node; wait until sinfo shows them
    idle. With `accounting`, mariadbd and slurmdbd start (after munged, before slurmctld) too, and
    the cluster is ready once slurmctld has registered with slurmdbd."""
    t0 = time.monotonic()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    dbd_port, db_port = _free_ports(2) if accounting else (None, None)
    conf = write_conf(root, dbd_port=dbd_port, taken=(db_port,) if db_port else ())
    password = os.urandom(12).hex()
    if accounting:
        write_dbd_conf(root, dbd_port, db_port, password)
    key = _munge_key(root)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(root=root, env=env)
    logs = root / "log"
    sock = root / "munge" / "munge.socket"
    try:
        munged = _spawn(
            [
                _bin("munged"),
                "-F",
                "-f",
                f"--socket={sock}",
                f"--key-file={key}",
                f"--pid-file={root}/munge/munged.pid",
                f"--seed-file={root}/munge/munged.seed",
                f"--log-file={logs}/munged.log",
            ],
            logs / "munged.out",
            detach,
        )
        cluster.pids["munged"] = munged.pid
        _wait("munged", sock.exists, 15, [logs / "munged.out", logs / "munged.log"])
        if accounting:
            _start_database(cluster, db_port, password, detach)
            _start_slurmdbd(cluster, detach)
        ctld = _spawn([_bin("slurmctld"), "-D", "-c", "-i", "-f", str(conf)], logs / "slurmctld.out", detach)
        cluster.pids["slurmctld"] = ctld.pid
        for node in NODES:
            d = _spawn(
                [_bin("slurmd"), "-D", "-N", node, "-f", str(conf)], logs / f"slurmd-{node}.out", detach
            )
            cluster.pids[f"slurmd-{node}"] = d.pid

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%N %t"], env=env, capture_output=True, text=True, check=False
            ).stdout.split()
            states = dict(zip(out[::2], out[1::2]))
            return all(states.get(n) == "idle" for n in NODES)

        _wait(
            "both nodes idle in sinfo",
            idle,
            timeout,
            [logs / "slurmctld.log", logs / "slurmctld.out", *(logs / f"slurmd-{n}.log" for n in NODES)],
        )
        if accounting:  # slurmctld has registered with slurmdbd: the cluster has its address there
            _wait(
                "slurmctld registered with slurmdbd",
                lambda: (
                    cluster.run("sacctmgr", "-n", "-P", "show", "cluster", "format=ControlPort").strip()
                    not in ("", "0")
                ),
                timeout,
                [logs / "slurmctld.log", logs / "slurmdbd.log"],
            )
    except BaseException:
        stop(cluster)
        raise
    cluster.start_seconds = time.monotonic() - t0
    (root / "pids.json").write_text(json.dumps(cluster.pids), encoding="utf-8")
    return cluster


def stop(cluster: Cluster) -> None:
    """Stop every daemon by its own pid: slurmd first, then slurmctld, slurmdbd, mariadbd, munged last."""
    order = sorted(cluster.pids, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else -1)
    for name in order:
        _stop_pid(cluster.pids[name])
    cluster.pids.clear()
    (cluster.root / "pids.json").unlink(missing_ok=True)


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (the stop command): poll for its exit
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done == pid:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    accounting = argv[2:] == ["--accounting"]
    if len(argv) not in (2, 3) or argv[0] not in ("start", "stop") or (len(argv) == 3 and not accounting):
        print("usage: python tests/slurm_cluster.py start DIR [--accounting] | stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if argv[0] == "start":
        if missing := missing_binaries(accounting):
            hint = ACCOUNTING_HINT if accounting else INSTALL_HINT
            print(f"local SLURM: {', '.join(missing)} not found; install them: {hint}", file=sys.stderr)
            return 2
        cluster = start(root, detach=True, accounting=accounting)
        print(
            f"# local SLURM{' with accounting' if accounting else ''} up in {cluster.start_seconds:.1f}s "
            f"(nodes {', '.join(NODES)}); stop: "
            f"scripts/local_slurm.sh stop {root}",
            file=sys.stderr,
        )
        print(f"export SLURM_CONF={cluster.conf}")
        return 0
    pids_file = root / "pids.json"
    if not pids_file.is_file():
        print(f"local SLURM: no {pids_file}; nothing to stop", file=sys.stderr)
        return 1
    stop(Cluster(root=root, env=dict(os.environ), pids=json.loads(pids_file.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
