"""A worker's decisions on a shared ledger, in process against the sandbox's emulators."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
from rich.console import Console

from mediatask import Job, JobState
from mediatask.batch.runner import Batch, BatchOptions
from mediatask.batch.workers import Worker
from mediatask.cli.display import PlainDisplay
from mediatask.journal.postgres import OffLoop, PostgresJournal
from mediatask.journal.sqlite import JobRecord

pytestmark = pytest.mark.postgres

JOB = Job("a1d", "image-generator", (), {"prompt": "a lighthouse"})


def worker_on(ledger: PostgresJournal, client: Any, out: Path) -> Worker:
    display = PlainDisplay(Console(file=io.StringIO()))
    return Worker(Batch(client, ledger, BatchOptions(out), display), ledger)


async def test_a_submit_left_on_the_wire_by_a_dead_worker_is_uncertain_and_not_sent_again(
    postgres_url: str, mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    with PostgresJournal(postgres_url, lease_seconds=-1) as dead:  # its lease has run out
        dead.register("gone", JOB, line=1)
        dead.register("fresh", JOB, line=2)
        dead.claim(1)
        dead.submitting("gone", dead.marker("gone"))
    with PostgresJournal(postgres_url) as ledger:
        await worker_on(ledger, client, tmp_path).run()
        gone, fresh = ledger.get("gone"), ledger.get("fresh")
    assert gone is not None
    assert fresh is not None
    assert gone.state is JobState.UNCERTAIN
    assert gone.reason == "its worker stopped while its submit to A1D was on the wire"
    assert f"worker {dead.worker} stopped (its lease ran out)" in (gone.error or "")
    assert fresh.state is JobState.SUCCEEDED
    assert box.emulators["a1d"].stats["submissions"] == 1  # only the fresh job


class Ended(PlainDisplay):
    """A quiet display that tells the test when a job has ended."""

    def __init__(self) -> None:
        super().__init__(Console(file=io.StringIO()))
        self.event = trio.Event()

    def ended(self, record: JobRecord) -> None:
        super().ended(record)
        self.event.set()


class Watched(PostgresJournal):
    """A ledger that tells the test when a worker found nothing open."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.idle = trio.Event()

    def next_expiry(self) -> float | None:
        expiry = super().next_expiry()
        if expiry is None:
            self.idle.set()
        return expiry


async def test_a_staying_worker_runs_a_job_added_while_it_waits(
    postgres_url: str, mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    with Watched(postgres_url) as ledger, PostgresJournal(postgres_url) as service:
        ended = Ended()
        worker = Worker(Batch(client, ledger, BatchOptions(tmp_path), ended), ledger, stay=True)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(worker.run)  # nothing open: without stay it would return
                await trio.lowlevel.checkpoint()
                service.register("late", JOB)  # another service adds a job while it runs
                await ended.event.wait()
                nursery.cancel_scope.cancel()
        late = service.get("late")
    assert late is not None
    assert late.state is JobState.SUCCEEDED
    assert box.emulators["a1d"].stats["submissions"] == 1


class Waiting(PostgresJournal):
    """A ledger that tells the test (from any thread) when a worker found only others' jobs."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.waits = threading.Event()

    def next_expiry(self) -> float | None:
        expiry = super().next_expiry()
        if expiry is not None:
            self.waits.set()
        return expiry


async def test_an_idle_worker_returns_soon_after_another_workers_last_job_ends(
    postgres_url: str, mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    with (
        PostgresJournal(postgres_url) as ledger,
        Waiting(postgres_url) as side,
        PostgresJournal(postgres_url, lease_seconds=3600) as other,
    ):
        other.register("theirs", JOB)
        other.claim(1)  # held by the other worker for an hour
        idle = Worker(
            Batch(client, ledger, BatchOptions(tmp_path), Ended()),
            ledger,
            poll_seconds=3600,
            side=OffLoop(side),
        )
        with trio.fail_after(30):  # without the idle poll: an hour (the poll, the lease)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(idle.run)
                await trio.to_thread.run_sync(side.waits.wait)
                other.ended("theirs", JobState.FAILED, "done elsewhere")
                other.release("theirs")


class Gated(PostgresJournal):
    """A ledger whose claims wait, in the thread that runs them, until the test opens a gate."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.opened_in_time: bool | None = None

    def claim(self, limit: int) -> list[JobRecord]:
        self.entered.set()
        self.opened_in_time = self.gate.wait(timeout=10)
        return super().claim(limit)


async def test_a_claim_runs_off_the_event_loop(
    postgres_url: str, mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    with PostgresJournal(postgres_url) as ledger, Gated(postgres_url) as slow:
        worker = Worker(
            Batch(client, ledger, BatchOptions(tmp_path), Ended()), ledger, side=OffLoop(slow)
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker.run)
            # On the event loop, the claim would hold this task until its gate timed out.
            await trio.to_thread.run_sync(slow.entered.wait)
            slow.gate.set()
    assert slow.opened_in_time
