"""`slurm_jobs._from_sacct` against a real `sacct`: the local two-node cluster of tests/slurm_cluster.py
started with accounting (a private mariadbd and slurmdbd). Real jobs (one that succeeds, one that
exits 1, one cancelled while it runs, a 3-task array with a failing task, a job depending on the
failed one) are read back from the accounting database, and `query` gives the stages the same
statuses as the scontrol fallback does for the same jobs. Then what the database has not caught up
with: a job it does not list yet, a dependant whose record still says "Dependency" after its parent
failed. Without accounting, `_from_sacct` gives way (None) to scontrol."""

from __future__ import annotations

import time

import pytest

from harness.core.slurm_jobs import _from_sacct, _from_scontrol, query

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


@pytest.fixture(scope="module")
def accounting_slurm(tmp_path_factory: pytest.TempPathFactory):
    """The local cluster with accounting, for this module, stopped by its daemons' pids. Where
    slurmdbd, mariadb-server or SLURM itself is missing it installs them with apt-get as root;
    where that is impossible the tests fail with the reason: a sacct test that did not run is
    not a sacct test that passed."""
    import slurm_cluster

    if missing := slurm_cluster.missing_binaries(accounting=True):
        if reason := slurm_cluster.install_packages(accounting=True):
            pytest.fail(f"no SLURM accounting ({', '.join(missing)} missing): {reason}", pytrace=False)
    cluster = slurm_cluster.start(tmp_path_factory.mktemp("slurm-acct"), accounting=True)
    print(f"\nlocal SLURM with accounting: up in {cluster.start_seconds:.1f}s at {cluster.root}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(cluster.conf))  # what _from_sacct and scontrol read
        try:
            yield cluster
        finally:
            slurm_cluster.stop(cluster)


def _until(what: str, ok, timeout: float = 60.0, seen=lambda: ""):
    """Poll `ok()` until it returns something true; that value. `seen()` says what was there last."""
    deadline = time.monotonic() + timeout
    while True:
        if value := ok():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s; last seen: {seen()}")
        time.sleep(0.2)


def _sacct_lines(cluster, *job_ids: str) -> list[str]:
    out = cluster.run("sacct", "-n", "-X", "-P", "-o", "JobID,State,Reason", "-j", ",".join(job_ids))
    return out.splitlines()


@pytest.fixture(scope="module")
def jobs(accounting_slurm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The jobs, submitted once, and run until the accounting database has every one's last state:
    {"ok", "fails", "cancelled", "array", "dependant", "cancelled_dependant"} -> job id."""
    out = tmp_path_factory.mktemp("acct-jobs")
    t0 = time.monotonic()

    def sbatch(*args: str) -> str:
        return accounting_slurm.run("sbatch", "--parsable", "-o", f"{out}/%j.out", *args).strip()

    ids = {
        "ok": sbatch("--wrap", "true"),
        "fails": sbatch("--wrap", "exit 1"),
        "cancelled": sbatch("--wrap", "sleep 300"),  # cancelled as soon as it runs
        "array": sbatch("--array=0-2", "--wrap", 'test "$SLURM_ARRAY_TASK_ID" != 1'),
    }
    ids["dependant"] = sbatch(f"--dependency=afterok:{ids['fails']}", "--wrap", "true")
    # as harness.core.slurm submits a dependant: SLURM cancels it once its parent has failed
    ids["cancelled_dependant"] = sbatch(
        f"--dependency=afterok:{ids['fails']}", "--kill-on-invalid-dep=yes", "--wrap", "true"
    )

    def state(job_id: str) -> str:
        return accounting_slurm.run("scontrol", "show", "job", "-o", job_id).split("JobState=")[1].split()[0]

    _until("the job to cancel running", lambda: state(ids["cancelled"]) == "RUNNING")
    accounting_slurm.run("scancel", ids["cancelled"])

    expected = {
        ids["ok"],
        ids["fails"],
        ids["cancelled"],
        ids["dependant"],
        ids["cancelled_dependant"],
        *(f"{ids['array']}_{i}" for i in range(3)),
    }

    def settled() -> bool:
        """The database itself (not the scontrol stand-in for what sacct lacks) has every job's end
        (the dependant that is never cancelled: its pending record; the reason there is
        "DependencyNeverSatisfied" only if the record was written after its parent failed)."""
        rows = {r.split("|")[0]: r.split("|")[1:] for r in _sacct_lines(accounting_slurm, *ids.values())}
        return set(rows) == expected and all(
            state.split()[0] in TERMINAL or (jid == ids["dependant"] and state == "PENDING")
            for jid, (state, _reason) in rows.items()
        )

    _until(
        "every job's last state in sacct", settled, seen=lambda: _sacct_lines(accounting_slurm, *ids.values())
    )
    # scontrol can lag behind: a cancelled job is COMPLETING there while its processes are killed
    _until(
        "every job's last state in scontrol",
        lambda: all(
            i.status not in ("pending", "running") for i in _from_scontrol(list(ids.values())).values()
        ),
    )
    print(f"\nsacct test jobs: submitted and in the database, ended, in {time.monotonic() - t0:.1f}s")
    return ids


def test_finished_jobs_states_and_exit_codes(jobs):
    infos = _from_sacct([jobs["ok"], jobs["fails"], jobs["cancelled"]])
    assert set(infos) == {jobs["ok"], jobs["fails"], jobs["cancelled"]}
    ok, fails, cancelled = infos[jobs["ok"]], infos[jobs["fails"]], infos[jobs["cancelled"]]
    assert (ok.state, ok.exit_code, ok.status) == ("COMPLETED", "0:0", "ok")
    assert (fails.state, fails.exit_code, fails.status) == ("FAILED", "1:0", "failed")
    # sacct says "CANCELLED by 0" (the uid that cancelled it): the state word alone is kept
    assert (cancelled.state, cancelled.status) == ("CANCELLED", "failed")
    assert "FAILED (exit 1:0)" in fails.describe()


def test_array_tasks_are_keyed_by_task(jobs):
    aid = jobs["array"]
    infos = _from_sacct([aid])
    assert sorted(infos) == [f"{aid}_0", f"{aid}_1", f"{aid}_2"]
    assert [infos[f"{aid}_{i}"].state for i in range(3)] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [infos[f"{aid}_{i}"].status for i in range(3)] == ["ok", "failed", "ok"]
    assert infos[f"{aid}_1"].exit_code == "1:0"
    assert _from_sacct([f"{aid}_1"]) == {f"{aid}_1": infos[f"{aid}_1"]}  # one task asked by its key


def test_a_job_after_a_failed_one_is_blocked(jobs, accounting_slurm):
    # without kill_invalid_depend in SchedulerParameters (the local cluster does not set it) the
    # job stays PENDING for ever; with it, or with sbatch --kill-on-invalid-dep=yes (as
    # harness.core.slurm submits), SLURM cancels it; the reason is DependencyNeverSatisfied either way
    kills = "kill_invalid_depend" in accounting_slurm.run("scontrol", "show", "config")
    infos = _from_sacct([jobs["dependant"], jobs["cancelled_dependant"]])
    pending, cancelled = infos[jobs["dependant"]], infos[jobs["cancelled_dependant"]]
    assert pending.state == ("CANCELLED" if kills else "PENDING")
    assert cancelled.state == "CANCELLED"
    for info in (pending, cancelled):
        assert info.reason == "DependencyNeverSatisfied" and info.status == "blocked", info
        assert "DependencyNeverSatisfied" in info.describe()


def test_query_gives_the_statuses_the_scontrol_fallback_gives(jobs):
    ids = list(jobs.values())
    from_sacct = query(ids)
    assert from_sacct == _from_sacct(ids)  # query read sacct here (accounting is on)
    from_scontrol = _from_scontrol(ids)
    assert sorted(from_sacct) == sorted(from_scontrol)
    assert {k: (v.state, v.status) for k, v in from_sacct.items()} == {
        k: (v.state, v.status) for k, v in from_scontrol.items()
    }
    assert sorted(v.status for v in from_sacct.values()) == sorted(
        ["ok", "failed", "failed", "ok", "failed", "ok", "blocked", "blocked"]
    )


def test_a_job_not_in_the_database_yet_is_pending_not_unknown(accounting_slurm):
    """slurmctld sends slurmdbd a new job's record a few seconds after sbatch returns; meanwhile the
    job (and a held array's pending tasks, "<id>_[0-2%2]" in sacct once it is there) is pending."""
    held = accounting_slurm.run("sbatch", "--parsable", "-H", "-o", "/dev/null", "--wrap", "true").strip()
    array = accounting_slurm.run(
        "sbatch", "--parsable", "-H", "--array=0-2%2", "-o", "/dev/null", "--wrap", "true"
    ).strip()
    try:
        infos = query([held, array])  # at once: from scontrol where the database has nothing yet
        assert {k: v.status for k, v in infos.items()} == {
            held: "pending",
            **{f"{array}_{i}": "pending" for i in range(3)},
        }, infos
        rows = {f"{held}|PENDING|JobHeldUser", f"{array}_[0-2%2]|PENDING|JobHeldUser"}
        _until(
            "the held jobs in sacct",
            lambda: set(_sacct_lines(accounting_slurm, held, array)) == rows,
            seen=lambda: _sacct_lines(accounting_slurm, held, array),
        )
        infos = _from_sacct([held, array])
        assert sorted(infos) == sorted([held, *(f"{array}_{i}" for i in range(3))])
        assert {(v.state, v.reason, v.status) for v in infos.values()} == {
            ("PENDING", "JobHeldUser", "pending")
        }
    finally:
        accounting_slurm.run("scancel", held, array)


def test_a_dependant_recorded_while_its_parent_waited_is_blocked_once_the_parent_failed(accounting_slurm):
    """The database keeps a pending job's reason as it was written ("Dependency" while its parent
    had not ended); once the parent has failed, _from_sacct reports the dependant blocked."""
    run = accounting_slurm.run
    parent = run("sbatch", "--parsable", "-H", "-o", "/dev/null", "--wrap", "exit 1").strip()
    child = run("sbatch", "--parsable", "-o", "/dev/null", f"--dependency=afterok:{parent}", "--wrap", "true")
    child = child.strip()
    try:
        _until(
            "the dependant's pending record in sacct",
            lambda: _sacct_lines(accounting_slurm, child) == [f"{child}|PENDING|Dependency"],
            seen=lambda: _sacct_lines(accounting_slurm, child),
        )
        run("scontrol", "release", parent)
        _until(
            "the dependant never satisfied in scontrol",
            lambda: "Reason=DependencyNeverSatisfied" in run("scontrol", "show", "job", "-o", child),
        )
        info = _from_sacct([child])[child]
        assert (info.state, info.reason, info.status) == ("PENDING", "DependencyNeverSatisfied", "blocked")
        assert query([child]) == {child: info}
        print(f"\nsacct's own record of the blocked dependant: {_sacct_lines(accounting_slurm, child)}")
    finally:
        run("scancel", child, parent)


def test_without_accounting_sacct_gives_way_to_scontrol(local_slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(local_slurm.conf))
    assert _from_sacct(["1"]) is None  # "Slurm accounting storage is disabled": query uses scontrol
