"""What the task commands share: a client for the command line, handles, the user's journal.

``run`` and ``submit`` record each job in the user's journal (``$MEDIATASK_HOME/journal.sqlite``,
default under ``click.get_app_dir("mediatask")``), so ``status``, ``wait``, ``download``… in a new
process find the task's operation and provider details from its handle alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs
import click

from mediatask._api import open_client
from mediatask.cli.base import QUICK_RETRY_BUDGET, SANDBOX_SECONDS_ENV
from mediatask.cli.deadline import exit_timed_out
from mediatask.cli.interrupt import INTERRUPTED_STATUS, Interrupted, run_cancellable
from mediatask.cli.options import command_options
from mediatask.engine.client import Client, utcnow
from mediatask.engine.deadline import Deadline, TimedOut, within
from mediatask.engine.policy import RetryPolicy
from mediatask.engine.sending import Throttle
from mediatask.journal.backend import JournalBackend
from mediatask.journal.sqlite import (
    JOURNAL_FILE,
    SANDBOX_JOURNAL_FILE,
    JobRecord,
    Journal,
    batch_journal_path,
)
from mediatask.model.errors import ConfigError, UsageError
from mediatask.model.values import Output, ProviderInfo, Status, TaskRef, Update
from mediatask.providers.manager import PluginManager
from mediatask.settings.config import ProviderSettings, Settings
from mediatask.settings.keys import HOME_ENV, make_home

T = TypeVar("T")


def _sandbox_seconds() -> float | None:
    value = os.environ.get(SANDBOX_SECONDS_ENV, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise UsageError(f"{SANDBOX_SECONDS_ENV} must be a number of seconds, got {value!r}")
    return seconds


def cli_settings(plugins: PluginManager, provider: str | None, key: str | None) -> Settings:
    """Settings from the environment and key store, with ``--key`` on top for ``provider``."""
    settings = Settings()
    if key is None or provider is None:
        return settings
    info = plugins.provider(provider)
    override = ProviderSettings(base_url=settings.base_url(info), key=key)
    return settings.with_overrides({info.name: override})


@asynccontextmanager
async def open_cli_client(
    plugins: PluginManager,
    *,
    sandbox: bool,
    providers: Iterable[str] | None = None,
    settings: Settings | None = None,
    retry: RetryPolicy | None = None,
    throttles: Callable[[ProviderInfo], Throttle] | None = None,
    quick: bool = False,
) -> AsyncIterator[Client]:
    """A Client for a command, made by :func:`mediatask._api.open_client` with the command's
    extras: ``--max-in-flight``, ``--retry-budget``, ``--follow``, ``--file-host``,
    ``$MEDIATASK_SANDBOX_SECONDS`` with ``--sandbox``.

    :param throttles: makes each provider's rate limiter (a shared ledger's workers share theirs).
    :param quick: a one-question command: retries for :data:`QUICK_RETRY_BUDGET` unless
        ``--retry-budget`` says otherwise, and says on stderr when it has to retry.
    """
    ceilings = command_options().max_in_flight
    async with open_client(
        sandbox=sandbox,
        providers=providers,
        plugins=plugins,
        settings=settings,
        sandbox_seconds=_sandbox_seconds() if sandbox else None,
        max_in_flight={plugins.provider(name).name: n for name, n in ceilings.items()},
        throttles=throttles,
        **_client_options(retry, quick=quick),
    ) as client:
        yield client


def _client_options(retry: RetryPolicy | None, *, quick: bool) -> dict[str, Any]:
    """The Client options the command's own options ask for (see :func:`open_cli_client`)."""
    given = command_options()
    retry = retry or given.retry
    if retry is None and quick:
        retry = RetryPolicy(budget=QUICK_RETRY_BUDGET)
    options: dict[str, Any] = {} if retry is None else {"retry": retry}
    if given.follow is not None:
        options["follow"] = given.follow
    if quick and not given.quiet:
        options["announce"] = partial(click.echo, err=True)
    if given.file_host is not None:
        options["file_host"] = given.file_host
    return options


@attrs.frozen
class ClientFor:
    """The client a command runs its work on: for which providers, with which settings."""

    plugins: PluginManager
    providers: tuple[str, ...]
    settings: Settings
    sandbox: bool = False
    retry: RetryPolicy | None = None
    quick: bool = False
    """A one-question command (see :func:`open_cli_client`)."""

    def open(self) -> AbstractAsyncContextManager[Client]:
        """The client, as :func:`open_cli_client` makes it."""
        return open_cli_client(
            self.plugins,
            sandbox=self.sandbox,
            providers=self.providers,
            settings=self.settings,
            retry=self.retry,
            quick=self.quick,
        )


class Watched(Protocol):
    """What a command says of its task when its run ends early."""

    def task(self) -> TaskRef | None:
        """The task as far as it is known (``None`` before its submit got an answer)."""

    def interrupted(self) -> str:
        """What Ctrl-C leaves behind, in words (``""``: nothing to say)."""


@attrs.frozen
class Known:
    """A task known before the command's run begins (:class:`Watched`)."""

    known: TaskRef | None = None

    def task(self) -> TaskRef | None:
        """The task."""
        return self.known

    def interrupted(self) -> str:
        """That it goes on at the provider."""
        return f"{self.known.handle} goes on at the provider" if self.known else ""


