"""Commands on one task named by its handle: status, watch, wait, download, cancel.

A handle (``PROVIDER:TASK_ID``, as ``submit`` prints it) is looked up in a journal first (the
user's, or ``--journal FILE|DIR|URL``, a shared PostgreSQL ledger included) for what the provider
needs besides the id; the commands work in a new process. The journal's record is kept up to
date with what they learn.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from mediatask.cli.base import (
    budget_option,
    cli,
    echo_json,
    follow_option,
    json_option,
    key_option,
    load_plugins,
    out_option,
    overwrite_option,
    unhelpful_sandbox_option,
    user_errors,
)
from mediatask.cli.deadline import timeout_options
from mediatask.cli.jobs import JournalPlace, open_named_journal
from mediatask.cli.options import command_options, remembered_option
from mediatask.cli.session import (
    ClientFor,
    Known,
    check_not_from_sandbox,
    cli_settings,
    final_update,
    find_sandbox_record,
    parse_handle,
    resolve_task,
    run_with_client,
)
from mediatask.engine.client import Client
from mediatask.engine.deadline import Deadline
from mediatask.engine.download import saved_lines
from mediatask.engine.naming import default_stem
from mediatask.journal.backend import JournalBackend
from mediatask.journal.lifecycle import after_following
from mediatask.journal.sqlite import JobRecord, JobState
from mediatask.model.errors import MediataskError, NotFoundError, TaskTimeoutError
from mediatask.model.values import Cancellation, CancelOutcome, Status, TaskRef, Update
from mediatask.providers.manager import PluginManager
from mediatask.providers.validate import check_out_dir, find_operation

T = TypeVar("T")
TaskBody = Callable[[Client, TaskRef, "Recorder"], Awaitable[T]]

SANDBOX_HINT = (
    "; --sandbox starts fresh emulators that know no task from another process "
    "(for submit, then watch or download, start `mediatask emulate --all`)"
)


class Recorder:
    """Passes what a command learns about a task on to the journal, when it knows the task."""

    def __init__(self, journal: JournalBackend, record: JobRecord | None) -> None:
        self.journal = journal
        self.record = record

    def update(self, task: TaskRef, update: Update) -> None:
        """Record ``update``."""
        if self.record is not None:
            self.journal.observed(self.record.id, update)

    def ended(self, exc: MediataskError, *, downloading: bool) -> None:
        """Record how following (or downloading) the task ended, as every path does; a job
        already final (a download asked again) keeps its state, except that it can be lost."""
        record = self.record
        if record is None or isinstance(exc, TaskTimeoutError):
            return  # a command's --timeout: the task goes on, the job as it was
        state = after_following(exc, downloading=downloading)
        if record.state.is_final and state is not JobState.LOST:
            return
        self.journal.ended(record.id, state, exc.said(flags=True))


def describe(task: TaskRef, update: Update) -> str:
    """One line for an update: ``a1d:abc PROCESSING 40%``."""
    percent = f" {update.progress:.0%}" if update.progress is not None else ""
    message = f" ({update.message})" if update.message else ""
    return f"{task.handle}  {update.raw_status or update.status.value}{percent}{message}"


def update_json(task: TaskRef, update: Update) -> dict[str, Any]:
    """The JSON form of an update, as ``status --json`` prints it."""
    return {
        "handle": task.handle,
        "status": update.status.value,
        "raw_status": update.raw_status,
        "progress": update.progress,
        "message": update.message,
        "final": update.status.is_final,
        "outputs": [output.to_json() for output in update.outputs],
    }


@attrs.frozen
class NamedTask:
    """The task a handle command works on, as its arguments name it (see :func:`task_options`)."""

    handle: str
    where: Path | str | None
    """``--journal``: where to look the handle up (default: the user's journal)."""
    sandbox: bool
    key: str | None


def on_task(
    named: NamedTask,
    body: TaskBody[T],
    out_dir: Path | None = None,
    deadline: Deadline | None = None,
    *,
    quick: bool = False,
) -> T:
    """Resolve the ``named`` task, open a client for its provider, run ``body``; Ctrl-C exits
    130, a passed ``deadline`` 124.

    Everything that can be checked before asking the provider is: the handle, ``--operation``,
    a handle left by a ``--sandbox`` command, and ``out_dir`` when the command writes there.
    ``quick``: a one-question command, answering promptly (see
    :func:`~mediatask.cli.session.open_cli_client`).
    """
    plugins = load_plugins()
    with user_errors():
        provider, _ = parse_handle(named.handle)
        settings = cli_settings(plugins, provider, named.key)
        with open_named_journal(named.where) as journal:
            task, recorder = _resolved(plugins, named, journal)
            if out_dir is not None:
                check_out_dir(out_dir)
            work = partial(_run_body, body, task, recorder, named.sandbox)
            client = ClientFor(plugins, (task.provider,), settings, named.sandbox, quick=quick)
            return run_with_client(client, work, deadline, Known(task))


def _resolved(
    plugins: PluginManager, named: NamedTask, journal: JournalBackend
) -> tuple[TaskRef, Recorder]:
    """The task ``named`` names (its operation from ``--operation`` if the journal lacks it)
    and its recorder; a handle from an earlier ``--sandbox`` command is refused."""
    task = resolve_task(plugins, named.handle, journal)
    operation = command_options().operation
    if operation:
        find_operation(plugins.provider(task.provider), operation)
    if operation and not task.operation:
        task = attrs.evolve(task, operation=operation)
    recorder = Recorder(journal, journal.find(task.handle))
    if named.where is None:  # batch journals name jobs by the manifest's ids
        left = recorder.record or find_sandbox_record(task.handle)
        check_not_from_sandbox(left, named.sandbox)
    return task, recorder


async def _run_body(
    body: TaskBody[T], task: TaskRef, recorder: Recorder, sandbox: bool, client: Client
) -> T:
    """``body`` on ``client``, told first of the final update the journal kept, if any."""
    journalled = final_update(recorder.record)
    if journalled is not None:
        client.remember(task, journalled)
    try:
        return await body(client, task, recorder)
    except NotFoundError as exc:
        if not sandbox:
            raise
        raise NotFoundError(f"{exc}{SANDBOX_HINT}", status=404) from None


def task_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """HANDLE and the options every handle command takes; the command receives ``named``, a
    :class:`NamedTask`."""
    command = function

    @functools.wraps(command)
    def named(
        *args: Any, handle: str, where: Path | str | None, sandbox: bool, key: str | None, **kw: Any
    ) -> Any:
        return command(*args, named=NamedTask(handle, where, sandbox, key), **kw)

    function = click.option(
        "--journal",
        "where",
        type=JournalPlace(),
        default=None,
        metavar="FILE|DIR|URL",
        help="Look the handle up in this journal file, batch output folder or shared ledger "
        "(postgresql://…; default: your own journal).",
    )(named)
    function = remembered_option(
        "--operation",
        field="operation",
        default=None,
        help="The task's operation, for a handle the journal does not know and a provider "
        "that needs it to find the task (A2E).",
    )(function)
    function = budget_option(key_option(unhelpful_sandbox_option(json_option(function))))
    return click.argument("handle")(function)


@cli.command("status")
@task_options
def status_command(named: NamedTask, as_json: bool) -> None:
    """Ask the provider once for the state of the task HANDLE (PROVIDER:TASK_ID).

    One status request (and, for a provider that keeps the outputs apart, one for the result
    once the task has ended). While the provider fails, says so and retries for 20s at most
    (--retry-budget), then says what it last answered.

    \b
    Examples:
      mediatask status a1d:task_abc123
      mediatask status claid:1 --json
    """

    async def body(client: Client, task: TaskRef, recorder: Recorder) -> tuple[TaskRef, Update]:
        update = client.known_update(task) or await client.poll(task)
        recorder.update(task, update)
        return task, update

    task, update = on_task(named, body, quick=True)
    if as_json:
        echo_json(update_json(task, update))
    else:
        click.echo(describe(task, update))


@cli.command("watch")
@follow_option
@timeout_options
@task_options
def watch_command(named: NamedTask, deadline: Deadline, as_json: bool) -> None:
    """Print each change of the task HANDLE until it ends (exit 1 if it failed).

    Streams (SSE) where the provider can, else polls with adaptive back-off (--follow). With
    --json, one JSON object per line. With --timeout, stops watching after that long (exit 124).

    \b
    Examples:
      mediatask watch a1d:task_abc123
      mediatask watch a1d:task_abc123 --json | jq .progress
      mediatask watch a2e:abc --operation image-to-video --timeout 1h --cancel-on-timeout
    """

    async def body(client: Client, task: TaskRef, recorder: Recorder) -> Update | None:
        last = None
        async with client.updates(task) as updates:
            async for update in updates:
                recorder.update(task, update)
                last = update
                if as_json:
                    click.echo(json.dumps(update_json(task, update), sort_keys=True))
                else:
                    click.echo(describe(task, update))
        return last

    last = on_task(named, body, deadline=deadline)
    if last is None or last.status is not Status.SUCCEEDED:
        sys.exit(1)


@cli.command("wait")
@follow_option
@timeout_options
@task_options
def wait_command(named: NamedTask, deadline: Deadline, as_json: bool) -> None:
    """Wait quietly until the task HANDLE ends; print its outputs (exit 1 if it failed).

    With --timeout, gives up after that long (exit 124); the task goes on unless
    --cancel-on-timeout.

    \b
    Examples:
      mediatask wait a1d:task_abc123
      mediatask wait a1d:task_abc123 --json
      mediatask wait a1d:task_abc123 --timeout 10m || echo "not done yet"
    """

    async def body(client: Client, task: TaskRef, recorder: Recorder) -> Any:
        try:
            return await client.wait(task, on_update=recorder.update)
        except MediataskError as exc:
            recorder.ended(exc, downloading=False)
            raise

    result = on_task(named, body, deadline=deadline)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(f"{result.task.handle}  succeeded")
    for output in result.outputs:
        click.echo(f"  {output.role}: {output.shown() if output.is_value else output.url}")


@cli.command("download")
@follow_option
@out_option
@overwrite_option
@task_options
def download_command(named: NamedTask, out_dir: Path, overwrite: bool, as_json: bool) -> None:
    """Download the outputs of the task HANDLE (waiting for it first if it is still running).

    Files are named INPUT-ROLE.EXT after the job's first input when the journal knows it (else
    TASK_ID-ROLE.EXT), written to NAME.part first, then renamed; a file already there is kept
    and the new one numbered (NAME-ROLE-2.EXT) unless --overwrite.

    \b
    Examples:
      mediatask download a1d:task_abc123 -o out
    """

    async def body(client: Client, task: TaskRef, recorder: Recorder) -> Any:
        inputs = recorder.record.job.inputs if recorder.record is not None else ()
        paid = None
        try:
            paid = await client.wait(task, on_update=recorder.update)
            stem = default_stem(inputs, task.task_id)
            result = await client.download(paid, out_dir, stem=stem, overwrite=overwrite)
        except MediataskError as exc:
            recorder.ended(exc, downloading=paid is not None)
            raise
        if recorder.record is not None:
            recorder.journal.succeeded(recorder.record.id, result)
        return result

    result = on_task(named, body, out_dir)
    if as_json:
        echo_json(result.to_json())
        return
    for line in saved_lines(result):
        click.echo(line)


@cli.command("cancel")
@task_options
def cancel_command(named: NamedTask, as_json: bool) -> None:
    """Ask the provider to cancel (or delete) the task HANDLE, where it has a way to.

    \b
    Examples:
      mediatask cancel a2e:6b14c3e7fa4a0c339c24f828   # A2E deletes a task not yet started
    """

    async def body(client: Client, task: TaskRef, recorder: Recorder) -> Cancellation:
        done = await client.cancel_task(task)
        if recorder.record is not None:  # the journal says what the command says
            line, job_id = done.line(task.handle), recorder.record.id
            if done.outcome is CancelOutcome.CANCELED:
                recorder.journal.ended(job_id, JobState.FAILED, line, reason="canceled")
            else:
                recorder.journal.noted(job_id, "cancel", line)
        return done

    done = on_task(named, body, quick=True)
    if as_json:
        echo_json(done.to_json(named.handle))
    else:
        click.echo(done.line(named.handle))
