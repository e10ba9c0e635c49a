"""Workers on a shared ledger: many processes, on many machines, finishing one batch together.

Each worker claims open jobs from a :class:`~mediatask.journal.postgres.PostgresJournal` (no two
workers ever hold the same job), renews its leases while it works, and decides about each job
exactly as a re-run of the batch on one machine would (:meth:`mediatask.batch.runner.Batch.decide`):
a pending job is submitted, with the intent journalled as the request goes on the wire; a
submitted one is followed and downloaded, never submitted again; one left ``submitting`` by a
worker that died is uncertain (looked up in the provider's list where it has one). A worker
stops when no job in the ledger is open, waiting for other workers' leases to run out first.

A provider's in-flight ceiling (``--max-in-flight``, or a documented ``max_concurrency``) is
shared the same way as its rate windows (:mod:`mediatask.batch.shared_limits`): per provider and key
digest, every worker together holds at most that many of its jobs.

A worker sees its batch only through :class:`WorkerBatch`: the batch's decisions, its runner,
its results file and its observer (a :class:`~mediatask.batch.runner.Batch` is one).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Protocol

import attrs
import trio

from mediatask.batch.manifest import Entry, Manifest
from mediatask.journal.backend import LedgerError, reconnecting
from mediatask.journal.lifecycle import Action
from mediatask.journal.postgres import OPEN_STATES, OffLoop, PostgresJournal
from mediatask.journal.sqlite import JobRecord, JobState, LeaseLostError

POLL_SECONDS = 1.0
"""How often a worker with room looks for new or abandoned jobs."""
IDLE_POLL_SECONDS = 0.1
"""How often a worker holding no job looks again while other workers still hold open ones: it
exits as soon as the last one ends (or adopts it), not up to :data:`POLL_SECONDS` later."""
FLIGHT_RECHECK_SECONDS = 0.1
"""How often a job waiting for a shared in-flight slot asks again."""
LET_GO_SECONDS = 0.5
"""How long a worker tries to let go of a job (or a slot) it is done with."""


class WorkerBatch(Protocol):
    """What a :class:`Worker` asks of the batch it works for, and nothing more."""

    @property
    def concurrency(self) -> int:
        """How many jobs the worker holds at once."""

    def begin(self, manifest: Manifest) -> None:
        """Start loading ``manifest``: its bad lines are found (and told) before any request."""

    def register(self, entry: Entry) -> JobRecord | None:
        """Put ``entry`` in the ledger once; ``None`` (and an invalid line) if it cannot be."""

    def write_invalid(self) -> None:
        """Write a results line for each invalid line of the manifest loaded."""

    def decide(self, record: JobRecord) -> Action:
        """What to do with a claimed ``record``, as a re-run on one machine would decide."""

    async def settle(self, records: list[JobRecord]) -> dict[str, Action]:
        """Look the uncertain ``records`` up in their providers' lists; what to do with each."""

    def orphaned(self, record: JobRecord) -> JobRecord:
        """A claimed ``record`` left ``submitting`` by a worker that stopped, made uncertain."""

    def shared_ceiling(self, record: JobRecord) -> tuple[str, int] | None:
        """The in-flight ceiling all workers share for ``record``'s provider: scope and size."""

    async def run_one(self, record: JobRecord, action: Action, limit: trio.CapacityLimiter) -> None:
        """Carry out ``action`` for a claimed ``record`` (under ``limit``), or report it skipped."""

    def write_results(self, manifest: Manifest | None) -> None:
        """Write the results file afresh from the ledger (``manifest``'s jobs, else all)."""

    def started(self, total: int, done: int) -> None:
        """The ledger has ``total`` jobs, ``done`` of them final already."""

    def notice(self, text: str) -> None:
        """Something the user must read."""


