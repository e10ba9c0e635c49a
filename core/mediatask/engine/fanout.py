"""Jobs run at once, each in its own trio task under two limits: the one way to do it.

:meth:`Client.run_many <mediatask.engine.client.Client.run_many>` and batches
(:class:`mediatask.batch.runner.Batch`) both start their jobs through a :class:`JobRunner`: each job
waits for one of the caller's ``limit`` (its ``concurrency``) and one of its provider's slots
(``Client.slot``: as many as the provider takes), then runs. A job refused before it starts
(an unknown provider, a job that fails its checks) ends alone; the others go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Generic, TypeVar

import attrs
import trio

from mediatask.model.errors import MediataskError
from mediatask.model.values import Job

Item = TypeVar("Item")
Done = TypeVar("Done")


@attrs.frozen
class JobRunner(Generic[Item, Done]):
    """Runs items (each standing for one job) concurrently under ``limit`` and the slots.

    For each item: ``prepare`` gives its job (and may check it), ``work`` runs it while both
    limits are held, and ``report`` is told how it went once they are released: with what
    ``work`` returned, or with the error that refused the item before it started.
    """

    limit: trio.CapacityLimiter
    """The caller's limit: at most this many items run at once."""
    slot: Callable[[str], AbstractAsyncContextManager[object]]
    """A provider name to the slots of its tasks in flight (``Client.slot``)."""
    prepare: Callable[[Item], Job]
    """The item's job; a :class:`MediataskError` refuses the item."""
    work: Callable[[Item, Job], Awaitable[Done]]
    """Runs the item's job; errors it does not handle itself are bugs and escape."""
    report: Callable[[Item, Done | MediataskError], Awaitable[None]]
    """Told how each item went, outside the limits (so a slow listener holds no slot)."""

    async def one(self, item: Item) -> None:
        """Run ``item`` under both limits and report it."""
        try:
            job = self.prepare(item)
            slot = self.slot(job.provider)
        except MediataskError as exc:
            await self.report(item, exc)
            return
        async with self.limit, slot:
            done = await self.work(item, job)
        await self.report(item, done)

    async def all(self, items: Iterable[Item]) -> None:
        """Run every item (started in order, each in its own task); return when all have ended."""
        async with trio.open_nursery() as nursery:
            for item in items:
                nursery.start_soon(partial(self.one, item))
