"""``mediatask run`` and ``submit``: one job, followed to the end or just submitted.

Both record the job in the user's journal (intent before the request, handle after), so the
handle they print works with ``status``, ``wait``, ``download``… from any later process.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
import click

from mediatask.batch.preflight import PlaceholderHost, plan, plan_json, plan_text
from mediatask.batch.runner import submit_recorded
from mediatask.cli.base import (
    budget_option,
    cli,
    command_redactor,
    echo_json,
    follow_option,
    is_quiet,
    json_option,
    key_option,
    load_plugins,
    max_in_flight_option,
    no_log_option,
    out_option,
    overwrite_option,
    retry_budget_option,
    sandbox_option,
    stderr_console,
    unhelpful_sandbox_option,
    user_errors,
)
from mediatask.cli.complete import complete_operation, complete_param, complete_provider
from mediatask.cli.deadline import timeout_options
from mediatask.cli.display import TaskLine
from mediatask.cli.file_host import file_host_option, forget_unless_needed
from mediatask.cli.options import Decorator, command_options, flag_option
from mediatask.cli.session import (
    ClientFor,
    cli_settings,
    new_job_id,
    open_user_journal,
    run_with_client,
)
from mediatask.engine.client import Client
from mediatask.engine.deadline import Deadline
from mediatask.engine.download import saved_lines
from mediatask.engine.naming import NAME_FIELDS, STDIN_FOLDER, default_stem, render_name
from mediatask.engine.policy import RetryPolicy
from mediatask.journal.lifecycle import after_following
from mediatask.journal.sqlite import JobState, Journal
from mediatask.model.errors import (
    MediataskError,
    SubmitAbandonedError,
    UnknownProviderError,
    UsageError,
    file_problem,
)
from mediatask.model.values import Job, Result, TaskRef, Update
from mediatask.providers.manager import PluginManager
from mediatask.providers.validate import sniff

T = TypeVar("T")


def parse_params(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Turn repeated ``-p NAME=VALUE`` options into a dict."""
    params: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (e.g. -p scale=4)", ctx, param)
        params[name.strip()] = value
    return params


