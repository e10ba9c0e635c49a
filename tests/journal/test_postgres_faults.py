"""Faults injected from outside into workers that share a PostgreSQL ledger.

Each test runs ``batch MANIFEST --journal postgresql://…`` workers (short leases) on a mixed
A1D/Claid/A2E batch against standalone emulators that count the submissions of each job, on a
PostgreSQL server of this module's own (restarted, frozen and thawed here), and injects one
fault: a worker paused past its lease, a worker's database traffic stalled right at its intent
to submit, every session terminated, the server restarted fast and immediate, the server frozen
while a worker is interrupted. Whatever the fault, at the end (:meth:`Fleet.check`):

- no job's task was created twice;
- no finished job was made worse (a job whose outputs were saved ends succeeded);
- every job succeeded, or is honestly uncertain (its emulator received its submit once);
- every saved output has the bytes its emulator serves;
- ``results.jsonl`` has one line per job, that of its final state in the ledger;
- a plain re-run of the batch creates nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from psycopg.rows import dict_row
from support.postgres import (
    PostgresServer,
    Relay,
    own_inputs,
    running_server,
    served,
    submit_identity,
)

from mediatask.batch.runner import RESULTS_FILE
from mediatask.journal.postgres import PostgresJournal
from mediatask.testing import Standalone, mediatask_process, standalone_emulators

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.subprocess]

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
JOBS = 24
LEASE = 2.0
TASK_SECONDS = 0.5
KEYS = {"a1d": "fault-a1d-key", "claid": "fault-claid-key", "a2e": "sk_fault_a2e_key"}
WAIT_SECONDS = 60.0
"""The longest any condition below is waited for (a deadline, never a pace)."""
INTENT = b"\x00\x00\x00\nsubmitting"
"""A job state of ``submitting`` as a statement's parameter carries it (its length, then its
text): the intent to submit, and nothing else a worker sends (``'submitting'`` in a statement's
text is quoted)."""


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture
def emulators() -> Iterator[dict[str, Standalone]]:
    with standalone_emulators(KEYS, TASK_SECONDS) as emulators:
        yield emulators


@attrs.define
class Fleet:
    """Workers on one batch and one ledger, and what to check at the end."""

    folder: Path
    url: str
    emulators: dict[str, Standalone]
    env: dict[str, str]
    lines: list[dict[str, Any]]
    errors: list[str] = attrs.field(factory=list)
    started: list[subprocess.Popen[bytes]] = attrs.field(factory=list)

    def start(self, url: str | None = None) -> subprocess.Popen[bytes]:
        """A ``batch --journal`` worker (on ``url``, e.g. through a relay)."""
        options = ["-o", "out", "--lease", f"{LEASE:g}s", "--concurrency", "4", "-q"]
        command = ("batch", "jobs.jsonl", "--journal", url or self.url, *options)
        worker = mediatask_process(*command, cwd=self.folder, env=self.env, errors=True)
        self.started.append(worker)
        return worker

    def stop(self) -> None:
        """End every worker a failed test left running (paused ones too)."""
        for worker in self.started:
            if worker.poll() is None:
                worker.send_signal(signal.SIGCONT)
                worker.kill()
            worker.communicate()

    def finish(self, *workers: subprocess.Popen[bytes], codes: tuple[int, ...] = (0, 1)) -> None:
        """Wait for each worker to end; none may end with a traceback or an odd status."""
        for worker in workers:
            said = worker.communicate(timeout=WAIT_SECONDS * 3)[1].decode()
            self.errors.append(said)
            assert "Traceback" not in said, said[-3000:]
            assert worker.returncode in codes, (worker.returncode, said[-3000:])

    def rows(self) -> dict[str, dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as db:
            return {row["id"]: row for row in db.execute("SELECT * FROM jobs").fetchall()}

    def events(self) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as db:
            return db.execute("SELECT * FROM events ORDER BY seq").fetchall()

    def held(self, worker: subprocess.Popen[bytes], *states: str) -> list[str]:
        """The jobs ``worker`` holds a live claim on, in one of ``states``."""
        with psycopg.connect(self.url, row_factory=dict_row) as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE worker LIKE %s AND state = ANY(%s) "
                "AND lease_until > extract(epoch from clock_timestamp())",
                (f"%:{worker.pid}:%", list(states)),
            ).fetchall()
        return [row["id"] for row in rows]

    def done(self, jobs: list[str]) -> bool:
        """True when every one of ``jobs`` has ended and no worker holds it."""
        rows = self.rows()
        open_states = ("pending", "submitting", "submitted")
        return all(
            rows[job]["state"] not in open_states and rows[job]["lease_until"] is None
            for job in jobs
        )

    def states(self, jobs: list[str]) -> list[tuple[str, str, float | None]]:
        """Each job's state and lease, to show what a wait was stuck on."""
        rows = self.rows()
        return [(rows[job]["state"], rows[job]["worker"], rows[job]["lease_until"]) for job in jobs]

    def created(self) -> dict[str, int]:
        """How many tasks each job's submits created, by job id."""
        provider = {line["id"]: line["provider"] for line in self.lines}
        ledgers = {name: emulator.submits() for name, emulator in self.emulators.items()}
        return {
            job_id: ledgers[provider[job_id]]
            .get(submit_identity(self.folder, row), {})
            .get("created", 0)
            for job_id, row in self.rows().items()
        }

    def check(self) -> None:
        """Everything the module's docstring promises, after the fault and the workers."""
        rows, events = self.rows(), self.events()
        provider = {line["id"]: line["provider"] for line in self.lines}
        ledgers = {name: emulator.submits() for name, emulator in self.emulators.items()}
        seen = {
            job_id: ledgers[provider[job_id]].get(submit_identity(self.folder, row), {})
            for job_id, row in rows.items()
        }
        states = Counter(row["state"] for row in rows.values())
        print(f"{JOBS} jobs: {dict(states)}")
        assert len(rows) == JOBS
        twice = {job_id: n for job_id, n in seen.items() if n.get("created", 0) > 1}
        history = [e for e in events if e["job_id"] in twice]
        assert not twice, f"created twice: {twice}; {history}; {self.errors}"
        saved = {event["job_id"] for event in events if event["kind"] == "downloaded"}
        worse = {job_id: rows[job_id]["state"] for job_id in saved}
        assert set(worse.values()) <= {"succeeded"}, f"finished jobs made worse: {worse}"
        for job_id, row in rows.items():
            if row["state"] == "uncertain":
                assert seen[job_id].get("received") == 1, (job_id, seen[job_id], row["error"])
            else:
                assert row["state"] == "succeeded", (job_id, row["state"], row["error"])
                assert seen[job_id].get("created") == 1, (job_id, seen[job_id])
            for output in json.loads(row["outputs"]) if row["state"] == "succeeded" else []:
                saved_bytes = (self.folder / output["path"]).read_bytes()
                assert (
                    hashlib.sha256(saved_bytes).digest()
                    == hashlib.sha256(served(output["url"])).digest()
                )
        text = (self.folder / "out" / RESULTS_FILE).read_text()
        results = [json.loads(line) for line in text.splitlines()]
        lines = Counter(line["job"] for line in results)
        assert lines == Counter(list(rows)), f"results lines per job: {lines}"
        assert {line["job"]: line["status"] for line in results} == {
            job_id: row["state"] for job_id, row in rows.items()
        }
        before = self.created()
        self.finish(self.start())  # a plain re-run
        assert self.created() == before, "a plain re-run created tasks"


