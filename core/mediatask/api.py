"""Ready-made entry points: a configured Client (optionally on the sandbox); ``run`` and
``run_many`` for scripts and other event loops."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import trio

from mediatask.config import Settings
from mediatask.engine import Client, FileHost
from mediatask.errors import TaskTimeoutError
from mediatask.many import Outcome, UpdateCallback
from mediatask.model import Job, Result, TaskRef
from mediatask.plugins import PluginManager
from mediatask.validate import a_job, check_concurrency, out_dir_path, some_jobs


@asynccontextmanager
async def open_client(
    *,
    sandbox: bool = False,
    providers: Iterable[str] | None = None,
    plugins: PluginManager | None = None,
    settings: Settings | None = None,
    sandbox_seconds: float | None = None,
    file_host: FileHost | str | None = None,
    **client_options: Any,
) -> AsyncIterator[Client]:
    """Yield a :class:`Client`; with ``sandbox=True`` its providers talk to in-process emulators.

    The one place a Client is put together with its plugins, settings and sandbox (the
    command line's clients are made here too, see :mod:`mediatask.cli.session`).

    :param providers: with the sandbox, which providers' emulators to start (default: all).
    :param sandbox_seconds: with the sandbox, how long each emulated task takes (default: each
        emulator's own).
    :param file_host: makes local files reachable for providers that take URLs only: an
        ``s3://BUCKET/PREFIX`` (checked before anything is sent; each object is deleted when
        its task ends, or when the client closes if no task was made with it), the sandbox's
        ``http://127.0.0.1:PORT``, or any :class:`FileHost` (default: the sandbox's own, else
        none).
    :param client_options: passed on to :class:`Client` (``retry``, ``follow``, ``polling``,
        ``transport``, ``max_in_flight``, ``throttles``, ``announce``…).
    """
    plugins = plugins if plugins is not None else PluginManager.from_entry_points()
    settings = settings if settings is not None else Settings()
    try:
        async with AsyncExitStack() as stack:
            if isinstance(file_host, str):
                from mediatask.file_host import open_file_host  # boto3 only when asked

                file_host = await stack.enter_async_context(open_file_host(file_host))
            if sandbox:
                from mediatask.sandbox import open_sandbox  # a command without --sandbox: never

                box = await stack.enter_async_context(open_sandbox(plugins, providers))
                if sandbox_seconds is not None:
                    for emulator in box.emulators.values():
                        emulator.faults.processing_seconds = sandbox_seconds
                settings = settings.with_overrides(box.settings)
                file_host = file_host if file_host is not None else box.file_host
            client = Client(
                plugins=plugins, settings=settings, file_host=file_host, **client_options
            )
            yield await stack.enter_async_context(client)
    except BaseExceptionGroup as group:
        _raise_single(group)


def _raise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the one error ``group`` stands for (as without the sandbox), else the group."""
    from mediatask.sandbox import single_error  # as in open_client

    error = single_error(group)
    if error is group:
        raise group
    raise error.with_traceback(error.__traceback__) from error.__cause__


def run(
    job: Job,
    *,
    out_dir: Path | str | None = None,
    sandbox: bool = False,
    on_submit: Callable[[TaskRef], None] | None = None,
    on_update: UpdateCallback | None = None,
    timeout: float | None = None,
    **client_options: Any,
) -> Result:
    """Run one job to the end from synchronous code (a script, a notebook cell, a thread).

    Submits ``job``, follows it, downloads its outputs into ``out_dir`` when given, and returns
    the Result. Raises a :class:`~mediatask.errors.MediataskError` when anything goes wrong:
    :class:`~mediatask.errors.TaskTimeoutError` when ``timeout`` seconds pass first (the task
    goes on at the provider; the error's ``handle`` names it). Must not be called from inside a
    running trio or asyncio event loop's thread.
    """
    a_job(job)
    target = out_dir_path(out_dir)
    submitted: list[TaskRef] = []

    def remember(task: TaskRef) -> None:
        submitted.append(task)
        if on_submit is not None:
            on_submit(task)

    async def main() -> Result:
        async with open_client(
            sandbox=sandbox, providers=[job.provider], **client_options
        ) as client:
            with trio.move_on_after(math.inf if timeout is None else timeout):
                return await client.run(job, target, on_submit=remember, on_update=on_update)
        handle = submitted[0].handle if submitted else None
        where = f"{handle} goes on at the provider" if handle else "nothing was submitted"
        raise TaskTimeoutError(
            f"{job.provider} {job.operation} timed out after {timeout:g}s: {where}", handle=handle
        )

    return trio.run(partial(main))


def run_many(
    jobs: Iterable[Job],
    *,
    out_dir: Path | str | None = None,
    concurrency: int = 8,
    sandbox: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    **client_options: Any,
) -> list[Outcome]:
    """Run many jobs concurrently from synchronous code; the outcomes, in the jobs' order.

    A failed job is an :class:`~mediatask.many.Outcome` with ``error`` set; it never stops the
    others. ``on_outcome`` is called as each job ends (in the order they end). From an asyncio
    program, run it in a worker thread: ``await asyncio.to_thread(mediatask.run_many, jobs)``.
    """
    check_concurrency(concurrency)
    jobs = [a_job(job) for job in some_jobs(jobs)]  # a generator's too, before any is sent
    target = out_dir_path(out_dir)
    plugins = client_options.pop("plugins", None) or PluginManager.from_entry_points()
    providers = sorted({job.provider for job in jobs} & set(plugins.providers))

    async def main() -> list[Outcome]:
        outcomes: list[Outcome] = []
        async with (
            open_client(
                sandbox=sandbox, providers=providers, plugins=plugins, **client_options
            ) as client,
            client.run_many(jobs, target, concurrency=concurrency) as results,
        ):
            async for outcome in results:
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        return sorted(outcomes, key=lambda outcome: outcome.index)

    return trio.run(main)
