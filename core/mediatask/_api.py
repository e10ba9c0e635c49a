"""Ready-made entry points: a configured Client (optionally on the sandbox); for scripts and other
event loops, ``run`` and ``run_many``, ``submit``, ``status``, ``wait`` and ``download_outputs``
by task or handle, and a resumable ``run_batch``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import trio

from mediatask.batch.manifest import Manifest, manifest_of, read_manifest
from mediatask.batch.runner import Batch, BatchOptions
from mediatask.batch.summary import Summary
from mediatask.engine.client import Client, FileHost
from mediatask.engine.deadline import Deadline
from mediatask.engine.run_many import Outcome, UpdateCallback
from mediatask.journal.sqlite import LOCK_FILE, JobRecord, Journal, batch_journal_path, exclusive
from mediatask.model.errors import TaskTimeoutError, UsageError, wrong_type
from mediatask.model.values import Job, Result, TaskRef, Update
from mediatask.providers.manager import PluginManager
from mediatask.providers.validate import (
    a_job,
    check_concurrency,
    check_out_dir,
    out_dir_path,
    some_jobs,
)
from mediatask.settings.config import Settings

T = TypeVar("T")


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
            host = await _enter_file_host(stack, file_host)
            if sandbox:
                settings, box_host = await _enter_sandbox(
                    stack, plugins, providers, settings, sandbox_seconds
                )
                host = host if host is not None else box_host
            client = Client(plugins=plugins, settings=settings, file_host=host, **client_options)
            yield await stack.enter_async_context(client)
    except BaseExceptionGroup as group:
        _raise_single(group)


async def _enter_file_host(
    stack: AsyncExitStack, file_host: FileHost | str | None
) -> FileHost | None:
    """``file_host``, opened on ``stack`` when it is an ``s3://`` address."""
    if not isinstance(file_host, str):
        return file_host
    from mediatask.engine.file_host import open_file_host  # boto3 only when asked

    return await stack.enter_async_context(open_file_host(file_host))


async def _enter_sandbox(
    stack: AsyncExitStack,
    plugins: PluginManager,
    providers: Iterable[str] | None,
    settings: Settings,
    sandbox_seconds: float | None,
) -> tuple[Settings, FileHost]:
    """Start the sandbox's emulators on ``stack``; the settings that point at them, and the
    sandbox's file host."""
    from mediatask.providers.sandbox import open_sandbox  # a command without --sandbox: never

    box = await stack.enter_async_context(open_sandbox(plugins, providers))
    if sandbox_seconds is not None:
        for emulator in box.emulators.values():
            emulator.faults.processing_seconds = sandbox_seconds
    return settings.with_overrides(box.settings), box.file_host