@attrs.define
class Worker:
    """One process's share of the work in a ledger, run through ``batch``'s decisions."""

    batch: WorkerBatch
    ledger: PostgresJournal
    poll_seconds: float = POLL_SECONDS
    stay: bool = False
    """Keep looking for new jobs when none is open (until cancelled), instead of returning."""
    side: OffLoop | None = None
    """Where claims, renewals and in-flight slots are asked for, off the event loop (shared
    with the rate limiters); ``None``: a connection of the worker's own while it runs."""
    _running: set[str] = attrs.field(init=False, factory=set)
    _manifest: Manifest | None = attrs.field(init=False, default=None)
    _wake: trio.Event = attrs.field(init=False, factory=trio.Event)

    async def load(self, manifest: Manifest) -> None:
        """Put the manifest's jobs in the ledger (once, by id and content) and make a re-run's
        decisions about the ones no worker is working on.

        A job left unfinished or timed out is followed again; one a flag asks for is reset to be
        submitted again; an uncertain one is looked up in its provider's list. Open jobs are
        left to the claims. Each decision is made and written under a claim of the job (so no
        other worker decides or works on it meanwhile), let go after.
        """
        self.batch.begin(manifest)
        self._manifest = manifest
        uncertain: list[JobRecord] = []
        try:
            for entry in manifest.entries:  # each tried again while the ledger is away
                await reconnecting(partial(self._load_one, entry, uncertain))
            self.batch.write_invalid()
            if uncertain:
                await self.batch.settle(uncertain)  # found: submitted; else uncertain, or pending
        finally:
            for record in uncertain:
                with contextlib.suppress(LedgerError):  # else its lease runs out
                    self.ledger.release(record.id)

    async def _load_one(self, entry: Entry, uncertain: list[JobRecord]) -> None:
        """Register one job, and make a re-run's decision about it under a claim."""
        if self.batch.register(entry) is None:
            return
        record = self.ledger.take(entry.id)  # None: another worker holds it
        if record is None:
            return
        if record.state in OPEN_STATES:
            self.ledger.release(record.id)
            return
        action = self.batch.decide(record)
        if action is Action.FOLLOW:
            self.ledger.reset(record.id, JobState.SUBMITTED, "followed again by a re-run")
        if action is Action.SETTLE:
            uncertain.append(record)
        else:
            self.ledger.release(record.id)

    async def run(self) -> None:
        """Claim and run jobs until no job in the ledger is open (with :attr:`stay`, until
        cancelled); returns when all have ended."""
        counts = self.ledger.counts()
        still = sum(counts.get(state.value, 0) for state in OPEN_STATES)
        self.batch.started(sum(counts.values()), sum(counts.values()) - still)
        if self.side is not None:
            await self._work(self.side)
        else:
            side = OffLoop(self.ledger.sibling())
            try:
                await self._work(side)
            finally:
                side.close()
        # Every job has ended: the results file, from the ledger (one line per job).
        await reconnecting(self._write_results)

    async def _write_results(self) -> None:
        self.batch.write_results(self._manifest)

    async def _work(self, side: OffLoop) -> None:
        limit = trio.CapacityLimiter(self.batch.concurrency)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._renew, side)
            while True:
                room = self.batch.concurrency - len(self._running)
                claimed = await self._claim(side, room)
                for record in claimed:
                    self._running.add(record.id)
                    nursery.start_soon(self._one, record, limit, side)
                wait = self.poll_seconds
                if not claimed and not self._running:
                    expiry = await side.run(lambda ledger: ledger.next_expiry())
                    if expiry is None and not self.stay:
                        break  # nothing open anywhere: every job has ended
                    if expiry is not None:
                        wait = min(max(expiry, 0.05), IDLE_POLL_SECONDS, wait)
                with trio.move_on_after(wait):
                    await self._wake.wait()
                self._wake = trio.Event()
            nursery.cancel_scope.cancel()  # the lease renewal

    async def _claim(self, side: OffLoop, room: int) -> list[JobRecord]:
        return await side.run(lambda ledger: ledger.claim(room)) if room > 0 else []

    @contextlib.asynccontextmanager
    async def _in_flight(self, record: JobRecord, side: OffLoop) -> AsyncIterator[None]:
        """Hold one of the provider's slots shared by all workers, when it has a ceiling."""
        shared = self.batch.shared_ceiling(record)
        if shared is None:
            yield
            return
        scope, ceiling = shared
        while True:  # another process frees a slot: nothing here to wait on but time
            if await side.run(lambda ledger: ledger.in_flight.take(scope, record.id, ceiling)):
                break
            await trio.sleep(FLIGHT_RECHECK_SECONDS)
        try:
            yield
        finally:  # else freed once the job's lease runs out
            await _letting_go(side, lambda ledger: ledger.in_flight.release(record.id))

    async def _renew(self, side: OffLoop) -> None:
        while True:
            await trio.sleep(self.ledger.lease_seconds / 3)
            await side.run(lambda ledger: ledger.renew())

    async def _one(self, record: JobRecord, limit: trio.CapacityLimiter, side: OffLoop) -> None:
        try:
            if record.state is JobState.SUBMITTING:
                record = self.batch.orphaned(record)
            action = self.batch.decide(record)
            if action is Action.SETTLE:
                settled = await self.batch.settle([record])
                action = settled.get(record.id, Action.SKIP)
            async with self._in_flight(record, side):
                await self.batch.run_one(record, action, limit)
        except LeaseLostError as exc:
            self.batch.notice(str(exc))  # nothing written: the job is another's now
        except LedgerError as exc:
            self.batch.notice(f"job {record.id}: left to the next worker: {exc}")
        finally:  # even when cancelled: another worker may go on at once
            await _letting_go(side, lambda ledger: ledger.release(record.id))
            self._running.discard(record.id)
            self._wake.set()


async def _letting_go(side: OffLoop, call: Callable[[PostgresJournal], None]) -> None:
    """Give something back to the ledger (a claim, a slot) even when cancelled, for at most
    :data:`LET_GO_SECONDS`: a database that does not answer keeps it until its lease runs out
    rather than hold up a worker that is stopping."""
    if side.busy and trio.current_effective_deadline() == float("-inf"):
        return  # stopping, and the ledger has not answered the statement before: no wait
    with trio.move_on_after(LET_GO_SECONDS) as scope, contextlib.suppress(LedgerError):
        scope.shield = True
        await side.run(call)