def read_params_file(
    ctx: click.Context, param: click.Parameter, path: Path | None
) -> dict[str, Any]:
    """Load ``--params-file``: a JSON object of parameters, nested values kept as typed."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {file_problem(exc)}", ctx, param) from None
    except ValueError as exc:
        raise click.BadParameter(f"{path} is not valid JSON: {exc}", ctx, param) from None
    if not isinstance(document, dict):
        raise click.BadParameter(
            f'{path} must hold a JSON object of parameters, e.g. {{"scale": 4}}', ctx, param
        )
    return document


STDIN = "-"
"""``-i -``: the input is read from standard input."""


def read_inputs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """``--input`` values, with ``-`` replaced by a temporary copy of standard input.

    The copy is named for its format (``stdin.png``), so the provider is told the right type,
    and is removed when the command ends.
    """
    if STDIN not in values:
        return values
    if values.count(STDIN) > 1:
        raise click.BadParameter("standard input can be only one of the inputs", ctx, param)
    data = sys.stdin.buffer.read()
    if not data:
        raise click.BadParameter("-i -: standard input is empty", ctx, param)
    found = sniff(data[:32])
    suffix = "." + found[0].split("/")[0] if found else ""
    folder = Path(ctx.with_resource(tempfile.TemporaryDirectory(prefix=STDIN_FOLDER)))
    path = folder / f"stdin{suffix}"
    path.write_bytes(data)
    command_options(ctx).stdin_copy = str(
        path
    )  # errors name it "standard input", not a temporary path
    return tuple(str(path) if value == STDIN else value for value in values)


dry_run_option = flag_option(
    "--dry-run",
    help="Check the job and print the requests it would send (keys redacted); "
    "send nothing, journal nothing.",
)
"""``--dry-run``: check everything and print the requests, sending and journalling nothing."""


def print_dry_run(
    jobs: list[tuple[str, Job]],
    key: str | None,
    sandbox: bool,
    as_json: bool,
    out_dir: Path | None = None,
) -> None:
    """Check each (label, job) and print the requests its submit would send; send nothing.

    With ``sandbox`` the requests are shown as the real API would get them (the key a
    placeholder), and local files of URL-only providers would be served by the sandbox.
    """
    plugins = load_plugins()
    redactor = command_redactor()
    plans: list[dict[str, Any]] = []
    with user_errors():
        for label, job in jobs:
            client = dry_client(plugins, job.provider, key, sandbox)
            try:
                checked, steps = plan(client, job, out_dir)
            except MediataskError as exc:
                if not label:
                    raise
                raise UsageError(f"job {label}: {exc.said(flags=True)}") from None
            if as_json:
                plans.append({"id": label, **plan_json(checked, steps, redactor)})
            else:
                heading = f"# {label}: " if label else "# "
                click.echo(f"{heading}{checked.provider} {checked.operation}")
                click.echo(plan_text(steps, redactor) + "\n")
    if as_json:
        echo_json({"dry_run": True, "jobs": plans})
    elif not is_quiet():
        click.echo("dry run: nothing was sent or journalled", err=True)


def dry_client(plugins: PluginManager, provider: str, key: str | None, sandbox: bool) -> Client:
    """The client a dry run checks one job of ``provider`` with, sending nothing: with
    ``sandbox`` a placeholder key, and with ``sandbox`` or ``--file-host`` a placeholder file
    host (see :class:`~mediatask.batch.preflight.PlaceholderHost`)."""
    provider_key = key if key is not None or not sandbox else "sandbox-key"
    try:
        settings = cli_settings(plugins, provider, provider_key)
    except UnknownProviderError:
        settings = cli_settings(plugins, None, None)  # the job's check names the providers
    host = PlaceholderHost() if sandbox else None
    file_host = command_options().file_host
    if file_host is not None:
        host = PlaceholderHost(file_host)
    return Client(plugins=plugins, settings=settings, file_host=host)


def params_options(each: str, whole: str) -> Decorator:
    """``-p NAME=VALUE`` (repeatable; help ``each``) and ``--params-file`` (help ``whole``).

    The command receives ``params``: the file's parameters, then each ``-p`` over them.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def merged(
            *args: Any, params_file: dict[str, Any], params: dict[str, str], **kw: Any
        ) -> Any:
            return command(*args, params={**params_file, **params}, **kw)

        function = click.option(
            "--params-file",
            type=click.Path(dir_okay=False, path_type=Path),
            callback=read_params_file,
            metavar="FILE.json",
            help=whole,
        )(merged)
        return click.option(
            "-p",
            "--param",
            "params",
            multiple=True,
            metavar="NAME=VALUE",
            callback=parse_params,
            shell_complete=complete_param,
            help=each,
        )(function)

    return decorate


def job_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """PROVIDER OPERATION, --input, --param and --params-file, shared by ``run`` and
    ``submit``: the command receives the ``job`` they make."""
    command = function

    @functools.wraps(command)
    def made(*args: Any, provider: str, operation: str, inputs: tuple[str, ...], **kw: Any) -> Any:
        with user_errors():
            job = Job(provider, operation, inputs, kw.pop("params"))
        return command(*args, job=job, **kw)

    function = params_options(
        each="An operation parameter (repeatable); a URL parameter takes @PATH for a local file.",
        whole="Parameters as a JSON object (nested documents too); -p options override it.",
    )(made)
    function = click.option(
        "-i",
        "--input",
        "inputs",
        multiple=True,
        metavar="PATH|URL|-",
        callback=read_inputs,
        help="An input file, http(s) URL, or - for standard input (repeat for operations with "
        "several inputs).",
    )(function)
    function = click.argument("operation", shell_complete=complete_operation)(function)
    return click.argument("provider", shell_complete=complete_provider)(function)