def _raise_single(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the one error ``group`` stands for (as without the sandbox), else the group."""
    from mediatask.providers.sandbox import single_error  # as in open_client

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
    the Result. Raises a :class:`~mediatask.model.errors.MediataskError` when anything goes wrong:
    :class:`~mediatask.model.errors.TaskTimeoutError` when ``timeout`` seconds pass first (the task
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
            with Deadline(timeout).start():
                return await client.run(job, target, on_submit=remember, on_update=on_update)
        handle = submitted[0].handle if submitted else None
        where = f"{handle} goes on at the provider" if handle else "nothing was submitted"
        said = Deadline(timeout).timed_out
        raise TaskTimeoutError(f"{job.provider} {job.operation} {said}: {where}", handle=handle)

    return run_sync(main, "run")


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

    A failed job is an :class:`~mediatask.engine.run_many.Outcome` with ``error`` set; it never
    stops the
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

    return run_sync(main, "run_many")


def run_sync(main: Callable[[], Awaitable[T]], name: str) -> T:
    """Run ``main`` in a new trio loop for the synchronous function ``name``.

    :raises UsageError: when called from inside a running trio or asyncio loop (its thread
        would block, or trio refuse), naming the asynchronous way instead.
    """
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        pass
    else:
        raise UsageError(
            f"mediatask.{name} is synchronous and cannot run inside a trio loop: use "
            "`async with mediatask.open_client() as client:` and await its methods"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return trio.run(main)
    raise UsageError(
        f"mediatask.{name} is synchronous and cannot run inside an asyncio loop: call it in a "
        f"thread, `await asyncio.to_thread(mediatask.{name}, ...)`"
    )


def _task(task: TaskRef | str, operation: str) -> TaskRef:
    """``task``, or the task its handle names (with ``operation``, for providers that need it)."""
    if isinstance(task, TaskRef):
        return task
    if not isinstance(task, str):
        raise wrong_type("task", "a mediatask.TaskRef or a handle PROVIDER:TASK_ID", task)
    return TaskRef.parse(task, operation=operation)


def submit(job: Job, **client_options: Any) -> TaskRef:
    """Submit ``job`` and return its task at once, without waiting, from synchronous code.

    Its ``handle`` (``PROVIDER:TASK_ID``) names it to :func:`status`, :func:`wait` and
    :func:`download_outputs` (and to the ``mediatask`` commands) in any later process; for a
    provider that needs the operation to find a task (A2E), keep the TaskRef or pass
    ``operation=``.
    ``client_options`` are :func:`open_client`'s.
    """
    a_job(job)

    async def main() -> TaskRef:
        async with open_client(providers=[job.provider], **client_options) as client:
            return await client.submit(job)

    return run_sync(main, "submit")


def status(task: TaskRef | str, *, operation: str = "", **client_options: Any) -> Update:
    """Ask the provider once for the state of ``task`` (a TaskRef or its handle)."""
    ref = _task(task, operation)

    async def main() -> Update:
        async with open_client(providers=[ref.provider], **client_options) as client:
            return await client.poll(ref)

    return run_sync(main, "status")


def wait(
    task: TaskRef | str,
    *,
    operation: str = "",
    timeout: float | None = None,
    on_update: UpdateCallback | None = None,
    **client_options: Any,
) -> Result:
    """Follow ``task`` (a TaskRef or its handle) to its end and return its Result.

    :raises TaskFailedError: when the task failed; :class:`TaskTimeoutError` when ``timeout``
        seconds passed first (the task goes on at the provider).
    """
    ref = _task(task, operation)

    async def main() -> Result:
        async with open_client(providers=[ref.provider], **client_options) as client:
            with Deadline(timeout).start():
                return await client.wait(ref, on_update)
        raise TaskTimeoutError(
            f"{ref.handle} {Deadline(timeout).timed_out}: it goes on at the provider",
            handle=ref.handle,
        )

    return run_sync(main, "wait")


def download_outputs(
    task: TaskRef | str,
    out_dir: Path | str,
    *,
    operation: str = "",
    name: str | None = None,
    overwrite: bool = False,
    **client_options: Any,
) -> Result:
    """Wait for ``task`` (a TaskRef or its handle) if needed, then download its outputs into
    ``out_dir`` as ``NAME-ROLE.EXT`` (``name`` defaults to the task id); a file already there
    is kept and the new one numbered unless ``overwrite``. Returns the Result with its files."""
    ref = _task(task, operation)
    target = out_dir_path(out_dir)
    assert target is not None  # noqa: S101  # out_dir is required

    async def main() -> Result:
        async with open_client(providers=[ref.provider], **client_options) as client:
            result = await client.wait(ref)
            return await client.download(result, target, stem=name, overwrite=overwrite)

    return run_sync(main, "download_outputs")


class _Quiet:
    """A batch observer that shows nothing but passes each ended job on (see :func:`run_batch`)."""

    def __init__(self, on_end: Callable[[JobRecord], None] | None) -> None:
        self.on_end = on_end

    def started(self, total: int, done: int) -> None:
        """Nothing to show."""

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """Nothing to show."""

    def ended(self, record: JobRecord) -> None:
        """Pass the ended job on."""
        if self.on_end is not None:
            self.on_end(record)

    def notice(self, text: str) -> None:
        """Nothing to show."""


def run_batch(
    jobs: Iterable[Job] | Path | str,
    out_dir: Path | str,
    *,
    concurrency: int = 8,
    sandbox: bool = False,
    retry_failed: bool = False,
    rerun_expired: bool = False,
    overwrite: bool = False,
    on_end: Callable[[JobRecord], None] | None = None,
    **client_options: Any,
) -> Summary:
    """Run ``jobs`` (Jobs, or the path of a manifest) as a resumable batch writing into
    ``out_dir``, from synchronous code; the batch's :class:`~mediatask.batch.summary.Summary`.

    The same journal as ``mediatask batch`` (``OUT/.mediatask/journal.sqlite``) records every
    step, so calling it again with the same jobs, or the command, finishes what an earlier call
    left: finished jobs are skipped, tasks that exist are followed, never submitted twice. Jobs
    given as objects are named like manifest lines without an id: after their first input.
    ``on_end`` is called with each job's journal record as it ends. ``retry_failed`` and
    ``rerun_expired`` submit again the jobs the provider failed and those whose results expired.
    """
    manifest = _manifest(jobs)
    options = _batch_options(
        out_dir,
        concurrency,
        retry_failed=retry_failed,
        rerun_expired=rerun_expired,
        overwrite=overwrite,
    )
    plugins = client_options.pop("plugins", None) or PluginManager.from_entry_points()
    providers = sorted({e.job.provider for e in manifest.entries} & set(plugins.providers))
    opened = partial(
        open_client, sandbox=sandbox, providers=providers, plugins=plugins, **client_options
    )
    journal_file = batch_journal_path(options.out_dir)
    with exclusive(journal_file.with_name(LOCK_FILE)), Journal(journal_file) as journal:
        main = partial(_batch_run, manifest, journal, options, _Quiet(on_end), opened)
        return run_sync(main, "run_batch")


def _batch_options(
    out_dir: Path | str,
    concurrency: int,
    *,
    retry_failed: bool,
    rerun_expired: bool,
    overwrite: bool,
) -> BatchOptions:
    """``run_batch``'s options, its output folder and concurrency checked."""
    target = out_dir_path(out_dir)
    assert target is not None  # noqa: S101  # out_dir is required
    check_concurrency(concurrency)
    check_out_dir(target)
    return BatchOptions(
        target,
        concurrency,
        retry_failed=retry_failed,
        rerun_expired=rerun_expired,
        overwrite=overwrite,
    )


async def _batch_run(
    manifest: Manifest,
    journal: Journal,
    options: BatchOptions,
    observer: _Quiet,
    opened: Callable[[], AbstractAsyncContextManager[Client]],
) -> Summary:
    """The async part of ``run_batch``: the batch on the client ``opened`` makes."""
    async with opened() as client:
        runner = Batch(client, journal, options, observer)
        await runner.run(manifest)
        return runner.summary(manifest)


def _manifest(jobs: Iterable[Job] | Path | str) -> Manifest:
    """The manifest ``run_batch`` runs: read from a path, or made of Jobs (each checked)."""
    if isinstance(jobs, str | os.PathLike):
        return read_manifest(Path(jobs))
    jobs = list(jobs)
    for job in jobs:
        a_job(job)
    return manifest_of(jobs)
