"""The shared ledger on a real PostgreSQL server: claims, leases, adoption, fencing, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask import Job, JobState, TaskRef
from mediatask.cli import cli
from mediatask.journal.postgres import (
    LeaseLostError,
    LedgerError,
    OffLoop,
    PostgresJournal,
    safe_url,
)
from mediatask.testing import Standalone, mediatask_command, standalone_emulator

pytestmark = pytest.mark.postgres

JOB_TIME = datetime(2026, 1, 1, tzinfo=UTC)
JOB = Job("a1d", "image-generator", (), {"prompt": "a lighthouse"})


def fill(url: str, n: int) -> None:
    with PostgresJournal(url) as ledger:
        for i in range(n):
            ledger.register(f"j{i}", JOB, line=i + 1)


def test_two_workers_never_claim_the_same_job(postgres_url: str) -> None:
    fill(postgres_url, 5)
    with PostgresJournal(postgres_url) as one, PostgresJournal(postgres_url) as two:
        first = [r.id for r in one.claim(3)]
        second = [r.id for r in two.claim(3)]
        assert first == ["j0", "j1", "j2"]
        assert second == ["j3", "j4"]
        assert one.claim(3) == []
        assert {r.worker for r in one.records()} == {one.worker, two.worker}


def test_registering_the_same_manifest_twice_adds_nothing(postgres_url: str) -> None:
    fill(postgres_url, 3)
    fill(postgres_url, 3)
    with PostgresJournal(postgres_url) as ledger:
        assert ledger.counts() == {"pending": 3}
        assert [e.kind for e in ledger.events("j0")] == ["registered"]


def test_a_job_whose_lease_ran_out_is_adopted_and_its_task_kept(postgres_url: str) -> None:
    # A lease of -1 s has run out the moment it is taken: no waiting on the clock.
    fill(postgres_url, 1)
    task = TaskRef("a1d", "task_1", JOB_TIME, "image-generator")
    with PostgresJournal(postgres_url, lease_seconds=-1) as dead:
        (claimed,) = dead.claim(1)
        dead.submitting(claimed.id, dead.marker(claimed.id))
        dead.submitted(claimed.id, task)
    with PostgresJournal(postgres_url, lease_seconds=60) as heir:
        (adopted,) = heir.claim(1)  # the dead worker never renewed: its lease ran out
        assert (adopted.state, adopted.task) == (JobState.SUBMITTED, task)
        assert heir.events("j0")[-1].kind == "adopted"
        assert dead.worker in heir.events("j0")[-1].detail
        expiry = heir.next_expiry()
        assert expiry is not None
        assert expiry > 30


def test_a_worker_whose_job_was_taken_over_does_not_submit(postgres_url: str) -> None:
    fill(postgres_url, 1)
    with (
        PostgresJournal(postgres_url, lease_seconds=-1) as slow,
        PostgresJournal(postgres_url, lease_seconds=60) as heir,
    ):
        slow.claim(1)
        assert [r.id for r in heir.claim(1)] == ["j0"]
        with pytest.raises(LeaseLostError, match="another worker has taken it over"):
            slow.submitting("j0", slow.marker("j0"))
        with pytest.raises(LeaseLostError):
            slow.ended("j0", JobState.FAILED, "must not land")  # refused: heir holds it
        record = heir.get("j0")
        assert record is not None
        assert (record.state, record.worker) == (JobState.PENDING, heir.worker)


def test_a_paused_worker_cannot_touch_a_job_another_worker_finished_and_let_go(
    postgres_url: str,
) -> None:
    fill(postgres_url, 1)
    task = TaskRef("a1d", "t-1", datetime(2026, 1, 1, tzinfo=UTC))
    with (
        PostgresJournal(postgres_url, lease_seconds=-1) as paused,
        PostgresJournal(postgres_url, lease_seconds=60) as heir,
    ):
        paused.claim(1)  # then paused past its lease
        heir.claim(1)
        heir.submitting("j0", heir.marker("j0"))
        heir.submitted("j0", task)
        heir.ended("j0", JobState.SUCCEEDED, "")
        heir.release("j0")  # finished and let go: lease_until is NULL again
        history = len(heir.events("j0"))
        with pytest.raises(LeaseLostError):
            paused.submitting("j0", paused.marker("j0"))
        with pytest.raises(LeaseLostError):
            paused.ended("j0", JobState.FAILED, "must not land")
        with pytest.raises(LeaseLostError):
            paused.keep("j0")  # before a download: not re-downloaded by the paused worker
        paused.release("j0")
        record = heir.get("j0")
        assert record is not None
        assert (record.state, record.worker) == (JobState.SUCCEEDED, heir.worker)
        assert len(heir.events("j0")) == history  # a refused write logs nothing either
        (row,) = heir._rows("SELECT lease_until FROM jobs WHERE id = 'j0'")
        assert row["lease_until"] is None
        assert paused.claim(1) == []  # a finished job is claimed by nobody


def test_each_claim_raises_the_fencing_token(postgres_url: str) -> None:
    fill(postgres_url, 1)
    with PostgresJournal(postgres_url, lease_seconds=-1) as first:
        first.claim(1)
        with PostgresJournal(postgres_url, lease_seconds=60) as second:
            second.claim(1)
            first.release("j0")  # an old claim cannot let go of the new one's lease either
            assert first.held("j0")
            second.release("j0")
            epochs = second._rows("SELECT lease_epoch FROM jobs WHERE id = 'j0'")
            assert epochs == [{"lease_epoch": 2}]
            assert second.take("j0") is not None
            with pytest.raises(LeaseLostError):
                first.submitting("j0", first.marker("j0"))


def test_nothing_open_means_nothing_to_wait_for(postgres_url: str) -> None:
    fill(postgres_url, 1)
    with PostgresJournal(postgres_url) as ledger:
        assert ledger.next_expiry() == 0
        ledger.claim(1)
        ledger.ended("j0", JobState.FAILED, "refused")
        ledger.release("j0")
        assert ledger.next_expiry() is None


def test_a_password_never_reaches_a_message() -> None:
    assert safe_url("postgresql://u:s3cret@db:5433/x") == "postgresql://u:***@db:5433/x"
    result = CliRunner().invoke(
        cli, ["jobs", "list", "--journal", "postgresql://u:s3cret@127.0.0.1:1/x"]
    )
    assert result.exit_code == 1
    assert "s3cret" not in result.output
    assert "cannot open the journal postgresql://" in result.output
    assert "@127.0.0.1:1/x: connection failed" in result.output


def test_a_url_without_the_driver_says_what_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "psycopg.py"
    blocker.write_text("raise ImportError('not installed')\n")
    result = subprocess.run(  # our own command, no shell
        [sys.executable, "-m", "mediatask", "jobs", "list", "--journal", "postgresql://db/x"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: a postgresql:// journal needs the PostgreSQL driver: "
        "pip install 'mediatask[postgres]'"
    ]


def test_batch_journal_refuses_a_file() -> None:
    result = CliRunner().invoke(cli, ["worker", "--journal", "ledger.sqlite", "-o", "out"])
    assert result.exit_code == 1
    assert "--journal takes a shared ledger's postgresql:// URL" in result.output


def test_two_batch_processes_share_one_manifest(
    postgres_url: str, standalone_a1d: Standalone, tmp_path: Path
) -> None:
    lines = [
        {"id": f"p{n}", "provider": "a1d", "operation": "image-generator",
         "params": {"prompt": f"sky {n}"}}
        for n in range(12)
    ]  # fmt: skip
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    command = [sys.executable, "-m", "mediatask", "batch", "jobs.jsonl", "-o", "out"]
    command += ["--journal", postgres_url, "--concurrency", "3", "--json"]
    env = {**os.environ, **standalone_a1d.env}
    processes = [
        subprocess.Popen(  # our own command, no shell
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outcomes = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, err.decode()[-2000:]
        assert json.loads(out)["counts"]["succeeded"] + json.loads(out)["counts"]["skipped"] == 12
    assert standalone_a1d.stats()["submissions"] == 12  # each job submitted once, by one worker
    results = [
        json.loads(line) for line in (tmp_path / "out/results.jsonl").read_text().splitlines()
    ]
    assert sorted(r["job"] for r in results) == [f"p{n}" for n in sorted(range(12), key=str)]
    assert all(r["status"] == "succeeded" and r["worker"] for r in results)
    listed = mediatask_command("jobs", "list", "--journal", postgres_url, "--json", env=env)
    assert {job["state"] for job in json.loads(listed.stdout)} == {"succeeded"}


def test_a_worker_runs_what_another_service_put_in_the_ledger(
    postgres_url: str, standalone_a1d: Standalone, tmp_path: Path
) -> None:
    with PostgresJournal(postgres_url) as service:
        for n in range(3):
            service.register(f"s{n}", Job("a1d", "image-generator", (), {"prompt": f"x {n}"}))
        service.register("gone", JOB)
        service.ended("gone", JobState.FAILED, "refused by the provider")
    env = {**os.environ, **standalone_a1d.env}
    result = mediatask_command(
        "worker", "--journal", postgres_url, "-o", str(tmp_path / "out"), "--json", env=env
    )
    summary = json.loads(result.stdout)
    assert summary["counts"]["succeeded"] == 3
    assert summary["counts"]["failed"] == 1  # left as it was: the worker runs open jobs only
    assert result.returncode == 1
    assert standalone_a1d.stats()["submissions"] == 3
    assert "--journal postgresql://" in summary["next"][0]["command"]


def test_a_worker_leaves_one_results_line_per_job_whatever_the_file_held(
    postgres_url: str, standalone_a1d: Standalone, tmp_path: Path
) -> None:
    with PostgresJournal(postgres_url) as service:
        for n in range(3):
            service.register(f"s{n}", Job("a1d", "image-generator", (), {"prompt": f"x {n}"}))
    env = {**os.environ, **standalone_a1d.env}
    out = tmp_path / "out"
    mediatask_command("worker", "--journal", postgres_url, "-o", str(out), env=env)
    results = out / "results.jsonl"
    lines = results.read_text().splitlines()
    # A worker killed before its line for s2, and a stale worker's second line for s0.
    results.write_text("\n".join([lines[0], lines[0].replace("succeeded", "failed"), lines[1]]))

    mediatask_command("worker", "--journal", postgres_url, "-o", str(out), env=env)

    written = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((line["job"], line["status"]) for line in written) == [
        ("s0", "succeeded"),
        ("s1", "succeeded"),
        ("s2", "succeeded"),
    ]
    assert standalone_a1d.stats()["submissions"] == 3


def test_batch_retry_failed_resubmits_only_jobs_no_worker_holds(
    postgres_url: str, standalone_a1d: Standalone, tmp_path: Path
) -> None:
    prompts = {f"r{n}": {"prompt": f"r {n}"} for n in range(2)}
    lines = [
        {"id": job_id, "provider": "a1d", "operation": "image-generator", "params": params}
        for job_id, params in prompts.items()
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with PostgresJournal(postgres_url) as other:
        for n, (job_id, params) in enumerate(prompts.items()):
            other.register(job_id, Job("a1d", "image-generator", (), params), line=n + 1)
            other.ended(job_id, JobState.FAILED, "refused by the provider")
        other._execute("UPDATE jobs SET lease_until = 1e12, worker = ? WHERE id = 'r1'", ("x",))
    env = {**os.environ, **standalone_a1d.env}
    result = mediatask_command(
        "batch", str(tmp_path / "jobs.jsonl"), "-o", str(tmp_path / "out"), "--journal",
        postgres_url, "--retry-failed", "--json", env=env,
    )  # fmt: skip
    counts = json.loads(result.stdout)["counts"]
    assert (counts["succeeded"], counts["failed"]) == (1, 1)  # r1 is held by a live worker "x"
    assert standalone_a1d.stats()["submissions"] == 1


def test_a_ledger_that_goes_away_is_a_one_line_error(postgres_url: str) -> None:
    with PostgresJournal(postgres_url) as ledger:
        (row,) = ledger._rows("SELECT pg_backend_pid() AS pid")
        with PostgresJournal(postgres_url) as admin:
            admin._rows("SELECT pg_terminate_backend(?)", (row["pid"],))
        with pytest.raises(LedgerError, match=r"^the ledger postgresql://\S+ failed: ") as caught:
            ledger.get("j0")
        assert "\n" not in str(caught.value)


def test_a_bad_manifest_line_counts_against_a_shared_batch(
    postgres_url: str, standalone_a1d: Standalone, tmp_path: Path
) -> None:
    good = {"id": "g", "provider": "a1d", "operation": "image-generator", "params": {"prompt": "g"}}
    (tmp_path / "jobs.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    result = mediatask_command(
        "batch", str(tmp_path / "jobs.jsonl"), "-o", str(tmp_path / "out"), "--journal",
        postgres_url, "--json", env=standalone_a1d.env,
    )  # fmt: skip
    assert result.returncode == 1  # the invalid line is not ok
    assert json.loads(result.stdout)["counts"]["invalid"] == 1
    written = (tmp_path / "out/results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["status"] for line in written) == ["invalid", "succeeded"]


def test_status_wait_and_watch_find_a_task_in_the_shared_ledger(
    postgres_url: str, tmp_path: Path
) -> None:
    # A2E needs a task's operation to find it: only the ledger's record can give it here.
    with standalone_emulator("a2e", "sk_ledger_a2e_key", 0.3) as a2e:
        env = {**a2e.env, "MEDIATASK_HOME": str(tmp_path / "home")}
        submitted = mediatask_command(
            "submit", "a2e", "text-to-image", "-p", "prompt=sea", "--json", "--no-log", env=env
        )
        task = TaskRef.from_json(json.loads(submitted.stdout)["task"])
        with PostgresJournal(postgres_url) as service:
            service.register("shared", Job("a2e", "text-to-image", (), {"prompt": "sea"}))
            service.submitting("shared")
            service.submitted("shared", task)
        alone = mediatask_command("status", task.handle, "--json", env=env)
        assert alone.returncode == 1
        assert "the task's operation is needed" in alone.stderr

        def command(*args: str) -> subprocess.CompletedProcess[str]:
            return mediatask_command(*args, task.handle, "--journal", postgres_url, env=env)

        status = command("status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["handle"] == task.handle
        waited = command("wait", "--json")
        assert waited.returncode == 0, waited.stderr
        assert json.loads(waited.stdout)["outputs"]
        watched = command("watch")
        assert watched.returncode == 0, watched.stderr
        assert watched.stdout.splitlines()[-1].startswith(f"{task.handle}  ")
        missing = mediatask_command(
            "status", "a2e:unknown", "--journal", postgres_url + "x", env=env
        )
    assert missing.returncode == 1
    assert "cannot open the journal" in missing.stderr
    with PostgresJournal(postgres_url) as ledger:
        record = ledger.get("shared")
    assert record is not None
    assert record.status == "succeeded"  # what the commands learned went to the ledger


def test_off_loop_statements_keep_their_connection_until_the_last_one_ends(
    postgres_url: str,
) -> None:
    with PostgresJournal(postgres_url) as ledger:
        side = OffLoop(ledger.sibling())
        assert side.ledger.worker == ledger.worker  # one worker's claims, on two connections
        side._lock.acquire()  # a statement abandoned by its caller, still running
        side.close()  # does not pull its connection from under it
        assert not side.ledger._db.closed
        side._lock.release()
        side.close()
        assert side.ledger._db.closed


def test_a_sibling_writes_under_the_claims_its_first_connection_took(postgres_url: str) -> None:
    fill(postgres_url, 2)
    with PostgresJournal(postgres_url) as ledger, ledger.sibling() as side:
        (claimed,) = side.claim(1)  # taken on the side connection, as a worker does
        assert ledger.leases.epochs == side.leases.epochs == {claimed.id: 1}
        ledger.noted(claimed.id, "note", "written under the side's claim")
        ledger.release(claimed.id)
        assert side.leases.epochs == {}
        with PostgresJournal(postgres_url) as other:
            assert [r.id for r in other.claim(2)] == ["j0", "j1"]  # let go through either one


def test_in_flight_slots_are_shared_and_freed_with_the_lease(postgres_url: str) -> None:
    fill(postgres_url, 3)
    with PostgresJournal(postgres_url) as one, PostgresJournal(postgres_url) as two:
        one.claim(1)
        two.claim(2)
        assert one.in_flight.take("a1d:key", "j0", 1)
        assert not two.in_flight.take("a1d:key", "j1", 1)  # one slot, held by the other worker
        assert two.in_flight.take("a1d:other-key", "j1", 1)  # another key, a ceiling of its own
        one.in_flight.release("j0")
        assert two.in_flight.take("a1d:key", "j2", 2)
        assert not one.in_flight.take("a1d:other-key", "j0", 1)
        two.release("j1")  # its lease let go: its slot is stale for whoever asks next
        assert one.in_flight.take("a1d:other-key", "j0", 1)


def test_a_ledger_gives_ctrl_c_back_to_the_handler_it_wrapped(postgres_url: str) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)  # not ignored, as in a terminal
    before = signal.getsignal(signal.SIGINT)
    with PostgresJournal(postgres_url) as ledger:
        ledger.counts()  # a statement on the main thread wraps the handler
        assert signal.getsignal(signal.SIGINT) != before
    assert signal.getsignal(signal.SIGINT) == before  # a later trio.run installs its own


def test_ctrl_c_after_a_run_that_used_the_ledger_is_python_s_again(postgres_url: str) -> None:
    # The CLI opens the ledger before its trio run and closes it after; a statement inside the
    # run wraps the run's signal receiver, which is gone once the run has ended.
    import signal

    from mediatask.cli.interrupt import run_cancellable

    signal.signal(signal.SIGINT, signal.default_int_handler)  # not ignored, as in a terminal
    with PostgresJournal(postgres_url) as ledger:  # its first statements wrap Python's handler

        async def work() -> str:
            ledger.counts()
            return "done"

        assert run_cancellable(work) == "done"
        with pytest.raises(KeyboardInterrupt):  # not trio's RunFinishedError
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_transaction_stays_interruptible_after_its_first_statement() -> None:
    # A transaction runs its statements inside its own: a signal while it commits must still
    # stop it (the database may not answer the COMMIT).
    import os
    import signal

    from mediatask.journal.postgres.connection import _StopSignal, _StopWatch

    def transaction() -> None:
        with watch.statement():  # BEGIN … COMMIT
            with watch.statement():  # a statement of the transaction
                pass
            os.kill(os.getpid(), signal.SIGINT)  # while the COMMIT waits

    signal.signal(signal.SIGINT, lambda signum, frame: None)  # the event loop's, say
    watch = _StopWatch()
    with pytest.raises(_StopSignal):
        transaction()
    assert watch.stopped
    watch.release()
