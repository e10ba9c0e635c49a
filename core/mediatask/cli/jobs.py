"""``mediatask jobs``: the journal as a log — list and search it, show one job, turn it off.

``run`` and ``submit`` record each job in the user's journal unless recording is off (``jobs
off``, a marker file in the mediatask home) or the command has ``--no-log``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mediatask.cli.base import cli, echo_json, fit, json_option, output_width, user_errors
from mediatask.cli.options import count_option
from mediatask.cli.session import journal_path, open_journal, recording_off_path
from mediatask.journal.backend import JournalBackend, JournalEvent
from mediatask.journal.postgres import PostgresJournal, is_database_url
from mediatask.journal.sqlite import JobQuery, JobRecord, JobState
from mediatask.model.errors import UsageError
from mediatask.model.parsing import parse_duration
from mediatask.model.values import Output

LOST_WHEN_OFF = (
    "jobs that run and submit make from now on are not in `jobs list` or `jobs show`, their "
    "handles can no longer be found by job id, and status/wait/download get nothing the "
    "journal would have kept (an A2E task needs --operation again; a result that was final at "
    "once cannot be fetched again)"
)
"""What turning recording off loses, said by ``jobs off`` and in the docs."""


@cli.group("jobs")
def jobs_group() -> None:
    """The local journal: jobs recorded by run, submit and batch.

    \b
    Examples:
      mediatask jobs list -n 5
      mediatask jobs list --state failed --since 2h
      mediatask jobs list --journal out          # a batch's output folder
      mediatask jobs show a1d:task_abc123 --json
      mediatask jobs path
    """


class JournalPlace(click.ParamType[Path | str]):
    """A ``--journal`` value: a shared ledger's ``postgresql://`` URL (kept as text), else an
    existing journal file or batch output folder (a :class:`~pathlib.Path`)."""

    name = "journal"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path | str:
        """The URL as given, or the path checked to exist (click's usual error if not)."""
        if isinstance(value, str) and is_database_url(value):
            return value
        path: Path = click.Path(exists=True, path_type=Path).convert(value, param, ctx)
        return path


def journal_option(function: click.decorators.FC) -> click.decorators.FC:
    """``--journal FILE|DIR|URL``: which journal to read (default: the user's)."""
    return click.option(
        "--journal",
        "where",
        type=JournalPlace(),
        default=None,
        metavar="FILE|DIR|URL",
        help="A journal file, a batch's output folder, or a shared ledger's postgresql:// URL "
        "(default: your own journal).",
    )(function)


def open_named_journal(where: Path | str | None) -> JournalBackend:
    """The journal ``--journal`` names: a PostgreSQL ledger by URL, else a file or folder
    (``None``: the user's own, made if missing)."""
    if isinstance(where, str):
        return PostgresJournal(where)
    return open_journal(journal_path(where), create=where is None)


def _line(record: JobRecord, *, shared: bool = True) -> str:
    """One job as ``jobs list`` shows it; the worker only for a ``shared`` ledger, where several
    write (in your own journal it is always this machine)."""
    status = record.raw_status or record.status or ""
    line = (
        f"{record.id:<16} {record.state.value:<10} {record.handle or '-':<32} {status:<12} "
        f"{record.job.provider} {record.job.operation}"
    )
    return line + (f"  by {record.worker}" if record.worker and shared else "")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """The moment ``--since`` names: a duration back from now (``2h``), or an ISO date or time.

    A date or time without a zone is local time.
    """
    now = now if now is not None else datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            return now - timedelta(seconds=parse_duration(text))
        except UsageError:
            raise UsageError(
                f"--since {text!r} is neither a duration (e.g. 30m, 2h, 1h30m) nor an ISO date "
                "(e.g. 2026-11-29 or 2026-11-29T14:00)"
            ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


_QUERY_OPTIONS = (
    count_option("-n", "--limit", minimum=0, default=20, help="Show the newest N jobs (0: all)."),
    click.option(
        "--state",
        "states",
        multiple=True,
        type=click.Choice([state.value for state in JobState]),
        help="Only jobs in this state (repeat for several).",
    ),
    click.option("--provider", default=None, help="Only jobs for this provider."),
    click.option("--operation", default=None, help="Only jobs of this operation."),
    click.option(
        "--since", default=None, help="Only jobs recorded since: a duration back (2h) or a date."
    ),
    click.option(
        "--query",
        "text",
        default=None,
        help="Only jobs with TEXT in their id, handle, inputs, params or error.",
    ),
)
"""The filters of ``jobs list``, in the order ``--help`` shows them."""


def query_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``-n``, ``--state``, ``--provider``, ``--operation``, ``--since`` and ``--query``: the
    command receives the :class:`~mediatask.journal.backend.JobQuery` they make."""
    command = function

    @functools.wraps(command)
    def made(  # one argument per option
        *args: Any,
        limit: int,
        states: tuple[str, ...],
        provider: str | None,
        operation: str | None,
        since: str | None,
        text: str | None,
        **kw: Any,
    ) -> Any:
        with user_errors():
            when = parse_since(since) if since is not None else None
        wanted = tuple(JobState(state) for state in states)
        query = JobQuery(wanted, provider, operation, when, text, limit)
        return command(*args, query=query, **kw)

    function = made
    for decorator in reversed(_QUERY_OPTIONS):
        function = decorator(function)
    return function


@jobs_group.command("list")
@query_options
@journal_option
@json_option
def jobs_list(query: JobQuery, where: Path | str | None, as_json: bool) -> None:
    """List the newest jobs, oldest first: id, state, handle, provider status, operation.

    Filters combine: a job is listed when it matches every one given.

    \b
    Examples:
      mediatask jobs list
      mediatask jobs list -n 0 --state failed --state uncertain
      mediatask jobs list --provider a2e --since 2h
      mediatask jobs list --query lighthouse --json
      mediatask jobs list --journal out --since 2026-11-29
    """
    with user_errors(), open_named_journal(where) as journal:
        records = journal.search(query)
        path = journal.where
        shared = isinstance(journal, PostgresJournal)
    if as_json:
        echo_json([record.to_json() for record in records])
        return
    if not records:
        filtered = query != JobQuery(limit=query.limit)
        click.echo(f"no jobs{' match' if filtered else ''} in the journal {path}", err=True)
    width = output_width()
    for record in records:
        click.echo(fit(_line(record, shared=shared), width, 4))


@jobs_group.command("show")
@click.argument("name", metavar="ID|HANDLE")
@journal_option
@json_option
def jobs_show(name: str, where: Path | str | None, as_json: bool) -> None:
    """Show one job (by id or task handle): its spec, state, outputs and history.

    \b
    Examples:
      mediatask jobs show a1d:task_abc123
      mediatask jobs show line-7 --journal out --json
    """
    with user_errors(), open_named_journal(where) as journal:
        record = journal.find(name)
        if record is None:
            raise click.ClickException(f"the journal {journal.where} has no job {name!r}")
        events = journal.events(record.id)
    if as_json:
        history = [{"at": e.at, "kind": e.kind, "detail": e.detail} for e in events]
        echo_json({**record.to_json(), "history": history})
        return
    for line in _shown(record, events, shared=isinstance(journal, PostgresJournal)):
        click.echo(line)


def _shown(record: JobRecord, events: Iterable[JournalEvent], *, shared: bool) -> Iterator[str]:
    """``jobs show``'s lines: the job, its error, its outputs and its history."""
    yield _line(record, shared=shared)
    if record.error:
        yield f"  error: {record.error}"
    for output in record.outputs:
        shown = Output.from_json(output).shown() if output.get("value") is not None else None
        yield f"  {output.get('role')}: {shown or output.get('path') or output.get('url')}"
    for event in events:
        by = f"  [{event.worker}]" if event.worker else ""
        yield f"  {event.at}  {event.kind:<11} {event.detail}{by}"


@jobs_group.command("path")
def jobs_path() -> None:
    """Print the path of your journal (whether recording is on or off).

    \b
    Examples:
      mediatask jobs path
      sqlite3 "$(mediatask jobs path)" 'select id, state from jobs'
    """
    with user_errors():
        click.echo(str(journal_path(None)))
        if recording_off_path().exists():
            click.echo("recording is off: `mediatask jobs on` turns it on", err=True)


@jobs_group.command("off")
def jobs_off() -> None:
    """Stop recording: run and submit no longer write their jobs to your journal.

    What is already recorded stays. Batches keep their own journal regardless (they need it to
    resume). One command can skip recording with --no-log instead.

    \b
    Examples:
      mediatask jobs off
      mediatask jobs on
    """
    with user_errors():
        marker = recording_off_path()
        marker.touch()
    click.echo(
        f"recording is off ({marker}): {LOST_WHEN_OFF}. `mediatask jobs on` turns it back on",
        err=True,
    )


@jobs_group.command("on")
def jobs_on() -> None:
    """Record again: run and submit write their jobs to your journal (the default).

    \b
    Examples:
      mediatask jobs on
    """
    with user_errors():
        recording_off_path().unlink(missing_ok=True)
        click.echo(f"recording is on: run and submit write to {journal_path(None)}", err=True)