def run_with_client(
    client: ClientFor,
    work: Callable[[Client], Awaitable[T]],
    deadline: Deadline | None = None,
    watched: Watched = Known(),
) -> T:
    """Run ``work`` on a command's ``client`` under trio and return its value: the one way a
    command runs its async part.

    How it ends other than with a value becomes the command's exit: Ctrl-C (or SIGTERM) prints
    ``interrupted`` and what ``watched.interrupted()`` says, and exits 130; a passed
    ``deadline`` prints what became of ``watched.task()`` (cancelled at the provider if asked
    and possible) and exits 124. A library error is raised as it is, for
    :func:`~mediatask.cli.base.user_errors`.
    """

    async def main() -> T | TimedOut:
        async with client.open() as opened:
            return await within(deadline or Deadline(), opened, watched.task, partial(work, opened))

    outcome = run_cancellable(main)
    if isinstance(outcome, Interrupted):
        said = watched.interrupted()
        click.echo("\ninterrupted" + (f": {said}" if said else ""), err=True)
        sys.exit(INTERRUPTED_STATUS)
    if isinstance(outcome, TimedOut):
        exit_timed_out(outcome)
    return outcome


def parse_handle(handle: str) -> tuple[str, str]:
    """Split ``PROVIDER:TASK_ID`` on its first colon (see :meth:`TaskRef.parse`)."""
    task = TaskRef.parse(handle)
    return task.provider, task.task_id


def journal_path(where: Path | None) -> Path:
    """The journal to use: a file, a batch's output folder (its real journal, else a sandbox
    batch's), or (``None``) the user's journal."""
    if where is None:
        return make_home() / JOURNAL_FILE
    if not where.is_dir():
        return where
    real, sandbox = batch_journal_path(where), batch_journal_path(where, sandbox=True)
    return sandbox if sandbox.is_file() and not real.is_file() else real


def open_journal(path: Path, *, create: bool = True) -> Journal:
    """Open a journal; a missing one (unless ``create``) or a bad place is a one-line error."""
    if not create and not path.is_file():
        raise UsageError(f"no journal at {path}")
    try:
        return Journal(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the journal {path}: {exc} (set {HOME_ENV})") from None


RECORDING_OFF_FILE = "journal-off"
"""A file of this name in the mediatask home means ``run`` and ``submit`` journal nothing."""


def recording_off_path() -> Path:
    """The marker file ``jobs off`` writes (``jobs on`` removes it)."""
    return make_home() / RECORDING_OFF_FILE


def sandbox_journal_path() -> Path:
    """Where ``run --sandbox`` journals its jobs: apart from the user's real ones."""
    return make_home() / SANDBOX_JOURNAL_FILE


def find_sandbox_record(handle: str) -> JobRecord | None:
    """The record a ``--sandbox`` command left for ``handle``, if any."""
    path = sandbox_journal_path()
    if not path.is_file():
        return None
    with open_journal(path) as journal:
        return journal.find(handle)


@contextlib.contextmanager
def open_user_journal(*, sandbox: bool = False) -> Iterator[Journal]:
    """The user's journal for ``run``/``submit`` (with ``sandbox``, the sandbox's, apart from
    the real one): a throw-away one if recording is off.

    Off means ``jobs off`` (the marker file) or ``--no-log`` on the command. The throw-away
    journal lives in a temporary folder removed when the command ends, so the command works
    the same and nothing of the job stays on disk.
    """
    off = command_options().no_log or recording_off_path().exists()
    if not off:
        with open_journal(sandbox_journal_path() if sandbox else journal_path(None)) as journal:
            yield journal
        return
    with (
        tempfile.TemporaryDirectory(prefix="mediatask-") as folder,
        open_journal(Path(folder) / JOURNAL_FILE) as journal,
    ):
        yield journal


def resolve_task(plugins: PluginManager, handle: str, journal: JournalBackend) -> TaskRef:
    """The task named by ``handle``: the journal's record of it, else one built from the name."""
    provider, task_id = parse_handle(handle)
    info = plugins.provider(provider)
    record = journal.find(f"{info.name}:{task_id}")
    if record is not None and record.task is not None:
        return record.task
    return TaskRef(info.name, task_id, utcnow())


SANDBOX_JOB_PREFIX = "sandbox-"
"""Job ids of ``--sandbox`` runs start so: their tasks died with the command's emulators."""


def new_job_id(*, sandbox: bool = False) -> str:
    """A fresh id for a job recorded by ``run`` or ``submit`` (marked when on the sandbox)."""
    return (SANDBOX_JOB_PREFIX if sandbox else "job-") + secrets.token_hex(4)


def check_not_from_sandbox(record: JobRecord | None, sandbox: bool) -> None:
    """Refuse, with the reason, a handle from an earlier ``--sandbox`` command used without it.

    Its task lived in emulators that stopped with that command; the real API never knew it.
    """
    if record is None or sandbox or not record.id.startswith(SANDBOX_JOB_PREFIX):
        return
    raise UsageError(
        f"{record.handle} came from a --sandbox run, whose emulator stopped with that command: "
        "there is nothing left to follow; run the job again (with --sandbox, or against the API)"
    )


def final_update(record: JobRecord | None) -> Update | None:
    """The successful final update the journal kept for a task (with its outputs), if any.

    A task that was final at once (a Claid upload) can be asked about nowhere else.
    """
    if record is None or record.status != Status.SUCCEEDED.value or not record.outputs:
        return None
    outputs = [_output(item) for item in record.outputs]
    return Update(Status.SUCCEEDED, record.raw_status or "", 1.0, outputs=outputs)


def _output(item: Mapping[str, Any]) -> Output:
    return Output.from_json(item)
