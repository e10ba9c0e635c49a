"""Running many jobs at once: the work behind :meth:`Client.run_many`.

Each job runs in its own trio task under two limits: the caller's ``concurrency`` and the
provider's slots (:meth:`Client.slot`: as many as the provider takes, learned, shared by
everything on one client). A failed job is an :class:`Outcome` with its error, never the end of
the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from mediatask.errors import MediataskError
from mediatask.model import Job, Result, TaskRef

if TYPE_CHECKING:
    from mediatask.engine import Client, UpdateCallback


@attrs.frozen
class Outcome:
    """How one job of :meth:`Client.run_many` ended: a result or an error."""

    index: int
    """The job's position in the jobs given."""
    job: Job
    task: TaskRef | None = None
    """The task, once submitted (also on failure, when the submit got that far)."""
    result: Result | None = None
    error: MediataskError | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """True when the job succeeded (and its outputs were downloaded, if asked)."""
        return self.result is not None


async def run_one(
    client: Client,
    index: int,
    job: Job,
    out_dir: Path | None,
    on_update: UpdateCallback | None,
) -> Outcome:
    """Run one job to its end and say how it went; only bugs escape as exceptions."""
    submitted: list[TaskRef] = []
    try:
        result = await client.run(job, out_dir, on_submit=submitted.append, on_update=on_update)
    except MediataskError as exc:
        return Outcome(index, job, submitted[0] if submitted else None, error=exc)
    return Outcome(index, job, result.task, result)


async def run_all(
    client: Client,
    jobs: Iterable[Job],
    send: trio.MemorySendChannel[Outcome],
    *,
    out_dir: Path | None,
    concurrency: int,
    on_update: UpdateCallback | None,
) -> None:
    """Run every job, at most ``concurrency`` at once, and send each outcome as it ends."""
    limit = trio.CapacityLimiter(concurrency)

    async def one(index: int, job: Job) -> None:
        try:
            slot = client.slot(job.provider)
        except MediataskError as exc:  # an unknown provider fails this job only
            await send.send(Outcome(index, job, error=exc))
            return
        async with limit, slot:
            outcome = await run_one(client, index, job, out_dir, on_update)
        await send.send(outcome)

    async with send, trio.open_nursery() as nursery:
        for index, job in enumerate(jobs):
            nursery.start_soon(one, index, job)
