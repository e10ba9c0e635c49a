"""The journal in PostgreSQL: the jobs and their history, written under this worker's claims.

Same states, records and statements as the SQLite file (:mod:`mediatask.journal.backend`); what
sharing adds lives beside it — claims and leases (:mod:`.leases`), the shared rate log
(:mod:`.shared_rates`) and in-flight ceiling (:mod:`.in_flight`) — each given the connection it
runs on (:mod:`.connection`). Every write of a job is fenced here (:meth:`PostgresJournal._fence`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from mediatask.journal.backend import (
    Fence,
    JobRecord,
    JournalBackend,
    LeaseLostError,
    timestamp,
    worker_id,
)
from mediatask.journal.postgres.connection import NOW, Connection
from mediatask.journal.postgres.in_flight import InFlight
from mediatask.journal.postgres.leases import LEASE_SECONDS, Leases
from mediatask.journal.postgres.shared_rates import SharedRates


class PostgresJournal(JournalBackend):
    """A PostgreSQL ledger, open; its tables are made if missing.

    :param url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (libpq's form; options such
        as ``?sslmode=require`` pass through).
    :param lease_seconds: how long a claim holds unless renewed.
    :raises UsageError: psycopg is not installed.
    :raises ConfigError: the database cannot be reached or written.
    """

    leases: Leases
    """This worker's claims on jobs (:meth:`claim` and the rest are theirs)."""
    rates: SharedRates
    """The rate logs every worker shares (:mod:`mediatask.batch.shared_limits`)."""
    in_flight: InFlight
    """The in-flight ceilings every worker shares (:mod:`mediatask.batch.workers`)."""

    def __init__(self, url: str, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self._db = Connection(url)
        self.where = self._db.where
        self._redactor = self._db.redactor
        row = self._one("SELECT value FROM meta WHERE name = 'id'")
        self.id = row["value"] if row else ""
        self._hold(Leases(self._db, worker_id(), lease_seconds))

    def _hold(self, leases: Leases) -> None:
        """Write, claim and share limits as ``leases``' worker, through this connection."""
        self.worker = leases.worker
        self.leases = leases
        self.rates = SharedRates(self._db)
        self.in_flight = InFlight(self._db, leases.worker)

    @property
    def lease_seconds(self) -> float:
        """How long a claim holds unless renewed."""
        return self.leases.seconds

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @property
    def interrupted(self) -> bool:
        """True once Ctrl-C or SIGTERM came during one of its statements (each statement
        fails at once after that: the process is stopping)."""
        return self._db.interrupted

    def sibling(self) -> PostgresJournal:
        """A second connection to this ledger for the same worker: its claims and leases are
        this one's (statements on it must not share this connection's transactions)."""
        other = PostgresJournal(self._db.url, lease_seconds=self.lease_seconds)
        other._hold(self.leases.on(other._db))  # one worker's claims, two connections
        return other

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        return self._db.rows(sql, params)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params)

    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        return self._db.atomic()

    def _apply(self, update: str, params: Sequence[Any], event: tuple[Any, ...] | None) -> int:
        """One statement, so no transaction is left open across a pause of this process
        (holding the job's row from the other workers): the update, and the event inserted
        from what it changed."""
        if event is None:
            return self._execute(update, params)
        return self._execute(
            f"WITH changed AS ({update} RETURNING id) INSERT INTO events "  # noqa: S608  # ours
            "(job_id, at, kind, detail, worker) SELECT id, ?, ?, ?, ? FROM changed",
            (*params, *event[1:]),
        )

    def _fence(self, job_id: str) -> Fence:
        """The single place a write's claim is checked.

        A job this worker claimed: the claim (worker and epoch) must still be the job's
        current one, and the write renews its lease. A job it holds no claim on (a command
        following one task, another service): no worker may hold a live lease on it, and the
        write raises the epoch, so no claim taken before it can write after it.
        """
        epoch = self.leases.epochs.get(job_id)
        if epoch is None:
            return Fence(
                sets=", lease_epoch = lease_epoch + 1",
                where=f" AND (lease_until IS NULL OR lease_until < {NOW})",
            )
        return Fence(
            sets=f", lease_until = {NOW} + ?",
            set_params=(self.lease_seconds,),
            where=" AND worker = ? AND lease_epoch = ?",
            where_params=(self.worker, epoch),
        )

    def _refused(self, job_id: str) -> None:
        raise LeaseLostError(
            f"job {job_id}: another worker has taken it over (this worker's claim is no longer "
            "the job's current one): left to that worker, not written here"
        )

    # -- claims (see .leases) ------------------------------------------------------------------

    def claim(self, limit: int) -> list[JobRecord]:
        """Take up to ``limit`` open jobs nobody holds (oldest first), each under a fresh lease.

        A job another worker held until its lease ran out is *adopted*: its history says from
        whom.
        """
        claimed = self.leases.claim(limit)
        for job in claimed:
            if job.adopted:
                self._event(job.record.id, "adopted", f"lease of {job.was} ran out", timestamp())
        return [job.record for job in claimed]

    def take(self, job_id: str) -> JobRecord | None:
        """Claim the job, whatever its state, unless another worker holds a live lease on it;
        the record as it stands under this claim, or ``None`` (held, or unknown).

        For decisions about a job no worker is working on (a re-run's, before the claims):
        they are written under a claim like any other write. :meth:`release` it after.
        """
        return self.leases.take(job_id)

    def renew(self) -> int:
        """Extend every lease this worker holds; how many it holds (:meth:`Leases.renew`)."""
        return self.leases.renew()

    def release(self, job_id: str) -> None:
        """Let go of the job (done with it for this run); a no-op if another worker holds it."""
        self.leases.release(job_id)

    def held(self, job_id: str) -> bool:
        """True when another worker holds a live lease on the job."""
        return self.leases.held(job_id)

    def next_expiry(self) -> float | None:
        """Seconds until the first lease on an open job runs out (0: one is claimable now).

        ``None`` when no job is open: nothing is left for any worker to do.
        """
        return self.leases.next_expiry()