def _submit_journalled(
    job: Job,
    key: str | None,
    sandbox: bool,
    then: Then[T],
    out_dir: Path | None = None,
    *,
    deadline: Deadline | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[str, T]:
    """Check ``job``, journal it, submit it, then ``then`` with its task; (job id, outcome).

    The shared body of ``run`` and ``submit``: the job is checked before any network call, its
    intent journalled before the request and its handle after it. Interrupted, it exits 130
    naming the task; past its ``deadline``, 124 (after cancelling the task if asked).
    """
    plugins = load_plugins()
    with user_errors():
        settings = cli_settings(plugins, job.provider, key)
        # Fail fast, before any network: the job, its input files and the output folder.
        Client(plugins=plugins, settings=settings).check(job, out_dir)
        forget_unless_needed(plugins, [job])
        with open_user_journal(sandbox=sandbox) as journal:
            submitting = _Submitting(journal, new_job_id(sandbox=sandbox), job, then)
            journal.register(submitting.job_id, job)
            client = ClientFor(plugins, (job.provider,), settings, sandbox=sandbox, retry=retry)
            outcome = run_with_client(client, submitting.work, deadline, submitting)
    return submitting.job_id, outcome


Then = Callable[[Client, Journal, str, TaskRef], Awaitable[T]]
"""What ``run`` or ``submit`` does once its job's task exists (client, journal, job id, task)."""


@attrs.define
class _Submitting(Generic[T]):
    """One journalled job's submit, then ``then``; what an early end leaves (:class:`Watched`)."""

    journal: Journal
    job_id: str
    job: Job
    then: Then[T]
    submitted: TaskRef | None = None

    async def work(self, client: Client) -> T:
        """Submit the job (journalled), keep a result known at once, then ``then``."""
        try:
            task = await submit_recorded(client, self.journal, self.job_id, client.check(self.job))
        except SubmitAbandonedError:  # Ctrl-C: journalled uncertain, said by interrupted()
            import trio  # the run has started: trio is loaded

            await trio.lowlevel.checkpoint_if_cancelled()
            raise
        self.submitted = task
        known = client.known_update(task)
        if known is not None:  # final at once (a Claid upload): keep the result
            self.journal.observed(self.job_id, known)
        return await self.then(client, self.journal, self.job_id, task)

    def task(self) -> TaskRef | None:
        """The task, once the submit got its answer."""
        return self.submitted

    def interrupted(self) -> str:
        """What Ctrl-C leaves: an uncertain submit's advice, nothing, or a task running."""
        record = self.journal.get(self.job_id)
        if record is not None and record.state is JobState.UNCERTAIN:
            return str(record.error)  # the submit was given up unanswered, and advice
        if self.submitted is None:
            return "nothing was submitted"
        return f"task {self.submitted.handle} may still be running at the provider"


RUN_HELP = """Submit a job, follow it to the end, and download its outputs.

    Prints the paths of the files written, INPUT-ROLE.EXT (the task id when there is no input
    file, NAME-ROLE.EXT with --name); a file already there is kept and the new one numbered
    (INPUT-ROLE-2.EXT) unless --overwrite. Progress goes to stderr (none with -q). With
    --timeout, gives up waiting after that long (exit 124) and names the task to collect later.
    With --dry-run, prints the requests instead.

    \b
    Examples:
      mediatask run a1d image-upscaler --input https://example.com/cat.jpg -p scale=4 -o out
      mediatask run a1d remove-bg --input photo.jpg --sandbox
      mediatask run a1d image-generator -p prompt="a lighthouse at dusk" --json
      mediatask run claid edit --input photo.jpg --params-file edit.json -o out
      mediatask run a2e text-to-image -p prompt=fog --timeout 10m --cancel-on-timeout
      mediatask run a2e talking-photo -i face.png -p prompt=hi -p audio_url=@speech.mp3
      cat photo.png | mediatask run a1d remove-bg -i - --name cat -q
      mediatask run a1d image-upscaler -i photo.png -p scale=4 --name "{input}-4x"
      mediatask run a1d remove-bg --input photo.jpg --dry-run
    """
"""Help of ``mediatask run``."""


@cli.command("run", help=RUN_HELP)
@job_options
@max_in_flight_option
@no_log_option
@out_option
@click.option(
    "--name",
    default=None,
    metavar="TEMPLATE",
    help="Name the output files NAME-ROLE.EXT; NAME may use {input}, {task}, {provider} and "
    "{operation} (default: the input's name, else the task id).",
)
@overwrite_option
@dry_run_option
@timeout_options
@retry_budget_option
@follow_option
@key_option
@file_host_option
@sandbox_option
@json_option
def run_command(
    job: Job,
    out_dir: Path,
    name: str | None,
    overwrite: bool,
    dry_run: bool,
    deadline: Deadline,
    retry: RetryPolicy | None,
    key: str | None,
    sandbox: bool,
    as_json: bool,
) -> None:
    """``mediatask run``: its help is :data:`RUN_HELP`."""

    async def follow(client: Client, journal: Journal, job_id: str, task: TaskRef) -> Result:
        if not is_quiet():
            click.echo(f"submitted {task.handle}", err=True)
        stem = output_stem(name, job, task)
        return await _follow(client, journal, job_id, task, out_dir, stem, overwrite)

    if name is not None:
        with user_errors():  # a bad template is refused before anything is sent
            render_name(name, {field: field for field in NAME_FIELDS})
    if dry_run:
        print_dry_run([("", job)], key, sandbox, as_json, out_dir)
        return
    _, outcome = _submit_journalled(
        job, key, sandbox, follow, out_dir, deadline=deadline, retry=retry
    )
    if as_json:
        echo_json(outcome.to_json())
    else:
        for line in saved_lines(outcome):
            click.echo(line)


def output_stem(template: str | None, job: Job, task: TaskRef) -> str:
    """What ``job``'s outputs are named after: ``template`` filled in, else the first input's
    name (not for standard input's temporary copy), else the task id."""
    if template is None:
        return default_stem(job.inputs, task.task_id)
    fields = {
        "input": default_stem(job.inputs, task.task_id),
        "task": task.task_id,
        "provider": task.provider,
        "operation": job.operation,
        "job": task.task_id,
    }
    return render_name(template, fields)


async def _follow(
    client: Client,
    journal: Journal,
    job_id: str,
    task: TaskRef,
    out_dir: Path,
    stem: str | None = None,
    overwrite: bool = False,
) -> Result:
    """Wait for ``task`` and download its outputs as ``STEM-ROLE.EXT``, journalling what
    happens."""

    with TaskLine(stderr_console()) as line:

        def on_update(task: TaskRef, update: Update) -> None:
            journal.observed(job_id, update)
            line(task, update)

        paid: Result | None = None
        try:
            paid = result = await client.wait(task, on_update)
            result = await client.download(result, out_dir, stem=stem, overwrite=overwrite)
        except MediataskError as exc:
            state = after_following(exc, downloading=paid is not None)
            journal.ended(job_id, state, exc.said(flags=True))
            if paid is not None:  # the journal keeps the outputs: say how to fetch them again
                click.echo(
                    f"note: {task.handle} succeeded; fetch its outputs again with "
                    f"`mediatask download {task.handle} -o DIR`",
                    err=True,
                )
            raise
    journal.succeeded(job_id, result)
    return result


SUBMIT_HELP = """Submit a job and print its handle (PROVIDER:TASK_ID) at once, without waiting.

    Follow it later, from any process, with status, watch, wait or download. To try that
    offline, start `mediatask emulate --all` in another shell and paste the lines it prints.

    \b
    Examples:
      mediatask submit a1d image-upscaler --input https://example.com/cat.jpg -p scale=4
      handle=$(mediatask submit a1d remove-bg --input https://example.com/cat.jpg)
      mediatask wait "$handle" && mediatask download "$handle" -o out
      mediatask submit a1d remove-bg --input photo.jpg --dry-run --json
    """
"""Help of ``mediatask submit``."""


@cli.command("submit", help=SUBMIT_HELP)
@job_options
@dry_run_option
@budget_option
@max_in_flight_option
@no_log_option
@key_option
@file_host_option
@unhelpful_sandbox_option
@json_option
def submit_command(job: Job, dry_run: bool, key: str | None, sandbox: bool, as_json: bool) -> None:
    """``mediatask submit``: its help is :data:`SUBMIT_HELP`."""

    async def submitted(client: Client, journal: Journal, job_id: str, task: TaskRef) -> TaskRef:
        return task

    if dry_run:
        print_dry_run([("", job)], key, sandbox, as_json)
        return
    job_id, outcome = _submit_journalled(job, key, sandbox, submitted)
    if sandbox and not is_quiet():
        click.echo(
            "note: the --sandbox emulators stopped with this command; to follow a task from "
            "later commands, start `mediatask emulate --all` and paste its export lines",
            err=True,
        )
    if as_json:
        echo_json({"handle": outcome.handle, "job": job_id, "task": outcome.to_json()})
    else:
        click.echo(outcome.handle)
