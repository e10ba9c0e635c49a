"""An in-flight ceiling shared by every worker of a ledger: how many tasks of a provider and key
are under way at once, for all of them (used by :mod:`mediatask.batch.workers`).

A slot is held for a job by its worker; one whose worker no longer holds the job's lease (it
died, or let go) is freed by the next worker that asks.
"""

from __future__ import annotations

import attrs

from mediatask.journal.postgres.connection import NOW, Connection


@attrs.frozen
class InFlight:
    """One worker's slots of the shared in-flight ceilings, taken through ``db``."""

    db: Connection
    worker: str
    """Who holds the slots (the worker's claims decide when a slot is stale)."""

    def take(self, scope: str, job_id: str, ceiling: int) -> bool:
        """Take one of ``ceiling`` slots of ``scope`` (a provider and key) for ``job_id``.

        Slots are shared by every worker; one whose worker no longer holds the job's lease (it
        died, or let go) is freed here. False when all are taken.
        """
        with self.db.atomic():
            self.db.locked(f"flight:{scope}")
            self.db.execute(
                f"""DELETE FROM flight WHERE scope = ? AND NOT EXISTS (
                    SELECT 1 FROM jobs WHERE jobs.id = flight.job_id
                    AND jobs.worker = flight.worker AND jobs.lease_until >= {NOW})""",  # noqa: S608
                (scope,),
            )
            row = self.db.one("SELECT COUNT(*) AS n FROM flight WHERE scope = ?", (scope,))
            if row is not None and row["n"] >= ceiling:
                return False
            self.db.execute(
                "INSERT INTO flight (job_id, scope, worker) VALUES (?, ?, ?) ON CONFLICT (job_id) "
                "DO UPDATE SET scope = EXCLUDED.scope, worker = EXCLUDED.worker",
                (job_id, scope, self.worker),
            )
            return True

    def release(self, job_id: str) -> None:
        """Give back the slot this worker took for ``job_id``."""
        self.db.execute("DELETE FROM flight WHERE job_id = ? AND worker = ?", (job_id, self.worker))
