"""The task lifecycle on trio: submit, then stream or poll, then the result, then the download.

:class:`Client` owns the transport, the plugin manager, the settings and the policies; every
provider goes through the same code here, and plugins only translate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, runtime_checkable

import attrs
import trio

from mediatask.engine.concurrency import AdaptiveLimit, Slots
from mediatask.engine.download import fetch_all, fetch_to_file, make_folder, stems
from mediatask.engine.following import Follower, check_follow
from mediatask.engine.known import KnownUpdates
from mediatask.engine.naming import default_stem
from mediatask.engine.policy import PollPolicy, RetryPolicy
from mediatask.engine.run_many import Outcome, UpdateCallback, run_all
from mediatask.engine.sending import Sender, Throttle
from mediatask.http.http11 import Http11Transport
from mediatask.http.messages import Request, Response
from mediatask.http.transport import READ_TIMEOUT, Transport, current_transport
from mediatask.model.errors import (
    AuthError,
    FailedTask,
    Hint,
    MediataskError,
    NotFoundError,
    PluginError,
    RateLimitedError,
    RejectedError,
    SubmitUncertainError,
    TaskCanceledError,
    TaskFailedError,
    UnavailableError,
    UsageError,
    wrong_type,
)
from mediatask.model.values import (
    Cancellation,
    Credits,
    Job,
    LocalFiles,
    Operation,
    ProviderInfo,
    Result,
    Status,
    Submitted,
    TaskRef,
    Update,
    lasting,
)
from mediatask.providers.manager import PluginManager
from mediatask.providers.validate import (
    a_job,
    check_concurrency,
    check_job,
    check_local_input,
    check_out_dir,
    find_operation,
    out_dir_path,
    param_kind,
    provider_resolves,
    some_jobs,
)
from mediatask.settings.config import Settings

log = logging.getLogger("mediatask")

MAX_UPLOAD_STEPS = 10
LIST_PAGES = 20
"""Pages of a provider's list of tasks read at most by default (see :meth:`Client.listing`)."""
_fixed = attrs.setters.frozen


class FileHost(Protocol):
    """Makes local files reachable by URL, for providers that take URLs only (the sandbox's,
    or the user's bucket: :mod:`mediatask.engine.file_host`)."""

    def publish(self, path: Path) -> str:
        """Return a URL from which ``path`` can be fetched (called in a worker thread: it may
        block, e.g. to upload)."""
        ...


@runtime_checkable
class ReleasingFileHost(FileHost, Protocol):
    """A file host whose published files cost something to keep (the user's bucket): the
    engine tells it which ones a live task still needs and which ones it is done with."""

    def keep(self, urls: Sequence[str]) -> None:
        """The task these URLs were given to was created: leave them until :meth:`release`."""
        ...

    def release(self, urls: Sequence[str]) -> None:
        """The task these URLs were given to has ended: delete them (blocking)."""
        ...


FILE_PREFIX = "@"
"""A URL-valued parameter whose value starts so names a local file: ``-p audio_url=@a.mp3``."""


def file_params(operation: Operation, params: Mapping[str, Any]) -> dict[str, str]:
    """The URL-valued parameters given as ``@PATH``: parameter name to local path."""
    return {
        param.name: str(params[param.name])[len(FILE_PREFIX) :]
        for param in operation.params
        if param.type == "url" and str(params.get(param.name) or "").startswith(FILE_PREFIX)
    }


@attrs.frozen
class Listing:
    """What :meth:`Client.listing` read of a provider's list of tasks."""

    tasks: tuple[TaskRef, ...]
    """The tasks listed, newest first as the provider orders them."""
    pages: int
    """How many pages were read."""
    more: bool
    """True when it stopped before the last page (the bound on pages): there are older tasks."""


def by_url(local_files: LocalFiles, *, inline: bool = True) -> bool:
    """True when a local file can reach a provider that takes files so only by a file host's
    URL (``inline``: the file is an input, not an ``@PATH`` parameter)."""
    return not (local_files is LocalFiles.UPLOAD or (local_files is LocalFiles.INLINE and inline))


def needs_file_host(info: ProviderInfo, job: Job) -> bool:
    """True when some local file of ``job`` (an input or an ``@PATH`` parameter) can reach
    ``info`` only by a file host's URL."""
    local_files = info.capabilities.local_files
    operation = find_operation(info, job.operation)
    if any(not provider_resolves(info, item) for item in job.inputs) and by_url(local_files):
        return True
    return bool(file_params(operation, job.params)) and by_url(local_files, inline=False)


