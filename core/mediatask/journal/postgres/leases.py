"""Claims and leases: which worker holds which job of a shared ledger, and until when.

A worker takes jobs with ``FOR UPDATE SKIP LOCKED`` (two workers never take the same row) and
holds each under a *lease* that it renews while it works. Leases are timed on the database's
clock, so the workers' clocks need not agree. A job whose lease ran out (its worker died or
lost the database) is claimable again: it is *adopted*. Each claim raises the job's *lease
epoch*, the fencing token that :meth:`~mediatask.journal.postgres.journal.PostgresJournal._fence`
checks on every write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from mediatask.journal.backend import JobRecord, JobState
from mediatask.journal.postgres.connection import NOW, Connection

LEASE_SECONDS = 30.0
"""How long a claim holds without renewal; workers renew at a third of it."""
OPEN_STATES = tuple(state for state in JobState if state.is_open)
"""The states a worker claims: work that no run has finished (or given up on) yet."""
_OPEN = ", ".join(f"'{state.value}'" for state in OPEN_STATES)


@attrs.frozen
class Claimed:
    """A job taken by :meth:`Leases.claim`."""

    record: JobRecord
    adopted: bool = False
    """The job was under way under another worker's lease, which ran out."""
    was: str | None = None
    """The worker that held it last."""


@attrs.define
class Leases:
    """One worker's claims on a shared ledger, made and renewed through ``db``."""

    db: Connection
    worker: str
    """Who holds the claims (see :func:`~mediatask.journal.backend.worker_id`)."""
    seconds: float = LEASE_SECONDS
    """How long a claim holds unless renewed."""
    epochs: dict[str, int] = attrs.field(factory=dict)
    """The jobs this worker holds, each with the lease epoch of its claim (one dict for each
    worker, shared by its connections)."""

    def on(self, db: Connection) -> Leases:
        """The same worker's claims, made through another connection."""
        return attrs.evolve(self, db=db)  # the same epochs: one worker's claims

    def claim(self, limit: int) -> list[Claimed]:
        """Take up to ``limit`` open jobs nobody holds (oldest first), each under a fresh lease;
        in manifest order."""
        rows = self.db.rows(
            f"""WITH picked AS (
                SELECT id, worker AS was, lease_until AS held FROM jobs
                WHERE state IN ({_OPEN}) AND (lease_until IS NULL OR lease_until < {NOW})
                ORDER BY created_at, line, id LIMIT ? FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs SET worker = ?, lease_until = {NOW} + ?, lease_epoch = jobs.lease_epoch + 1
            FROM picked WHERE jobs.id = picked.id
            RETURNING jobs.*, picked.was, picked.held""",  # noqa: S608  # states are ours
            (limit, self.worker, self.seconds),
        )
        claimed = [self._held(row) for row in rows]
        return sorted(
            claimed, key=lambda c: (c.record.line is None, c.record.line or 0, c.record.id)
        )

    def _held(self, row: Mapping[str, Any]) -> Claimed:
        record = JobRecord.from_row(row)
        self.epochs[record.id] = int(row["lease_epoch"])
        adopted = row["held"] is not None and record.state is not JobState.PENDING
        return Claimed(record, adopted, row["was"])

    def take(self, job_id: str) -> JobRecord | None:
        """Claim the job, whatever its state, unless another worker holds a live lease on it;
        the record as it stands under this claim, or ``None`` (held, or unknown)."""
        row = self.db.one(
            f"UPDATE jobs SET worker = ?, lease_until = {NOW} + ?, lease_epoch = lease_epoch + 1 "  # noqa: S608
            f"WHERE id = ? AND (lease_until IS NULL OR lease_until < {NOW}) RETURNING *",
            (self.worker, self.seconds, job_id),
        )
        if row is None:
            return None
        self.epochs[job_id] = int(row["lease_epoch"])
        return JobRecord.from_row(row)

    def renew(self) -> int:
        """Extend every lease this worker holds; how many it holds.

        Only claims it knows of: a claim whose answer was lost with the connection runs out.
        """
        held = list(self.epochs.items())
        if not held:
            return 0
        return self.db.execute(
            f"UPDATE jobs SET lease_until = {NOW} + ? FROM unnest(?::text[], ?::bigint[]) "  # noqa: S608
            "AS mine(id, epoch) WHERE jobs.id = mine.id AND jobs.lease_epoch = mine.epoch "
            "AND jobs.worker = ? AND jobs.lease_until IS NOT NULL",
            (self.seconds, [i for i, _ in held], [e for _, e in held], self.worker),
        )

    def release(self, job_id: str) -> None:
        """Let go of the job; a no-op if another worker holds it."""
        epoch = self.epochs.pop(job_id, None)
        if epoch is not None:
            self.db.execute(
                "UPDATE jobs SET lease_until = NULL "
                "WHERE id = ? AND worker = ? AND lease_epoch = ?",
                (job_id, self.worker, epoch),
            )

    def held(self, job_id: str) -> bool:
        """True when another worker holds a live lease on the job."""
        row = self.db.one(
            f"SELECT 1 AS held FROM jobs WHERE id = ? AND worker <> ? AND lease_until >= {NOW}",  # noqa: S608
            (job_id, self.worker),
        )
        return row is not None

    def next_expiry(self) -> float | None:
        """Seconds until the first lease on an open job runs out (0: one is claimable now);
        ``None`` when no job is open."""
        row = self.db.one(
            f"""SELECT COUNT(*) AS open,
                MIN(CASE WHEN lease_until IS NULL THEN 0 ELSE lease_until - {NOW} END) AS wait
            FROM jobs WHERE state IN ({_OPEN})"""  # noqa: S608  # states are ours
        )
        if row is None or not row["open"]:
            return None
        return max(float(row["wait"]), 0.0)
