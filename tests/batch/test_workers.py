"""A worker sees its batch only through ``WorkerBatch``: a fake one, with no client, options or
observer behind it, is enough to load a manifest and work a shared ledger to its end."""

from __future__ import annotations

import attrs
import pytest
import trio

from mediatask import Job, JobState
from mediatask.batch.manifest import Entry, Manifest
from mediatask.batch.workers import Worker, WorkerBatch
from mediatask.journal.lifecycle import Action
from mediatask.journal.postgres import PostgresJournal
from mediatask.journal.sqlite import JobRecord

pytestmark = pytest.mark.postgres

JOB = Job("fake", "draw", (), {"prompt": "a lighthouse"})
MANIFEST = Manifest(tuple(Entry(n + 1, f"j{n}", JOB) for n in range(3)), ())


@attrs.define
class FakeBatch:
    """Only what :class:`WorkerBatch` asks for: each job it runs is failed in the ledger."""

    ledger: PostgresJournal
    concurrency: int = 2
    ceiling: tuple[str, int] | None = None
    calls: list[tuple[str, object]] = attrs.field(factory=list)
    ran: list[tuple[str, Action]] = attrs.field(factory=list)
    slot_free: list[bool] = attrs.field(factory=list)
    """While each job ran: whether another job could take a slot of :attr:`ceiling`'s scope."""

    def begin(self, manifest: Manifest) -> None:
        self.calls.append(("begin", len(manifest.entries)))

    def register(self, entry: Entry) -> JobRecord | None:
        return self.ledger.register(entry.id, entry.job, line=entry.line)

    def write_invalid(self) -> None:
        self.calls.append(("write_invalid", None))

    def decide(self, record: JobRecord) -> Action:
        return Action.SKIP if record.state is JobState.UNCERTAIN else Action.SUBMIT

    async def settle(self, records: list[JobRecord]) -> dict[str, Action]:
        return {}

    def orphaned(self, record: JobRecord) -> JobRecord:
        self.calls.append(("orphaned", record.id))
        self.ledger.ended(record.id, JobState.UNCERTAIN, "its worker stopped")
        return self.ledger.get(record.id) or record

    def shared_ceiling(self, record: JobRecord) -> tuple[str, int] | None:
        return self.ceiling

    async def run_one(self, record: JobRecord, action: Action, limit: trio.CapacityLimiter) -> None:
        self.calls.append(("run_one", (record.id, action)))
        self.ran.append((record.id, action))
        if self.ceiling is not None:
            scope, _ = self.ceiling
            self.slot_free.append(self.ledger.in_flight.take(scope, "probe", 1))
            self.ledger.in_flight.release("probe")
        if action is Action.SUBMIT:
            self.ledger.ended(record.id, JobState.FAILED, "ran by the fake batch")

    def write_results(self, manifest: Manifest | None) -> None:
        self.calls.append(("write_results", manifest))

    def started(self, total: int, done: int) -> None:
        self.calls.append(("started", (total, done)))

    def notice(self, text: str) -> None:
        self.calls.append(("notice", text))


def worker_for(batch: WorkerBatch, ledger: PostgresJournal) -> Worker:
    return Worker(batch, ledger)


async def test_a_worker_loads_and_runs_a_manifest_through_the_narrow_interface(
    postgres_url: str,
) -> None:
    with PostgresJournal(postgres_url) as ledger:
        batch = FakeBatch(ledger)
        worker = worker_for(batch, ledger)
        with trio.fail_after(30):
            await worker.load(MANIFEST)
            await worker.run()
        states = {record.id: record.state for record in ledger.records()}
    assert states == {"j0": JobState.FAILED, "j1": JobState.FAILED, "j2": JobState.FAILED}
    assert batch.calls[:2] == [("begin", 3), ("write_invalid", None)]
    assert batch.calls[2] == ("started", (3, 0))
    assert sorted(batch.ran) == [(f"j{n}", Action.SUBMIT) for n in range(3)]  # each once
    assert batch.calls[-1] == ("write_results", MANIFEST)


async def test_a_worker_asks_its_batch_about_a_job_a_dead_worker_left_on_the_wire(
    postgres_url: str,
) -> None:
    with PostgresJournal(postgres_url, lease_seconds=-1) as dead:  # its lease has run out
        dead.register("gone", JOB, line=1)
        dead.claim(1)
        dead.submitting("gone", dead.marker("gone"))
    with PostgresJournal(postgres_url) as ledger:
        batch = FakeBatch(ledger)
        with trio.fail_after(30):
            await worker_for(batch, ledger).run()
        gone = ledger.get("gone")
    assert gone is not None
    assert gone.state is JobState.UNCERTAIN
    assert ("orphaned", "gone") in batch.calls
    assert ("run_one", ("gone", Action.SKIP)) in batch.calls  # as its batch decided


async def test_a_worker_holds_the_shared_slot_its_batch_names_while_a_job_runs(
    postgres_url: str,
) -> None:
    with PostgresJournal(postgres_url) as ledger:
        batch = FakeBatch(ledger, concurrency=3, ceiling=("fake:key", 1))
        worker = worker_for(batch, ledger)
        with trio.fail_after(30):
            await worker.load(MANIFEST)
            await worker.run()
    assert batch.slot_free == [False, False, False]  # the one slot was the running job's
