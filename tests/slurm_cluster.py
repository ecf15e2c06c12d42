"""A real two-node SLURM cluster on 127.0.0.1, for tests and for trying the SLURM executor by hand.

Debian's `slurm-wlm` and `munge` packages: one `munged` with its own key and socket, one `slurmctld`
and two `slurmd -N <node>` on distinct ports (`NodeAddr=127.0.0.1`, `CommunicationParameters=
NoInAddrAny`), all state, spool, logs and pid files in one directory, no cgroups, no accounting
database (so `sacct` is unavailable; finished jobs stay visible to `scontrol` for `MinJobAge`).
Every daemon runs in the foreground as our own child and is stopped by its own pid.

    python tests/slurm_cluster.py start DIR   # prints `export SLURM_CONF=...`; daemons keep running
    python tests/slurm_cluster.py stop DIR    # stops the daemons recorded in DIR/pids.json
(`scripts/local_slurm.sh start|stop [DIR]` wraps these.)
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
INSTALL_HINT = "apt-get install -y slurm-wlm munge"


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None and not Path("/usr/sbin", b).exists()]


def install_packages() -> str | None:
    """Install slurm-wlm and munge with apt-get; None when done, else why it could not."""
    if os.geteuid() != 0:
        return f"not root, so cannot run `{INSTALL_HINT}`; run it with sudo"
    if shutil.which("apt-get") is None:
        return f"no apt-get on this machine; install SLURM and munge by hand ({INSTALL_HINT} on Debian)"
    proc = subprocess.run(
        ["apt-get", "install", "-y", "slurm-wlm", "munge"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if proc.returncode != 0 or missing_binaries():
        return f"`{INSTALL_HINT}` failed: {proc.stderr.strip()[-300:]}"
    return None


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _bin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def write_conf(root: Path) -> Path:
    """slurm.conf (and an empty cgroup.conf) for NODES on 127.0.0.1, everything under `root`."""
    ctld_port, *node_ports = _free_ports(1 + len(NODES))
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
    conf = f"""# written by tests/slurm_cluster.py: a two-node cluster on 127.0.0.1
ClusterName=harness-local
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
AccountingStorageType=accounting_storage/none
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


def _munge_key(root: Path) -> Path:
    mdir = root / "munge"
    mdir.mkdir(mode=0o700, exist_ok=True)
    key = mdir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    return key


def _spawn(cmd: list[str], log: Path, detach: bool) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detach
        )


def _wait(what: str, ok, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs if p.exists())
    raise RuntimeError(f"local SLURM: {what} not ready after {timeout:.0f}s\n{tails}")


def start(root: Path, detach: bool = False, timeout: float = 60.0) -> Cluster:
    """Write the config, start munged, slurmctld and one slurmd per node; wait until sinfo shows them idle."""
    t0 = time.monotonic()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    conf = write_conf(root)
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
    except BaseException:
        stop(cluster)
        raise
    cluster.start_seconds = time.monotonic() - t0
    (root / "pids.json").write_text(json.dumps(cluster.pids), encoding="utf-8")
    return cluster


def stop(cluster: Cluster) -> None:
    """Stop every daemon by its own pid: slurmd first, then slurmctld, munged last."""
    order = sorted(cluster.pids, key=lambda n: (n == "munged", n == "slurmctld"))
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
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python tests/slurm_cluster.py start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if argv[0] == "start":
        if missing := missing_binaries():
            print(
                f"local SLURM: {', '.join(missing)} not found; install them: {INSTALL_HINT}", file=sys.stderr
            )
            return 2
        cluster = start(root, detach=True)
        print(
            f"# local SLURM up in {cluster.start_seconds:.1f}s (nodes {', '.join(NODES)}); stop: "
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