@pytest.fixture
def fleet(
    server: PostgresServer,
    emulators: dict[str, Standalone],
    tmp_path: Path,
    mediatask_home: Path,
    mixed_job: Callable[[str, int], dict[str, Any]],
) -> Iterator[Fleet]:
    lines = [mixed_job("f", n) for n in range(JOBS)]
    own_inputs(tmp_path, lines, SAMPLE)
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {**os.environ, "MEDIATASK_HOME": str(mediatask_home)}
    for emulator in emulators.values():
        env.update(emulator.env)
    url = server.create_database(f"faults_{secrets.token_hex(4)}")
    PostgresJournal(url).close()  # its tables, for the first look at them
    fleet = Fleet(tmp_path, url, emulators, env, lines)
    yield fleet
    fleet.stop()


def until(condition: Callable[[], Any], what: str, show: Callable[[], object] = lambda: "") -> Any:
    """Wait for ``condition`` to hold (asked every 10 ms); fail after :data:`WAIT_SECONDS`,
    saying what ``show`` finds then."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := condition()):
        assert time.monotonic() < deadline, f"waited {WAIT_SECONDS:g}s for {what}: {show()}"
        time.sleep(0.01)
    return found


def test_a_worker_paused_past_its_lease_touches_nothing_another_worker_took(fleet: Fleet) -> None:
    paused = fleet.start()
    held = until(lambda: fleet.held(paused, "pending"), "the worker's first claims")
    paused.send_signal(signal.SIGSTOP)  # holding jobs it has not sent yet
    others = [fleet.start() for _ in range(2)]
    try:
        # The others adopt its jobs once its leases run out, finish them and let them go.
        until(lambda: fleet.done(held), "the others to finish its jobs", lambda: fleet.states(held))
    finally:
        paused.send_signal(signal.SIGCONT)
    fleet.finish(paused, *others)
    fleet.check()


def test_a_worker_stalled_at_its_intent_to_submit_sends_nothing_twice(
    fleet: Fleet, server: PostgresServer
) -> None:
    relay = Relay((server.host, server.port), trigger=INTENT, trigger_seconds=LEASE * 3)
    with relay:
        stalled = fleet.start(relay.url(fleet.url))
        until(relay.triggered.is_set, "the stalled worker's first intent to submit")
        others = [fleet.start() for _ in range(2)]
        fleet.finish(stalled, *others)
    fleet.check()


def test_workers_survive_their_sessions_terminated(fleet: Fleet) -> None:
    workers = [fleet.start() for _ in range(3)]
    for _ in range(3):
        until(lambda: any(fleet.held(w, "pending", "submitted") for w in workers), "claims")
        with psycopg.connect(fleet.url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        time.sleep(LEASE / 2)  # a fault's spacing, not a synchronisation
    fleet.finish(*workers)
    fleet.check()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_workers_survive_a_postgresql_restart(
    fleet: Fleet, server: PostgresServer, mode: str
) -> None:
    workers = [fleet.start() for _ in range(3)]
    until(lambda: any(fleet.held(w, "submitted") for w in workers), "submitted jobs")
    server.restart(mode)
    fleet.finish(*workers)
    fleet.check()


HANG_GUARD = 60
"""Seconds a worker is given to exit after Ctrl-C while its database answers nothing."""


def test_an_interrupted_worker_exits_at_once_while_the_database_is_frozen(
    fleet: Fleet, server: PostgresServer
) -> None:
    relay = Relay((server.host, server.port))
    with relay:
        frozen = fleet.start(relay.url(fleet.url))
        until(lambda: fleet.held(frozen, "submitted"), "the worker's submitted jobs")
        relay.hold()  # the database answers it nothing
        frozen.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        # The database stays frozen until the worker has exited: a worker that waited for it
        # would never exit. How soon it does is a figure (docs/distributed.md), not a check: a
        # loaded machine's scheduling is no part of this test's claim.
        with contextlib.suppress(subprocess.TimeoutExpired):
            frozen.wait(timeout=HANG_GUARD)
        code = frozen.poll()
        print(f"exited {time.monotonic() - signalled:.2f} s after SIGINT")  # a figure, not a check
        relay.flow()
        fleet.finish(frozen, codes=(130,))
    assert code == 130, f"still running {HANG_GUARD} s after Ctrl-C, the database frozen"
    fleet.finish(fleet.start())  # another worker finishes the batch
    fleet.check()