def held_long_enough(info: ProviderInfo, request: Request) -> Request:
    """A submit ``request`` with time to answer when the provider may hold it
    (``Capabilities.submit_blocks``): the hold plus the usual read timeout, unless it says."""
    blocks = info.capabilities.submit_blocks
    if blocks <= 0 or request.timeout is not None:
        return request
    return attrs.evolve(request, timeout=blocks + READ_TIMEOUT)


def _reaches_back(records: Sequence[Submitted], since: datetime) -> bool:
    """True when a page of a list holds a task created before ``since``."""
    older = [record.created_at for record in records if record.created_at is not None]
    return bool(older) and min(older) < since


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def _ceilings(value: Mapping[str, int]) -> Mapping[str, int]:
    for provider, ceiling in value.items():
        if int(ceiling) != ceiling or ceiling < 1:
            raise UsageError(f"the most tasks in flight for {provider} must be 1 or more")
    return MappingProxyType(dict(value))


def _a(kind: type, takes: str) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An attrs validator: the argument is a ``kind``, else a TypeError saying what it takes."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise wrong_type(f"Client {attribute.name}", takes, value)

    return check


@attrs.define
class Client:
    """Submits jobs and follows tasks on any provider. Use it as an async context manager.

    >>> async with Client() as client:                        # doctest: +SKIP
    ...     job = Job("a1d", "image-upscaler", ["https://example.com/cat.jpg"])
    ...     result = await client.run(job, out_dir=Path("out"))
    """

    # Fixed once made: the sender holds them too.
    plugins: PluginManager = attrs.field(
        factory=PluginManager.from_entry_points,
        validator=_a(PluginManager, "a PluginManager (PluginManager.from_entry_points())"),
        on_setattr=_fixed,
    )
    settings: Settings = attrs.field(
        factory=Settings, validator=_a(Settings, "a mediatask.Settings"), on_setattr=_fixed
    )
    transport: Transport = attrs.field(
        factory=Http11Transport, converter=current_transport, on_setattr=_fixed
    )
    """How requests go out (default: :class:`~mediatask.http.http11.Http11Transport`); one of
    the protocol's earlier shape is adapted, with a warning."""
    retry: RetryPolicy = attrs.field(
        factory=RetryPolicy, validator=_a(RetryPolicy, "a RetryPolicy"), on_setattr=_fixed
    )
    polling: PollPolicy = attrs.field(factory=PollPolicy, validator=_a(PollPolicy, "a PollPolicy"))
    follow: str = attrs.field(default="auto", validator=lambda _, __, value: check_follow(value))
    """How tasks are followed: ``auto`` (stream where the provider can, else poll),
    ``stream`` or ``poll`` (see :data:`~mediatask.engine.following.FOLLOW_MODES`)."""
    announce: Callable[[str], None] | None = attrs.field(default=None, on_setattr=_fixed)
    """Told one line when a request first has to be retried (``a1d answers HTTP 503; trying
    again in 4 s``): the CLI prints it; ``None``: only logged."""
    file_host: FileHost | None = None
    clock: Callable[[], datetime] = utcnow
    max_in_flight: Mapping[str, int] = attrs.field(
        factory=dict, converter=_ceilings, on_setattr=_fixed
    )
    """Per provider name: at most this many of its tasks in flight (else learned)."""
    throttles: Callable[[ProviderInfo], Throttle] | None = attrs.field(
        default=None, on_setattr=_fixed
    )
    """Makes each provider's rate limiter (default: one in this process; a shared ledger's
    workers share theirs, see :mod:`mediatask.batch.shared_limits`)."""
    _sender: Sender = attrs.field(init=False)
    _follower: Follower = attrs.field(init=False)
    _known: KnownUpdates = attrs.field(init=False, factory=KnownUpdates)
    _published: dict[str, list[str]] = attrs.field(init=False, factory=dict)
    """Per task handle: the URLs its inputs were published at, released when it ends."""
    """Updates seen without asking (a final submit answer, a list), until the task is followed."""
    _slots: Slots = attrs.field(init=False)
    _folders: set[Path] = attrs.field(init=False, factory=set)
    """Output folders this client has checked or made: once each, not once per task."""

    def __attrs_post_init__(self) -> None:
        self._sender = Sender(
            self.plugins, self.settings, self.transport, self.retry, self.throttles, self.announce
        )
        self._follower = Follower(
            self.plugins, self._sender, self.transport, self.retry, lambda: self.clock()
        )
        self._slots = Slots(dict(self.max_in_flight))

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.transport.aclose()

    def provider(self, name: str) -> ProviderInfo:
        """The provider called ``name``; the error lists the installed ones."""
        return self.plugins.provider(name)

    def slot(self, provider: str) -> AdaptiveLimit:
        """The slots of ``provider``'s tasks in flight, for this client's key: hold one per job.

        How many there are is learned from the provider's answers (see
        :mod:`mediatask.engine.concurrency`), under ``max_in_flight`` and the provider's documented
        ``max_concurrency``. :meth:`run_many` and batches hold one for each job.
        """
        info = self.provider(provider)
        return self._slots.get(info.name, self.settings.key(info), info.max_concurrency)

    def check(self, job: Job, out_dir: Path | str | None = None) -> Job:
        """Validate ``job`` without any network call; returns it typed.

        Checks everything that can be known before paying: the operation and its parameters,
        each local input (a readable, non-empty file of the kind and size the provider takes,
        and a way to send it), and that ``out_dir``, when given, can be created and written.
        """
        info = self.provider(a_job(job).provider)
        checked = self.plugins.validate(info.name, check_job(info, job))
        operation = find_operation(info, checked.operation)
        for index, item in enumerate(checked.inputs):
            if not provider_resolves(info, item):
                self._check_local(info, operation, index, item)
        for name, path in file_params(operation, checked.params).items():
            self._check_local(info, operation, len(operation.input_kinds), path, param=name)
        target = out_dir_path(out_dir)
        if target is not None:
            check_out_dir(target)
        return checked

    def _check_local(
        self,
        info: ProviderInfo,
        operation: Operation,
        index: int,
        item: str,
        *,
        param: str | None = None,
    ) -> Path:
        """Check the local file ``item``: an input (at ``index``), or ``@item`` given for the URL
        parameter ``param``, whose kind its name says (``audio_url``)."""
        where = f"{info.name} {operation.name}"
        kind = param_kind(param) if param is not None else None
        return check_local_input(where, operation, index, item, kind=kind, param=param)

    async def send(
        self,
        provider: str,
        request: Request,
        *,
        submit: bool = False,
        on_wire: Callable[[], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send a plugin-built request with auth, rate limits, error mapping and retries.

        :param submit: the request may create (and charge for) a task: it is resent only when
            it certainly did not arrive; otherwise :class:`SubmitUncertainError` is raised.
        :param on_wire: called just before the request goes on the wire (see :class:`Sender`).
        :param retry: how long to retry it (default: the client's ``retry``).
        """
        info = self.provider(provider)
        if submit:
            return await self._sender.submit(info, request, on_wire, retry)
        return await self._sender.send(info, request, on_wire=on_wire, retry=retry)

    # -- the task lifecycle ------------------------------------------------------------------

    def prepared(self, provider: str, request: Request) -> Request:
        """``request`` as it would go on the wire: its full URL, with the provider's key."""
        return self._sender.prepare(self.provider(provider), request)

    def reach(self, info: ProviderInfo, item: str, *, inline: bool = True) -> LocalFiles:
        """How the local file ``item`` will reach ``info``: INLINE (sent with the request; only
        for inputs, ``inline``), UPLOAD (uploaded first), or NONE (by the file host's URL).

        :raises UsageError: the provider takes URLs only and there is no file host.
        """
        local_files = info.capabilities.local_files
        if not by_url(local_files, inline=inline):
            return local_files
        if self.file_host is not None:
            return LocalFiles.NONE
        if local_files is LocalFiles.INLINE:
            raise UsageError(
                f"{info.name} takes local files as inputs only and @{item} is a parameter: "
                "pass an http(s) URL"
            )
        raise UsageError.hinted(
            f"{info.name} takes inputs by URL only and {item} is a local file: pass an http(s) "
            "URL, give a bucket to publish it from (",
            Hint.FILE_HOST,
            "), or add ",
            Hint.SANDBOX,
            " to try it against the emulator",
        )

    async def _local_input(
        self,
        info: ProviderInfo,
        operation: Operation,
        index: int,
        item: str,
        published: list[str],
        *,
        inline: bool = True,
        param: str | None = None,
    ) -> str:
        """Make a local file reachable, as :meth:`reach` says: its path, an uploaded file's URL,
        or a URL of the file host. ``param`` names the URL parameter given ``@item``."""
        path = await trio.to_thread.run_sync(
            partial(self._check_local, info, operation, index, item, param=param)
        )
        way = self.reach(info, item, inline=inline)
        if way is LocalFiles.INLINE:
            return str(await trio.Path(path).resolve())
        if way is LocalFiles.UPLOAD:
            return await self._upload(info, path)
        assert self.file_host is not None  # noqa: S101  # reach() said so
        url = await trio.to_thread.run_sync(self.file_host.publish, path, abandon_on_cancel=True)
        published.append(url)
        return url

    async def _upload(self, info: ProviderInfo, path: Path) -> str:
        history: list[Response] = []
        for _ in range(MAX_UPLOAD_STEPS):
            step = self.plugins.upload(info.name, path, history)
            if isinstance(step, str):
                return step
            history.append(await self.send(info.name, step))
        raise PluginError(f"the {info.name} plugin did not finish uploading {path.name}")

    async def submit(
        self, job: Job, *, on_wire: Callable[[], None] | None = None, marker: str = ""
    ) -> TaskRef:
        """Validate ``job``, make its local inputs reachable, and create the task (once).

        ``on_wire`` is called when the submit request is about to be sent (after uploads and
        the rate limiter): from then on the task may exist. Only that exchange is shielded
        from cancellation. ``marker`` goes on the task where the provider keeps a name
        (hook ``mediatask_submit``), so a lost answer can be found in its list.
        """
        info = self.provider(a_job(job).provider)
        job = self.plugins.validate(info.name, check_job(info, job))
        published: list[str] = []
        job = await self._reachable(info, job, published)
        host = self.file_host if isinstance(self.file_host, ReleasingFileHost) else None
        try:
            response = await self._send_submit(info, job, marker, on_wire)
        except SubmitUncertainError:
            if host is not None and published:
                host.keep(published)  # a task may exist and fetch them later
            raise
        task = self._created(info, job, response)
        if host is not None and published:
            host.keep(published)
            self._published[task.handle] = published
        return task

    async def _reachable(self, info: ProviderInfo, job: Job, published: list[str]) -> Job:
        """``job`` with each local file (an input or an ``@PATH`` parameter) made reachable by
        :meth:`_local_input`; the URLs published for them are added to ``published``."""
        operation = find_operation(info, job.operation)
        inputs = [
            item
            if provider_resolves(info, item)
            else await self._local_input(info, operation, index, item, published)
            for index, item in enumerate(job.inputs)
        ]
        files = {
            name: await self._local_input(
                info,
                operation,
                len(operation.input_kinds),
                path,
                published,
                inline=False,
                param=name,
            )
            for name, path in file_params(operation, job.params).items()
        }
        return attrs.evolve(job, inputs=inputs, params={**job.params, **files})

    def _created(self, info: ProviderInfo, job: Job, response: Response) -> TaskRef:
        """The task the submit answer ``response`` says was created (its update kept)."""
        submitted = self.plugins.read_submission(info.name, job, response)
        task = TaskRef(
            provider=info.name,
            task_id=submitted.task_id,
            submitted_at=self.clock(),
            operation=job.operation,
            extra=submitted.extra,
        )
        if submitted.update is not None:
            self._known.keep(task.handle, submitted.update)
        return task

    async def _send_submit(
        self, info: ProviderInfo, job: Job, marker: str, on_wire: Callable[[], None] | None
    ) -> Response:
        """Send the submit, telling the provider's slots whether it was accepted or refused."""
        slot, attempts = self.slot(info.name), 0

        def sending() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the last attempt was turned away (429, 503) or never arrived
                slot.refused()
            if on_wire is not None:
                on_wire()

        try:
            request = held_long_enough(info, self.plugins.submit(info.name, job, marker))
            response = await self.send(info.name, request, submit=True, on_wire=sending)
        except (RateLimitedError, UnavailableError):
            slot.refused()
            raise
        slot.accepted()
        return response

    async def poll(self, task: TaskRef, *, retry: RetryPolicy | None = None) -> Update:
        """Ask the provider for the task's state once, and return.

        One status request, plus the plugin's result request when the state is final and the
        plugin has that step (hook ``mediatask_result``); an answer the plugin reads as
        :class:`~mediatask.model.errors.FailedTask` is a failed (or canceled) Update.

        :param retry: how long to retry a failing request (default: the client's ``retry``);
            e.g. ``RetryPolicy(budget=20)`` to answer promptly while a provider is down.
        """
        return await self._follower.poll(task, retry)

    def _following(self, task: TaskRef, follow: str | None) -> AsyncGenerator[Update, None]:
        mode = check_follow(follow or self.follow)
        return self._follower.updates(task, self._known.get(task.handle), self.polling, mode)

    @trio.as_safe_channel
    async def updates(
        self, task: TaskRef, *, follow: str | None = None
    ) -> AsyncGenerator[Update, None]:
        """Follow ``task`` until it is final; use as ``async with client.updates(t) as updates``.

        Streams (SSE) when the provider can, opening a dropped stream again a few times, else
        polls on a schedule learned from the operation's durations (see
        :mod:`mediatask.engine.following`). Each distinct update is sent once, never one going back.

        :param follow: ``auto``, ``stream`` or ``poll``; default the client's :attr:`follow`.
        """
        async with contextlib.aclosing(self._following(task, follow)) as updates:
            async for update in updates:
                yield update
        self._known.drop(task.handle)  # followed to the end: the follower has it

    def result(self, task: TaskRef, update: Update) -> Result:
        """Turn a final update into a Result, or raise the task's failure."""
        if update.status is Status.SUCCEEDED:
            now, lifetime = self.clock(), self.provider(task.provider).result_lifetime
            outputs = lasting(update.outputs, lifetime, now)
            return Result(task, outputs, now, update.payload, update.extra)
        reason = update.message or update.raw_status or update.status.value
        if update.status is Status.CANCELED:
            raise TaskCanceledError(f"{task.handle} was canceled: {reason}", update=update)
        raise TaskFailedError(f"{task.handle} failed: {reason}", update=update)

    async def wait(
        self,
        task: TaskRef,
        on_update: UpdateCallback | None = None,
        *,
        follow: str | None = None,
    ) -> Result:
        """Follow ``task`` to its end; the Result on success, :class:`TaskFailedError` if not.

        :param follow: ``auto``, ``stream`` or ``poll``; default the client's :attr:`follow`.
        """
        if not isinstance(task, TaskRef):
            raise wrong_type("task", "a mediatask.TaskRef (as submit returns)", task)
        self.slot(task.provider).accepted()  # a job resumed without a submit holds a task too
        last: Update | None = None
        # The follower's generator is read here directly: no code of the caller's runs between
        # its steps (``on_update`` is a plain function), so the channel of :meth:`updates` and
        # its task are not needed.
        following = self._following(task, follow)
        async with contextlib.aclosing(following) as updates:
            async for update in updates:
                last = update
                if on_update is not None:
                    on_update(task, update)
        self._known.drop(task.handle)  # followed to the end: the follower has it
        await self._release(task)
        if last is None:
            raise PluginError(f"{task.handle}: the provider gave no final state")
        return self.result(task, last)

    async def _release(self, task: TaskRef) -> None:
        """``task`` has ended: the files published for it are no longer needed."""
        urls = self._published.pop(task.handle, None)
        if urls and isinstance(self.file_host, ReleasingFileHost):
            await trio.to_thread.run_sync(self.file_host.release, urls, abandon_on_cancel=True)

    async def download(
        self,
        result: Result,
        out_dir: Path | str,
        *,
        stem: str | None = None,
        overwrite: bool = False,
    ) -> Result:
        """Download every output into ``out_dir`` (in parallel); returns the Result with files.

        Files are named ``STEM-ROLE.EXT`` (``stem`` defaults to the task id); a file already
        there is kept and the new one numbered (``STEM-ROLE-2.EXT``) unless ``overwrite``.
        An output that fails does not stop the others; the first failure is raised after all
        have ended, so what could be saved is saved.
        """
        out_dir = Path(out_dir)
        if out_dir not in self._folders:
            await make_folder(out_dir, label=result.task.handle)
            self._folders.add(out_dir)
        outputs = [output for output in result.outputs if output.downloadable]
        fetch = partial(
            fetch_to_file,
            self.transport,
            now=self.clock,
            label=result.task.handle,
            retry=self.retry,
            overwrite=overwrite,
        )
        names = stems(stem or result.task.task_id, outputs)
        pairs = zip(outputs, names, strict=True)
        fetches = [partial(fetch, output, out_dir, name) for output, name in pairs]
        files = await fetch_all(fetches)
        return attrs.evolve(result, files=files)

    async def run(
        self,
        job: Job,
        out_dir: Path | str | None = None,
        *,
        on_submit: Callable[[TaskRef], None] | None = None,
        on_update: UpdateCallback | None = None,
        follow: str | None = None,
    ) -> Result:
        """Submit ``job``, follow it to the end, and download its outputs if ``out_dir`` is set.

        The files are named after the first input (``photo-image.png`` for ``photo.jpg``), or
        the task id when there is none. An ``out_dir`` that cannot be written is a
        :class:`UsageError` before anything is sent.

        :param follow: ``auto``, ``stream`` or ``poll``; default the client's :attr:`follow`.
        """
        out_dir = out_dir_path(out_dir)
        if follow is not None:
            check_follow(follow)
        if out_dir is not None and out_dir not in self._folders:
            await trio.to_thread.run_sync(check_out_dir, out_dir)
            self._folders.add(out_dir)
        task = await self.submit(job)
        if on_submit is not None:
            on_submit(task)
        result = await self.wait(task, on_update, follow=follow)
        if out_dir is None:
            return result
        return await self.download(result, out_dir, stem=default_stem(job.inputs, task.task_id))

    def run_many(
        self,
        jobs: Iterable[Job],
        out_dir: Path | str | None = None,
        *,
        concurrency: int = 8,
        on_update: UpdateCallback | None = None,
    ) -> contextlib.AbstractAsyncContextManager[trio.abc.ReceiveChannel[Outcome]]:
        """Run ``jobs`` concurrently; yields an :class:`Outcome` per job, in the order they end.

        At most ``concurrency`` jobs run at once, and of each provider's as many as it takes
        (learned, see :meth:`slot`). A failed job is an Outcome with ``error`` set; the others
        go on.
        Use as ``async with client.run_many(jobs, out) as outcomes: async for o in outcomes``;
        leaving the block early cancels the jobs still running.

        :raises UsageError: at once, before anything is sent, for a ``concurrency`` below 1
            or an ``out_dir`` that cannot be created or written.
        """
        check_concurrency(concurrency)
        jobs, out_dir = some_jobs(jobs), out_dir_path(out_dir)
        if out_dir is not None:
            check_out_dir(out_dir)  # a quick local check, made before any job is paid for
            self._folders.add(out_dir)
        return self._outcomes(jobs, out_dir, concurrency=concurrency, on_update=on_update)

    @trio.as_safe_channel
    async def _outcomes(
        self,
        jobs: Iterable[Job],
        out_dir: Path | None,
        *,
        concurrency: int,
        on_update: UpdateCallback | None,
    ) -> AsyncGenerator[Outcome, None]:
        send, receive = trio.open_memory_channel[Outcome](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    run_all,
                    self,
                    jobs,
                    send,
                    out_dir=out_dir,
                    concurrency=concurrency,
                    on_update=on_update,
                )
            )
            async with receive:
                async for outcome in receive:
                    yield outcome

    async def list_tasks(
        self,
        provider: str,
        operation: str | None = None,
        *,
        pages: int = LIST_PAGES,
        retry: RetryPolicy | None = None,
    ) -> list[TaskRef]:
        """The provider's own records of recent tasks, newest as the provider orders them.

        Each TaskRef's latest known Update is kept, so ``wait``/``updates`` on a finished one
        needs no further request. Reads at most ``pages`` pages; :meth:`listing` also says
        whether there were more.
        """
        listing = await self.listing(provider, operation, pages=pages, retry=retry)
        return list(listing.tasks)

    async def listing(
        self,
        provider: str,
        operation: str | None = None,
        *,
        since: datetime | None = None,
        pages: int = LIST_PAGES,
        retry: RetryPolicy | None = None,
    ) -> Listing:
        """The provider's list of tasks, page after page (hook ``mediatask_next_page``).

        Stops at the last page, after ``pages`` pages, or at the first page holding a task
        created before ``since`` (where the provider tells when its tasks were created): the
        :class:`Listing` says whether it stopped before the end.

        :param retry: how long to retry each page's request (default: the client's ``retry``).
        """
        if pages < 1:
            raise UsageError(f"pages must be 1 or more, not {pages}")
        info = self.provider(provider)
        # Capabilities.list is consulted first: undeclared, the hook is not even asked.
        request = self.plugins.list_tasks(info.name, operation) if info.capabilities.list else None
        if request is None:
            raise UsageError(f"{info.name} has no list of tasks")
        tasks: list[TaskRef] = []
        read = 0
        while request is not None and read < pages:
            response = await self.send(info.name, request, retry=retry)
            read += 1
            records = self.plugins.read_list(info.name, operation, response)
            tasks.extend(self._listed(info, operation, records))
            if since is not None and _reaches_back(records, since):
                return Listing(tuple(tasks), read, more=False)
            request = self.plugins.next_page(info.name, operation, request, response)
        return Listing(tuple(tasks), read, more=request is not None)

    def _listed(
        self, info: ProviderInfo, operation: str | None, records: Sequence[Submitted]
    ) -> list[TaskRef]:
        """The tasks of one page of a list, each one's update kept."""
        tasks = []
        for record in records:
            task = TaskRef(info.name, record.task_id, self.clock(), operation or "", record.extra)
            if record.update is not None:
                self._known.keep(task.handle, record.update)
            tasks.append(task)
        return tasks

    def known_update(self, task: TaskRef) -> Update | None:
        """The latest Update the client has seen for ``task`` without asking, if any (kept
        until the task is followed, at most :data:`~mediatask.engine.known.KNOWN_LIMIT` of them)."""
        return self._known.get(task.handle)

    def remember(self, task: TaskRef, update: Update) -> None:
        """Take ``update`` as the latest state of ``task`` (e.g. a final one read from a journal):
        ``wait``/``updates`` on a final one then need no request."""
        self._known.keep(task.handle, update)

    async def credits(self, provider: str, *, retry: RetryPolicy | None = None) -> Credits:
        """The account's remaining credits with ``provider``.

        :param retry: how long to retry a failing request (default: the client's ``retry``).
        """
        info = self.provider(provider)
        request = self.plugins.credits(info.name)
        if request is None:
            raise UsageError(f"{info.name} does not report remaining credits")
        response = await self.send(info.name, request, retry=retry)
        return self.plugins.read_credits(info.name, response)

    async def cancel(self, task: TaskRef, *, retry: RetryPolicy | None = None) -> str:
        """Ask the provider to cancel (or delete) ``task``; returns what it did, in one line.

        See :meth:`cancel_task` for what the line says.

        :param retry: how long to retry a failing request (default: the client's ``retry``).
        """
        return (await self.cancel_task(task, retry=retry)).line(task.handle)

    async def cancel_task(self, task: TaskRef, *, retry: RetryPolicy | None = None) -> Cancellation:
        """Ask the provider to cancel (or delete) ``task``; returns what came of it.

        The plugin's ``mediatask_read_cancel`` says whether the task was canceled, the cancel
        only requested, or there was nothing to cancel. A cancel the provider refuses (a 4xx
        other than a bad key or an unknown task) is followed by one status request: a task
        already final is :attr:`CancelOutcome.NOTHING` with its state, not an error.
        :class:`UsageError`, before any request, when the provider declares no way to cancel
        (``Capabilities.cancel``).

        :param retry: how long to retry a failing request (default: the client's ``retry``).
        """
        info = self.provider(task.provider)
        request = self.plugins.cancel(info.name, task) if info.capabilities.cancel else None
        if request is None:
            raise UsageError(f"{info.name} has no way to cancel a task")
        try:
            response = await self.send(info.name, request, retry=retry)
        except RejectedError as refused:
            if isinstance(refused, AuthError | NotFoundError | FailedTask):
                raise
            final = await self._final_state(task, retry)
            if final is None:
                raise
            return Cancellation.nothing(final)
        said = self.plugins.read_cancel(info.name, task, response)
        if isinstance(said, Cancellation):
            return said
        return Cancellation.requested(said or "")

    async def _final_state(self, task: TaskRef, retry: RetryPolicy | None) -> Status | None:
        """The task's state if a poll finds it final; ``None`` if not, or if the poll fails."""
        try:
            update = await self.poll(task, retry=retry)
        except MediataskError:
            return None
        return update.status if update.status.is_final else None
