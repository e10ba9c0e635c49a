"""Running many jobs at once: the work behind :meth:`Client.run_many`.

Each job runs in its own trio task under two limits (see :mod:`mediatask.engine.fanout`): the
caller's
``concurrency`` and the provider's slots (:meth:`Client.slot`: as many as the provider takes,
learned, shared by everything on one client). A failed job is an :class:`Outcome` with its
error, never the end of the others.

This module does not import the engine: it needs of the client only what :class:`JobClient`
names, so the engine can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import attrs
import trio

from mediatask.engine.fanout import JobRunner
from mediatask.model.errors import MediataskError
from mediatask.model.values import Job, Result, TaskRef, Update
from mediatask.providers.validate import a_job

UpdateCallback = Callable[[TaskRef, Update], None]
"""Told each update of a task as it is seen (a plain function: it must not block)."""


class JobClient(Protocol):
    """What running many jobs needs of a client (:class:`~mediatask.engine.client.Client` has
    it)."""

    async def run(
        self,
        job: Job,
        out_dir: Path | None = None,
        *,
        on_submit: Callable[[TaskRef], None] | None = None,
        on_update: UpdateCallback | None = None,
    ) -> Result:
        """Submit ``job``, follow it, download its outputs into ``out_dir`` if given."""
        ...

    def slot(self, provider: str) -> AbstractAsyncContextManager[object]:
        """The slots of ``provider``'s tasks in flight: hold one per job."""
        ...


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
    client: JobClient,
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
    client: JobClient,
    jobs: Iterable[Job],
    send: trio.MemorySendChannel[Outcome],
    *,
    out_dir: Path | None,
    concurrency: int,
    on_update: UpdateCallback | None,
) -> None:
    """Run every job, at most ``concurrency`` at once, and send each outcome as it ends."""

    async def work(item: tuple[int, Job], job: Job) -> Outcome:
        return await run_one(client, item[0], job, out_dir, on_update)

    async def report(item: tuple[int, Job], done: Outcome | MediataskError) -> None:
        if isinstance(done, MediataskError):  # e.g. an unknown provider fails this job only
            done = Outcome(item[0], item[1], error=done)
        await send.send(done)

    runner = JobRunner(
        limit=trio.CapacityLimiter(concurrency),
        slot=client.slot,
        prepare=_job_of,
        work=work,
        report=report,
    )
    async with send:
        await runner.all(enumerate(jobs))


def _job_of(item: tuple[int, Job]) -> Job:
    return a_job(item[1])  # jobs may come lazily: each is checked as it is taken
