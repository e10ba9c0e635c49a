"""``mediatask batch`` (a manifest of jobs, journalled, resumable) and ``mediatask jobs``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mediatask.batch import RESULTS_FILE, Batch, BatchOptions, Summary
from mediatask.cli.base import (
    cli,
    echo_json,
    json_option,
    load_plugins,
    sandbox_option,
    stderr_console,
    stdout_console,
    user_errors,
)
from mediatask.cli.interrupt import Interrupted, run_cancellable
from mediatask.cli.session import journal_path, open_cli_client, open_journal
from mediatask.display import open_display, summary_table
from mediatask.journal import LOCK_FILE, JobRecord, Journal, batch_journal_path, exclusive
from mediatask.manifest import Manifest, read_manifest
from mediatask.plugins import PluginManager
from mediatask.validate import check_out_dir


@cli.command("batch")
@click.argument("manifest_path", metavar="MANIFEST", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where outputs, results.jsonl and the journal (.mediatask/) go.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Jobs in flight at once (each provider's own limit applies too).",
)
@click.option(
    "--resubmit-uncertain", is_flag=True, help="Submit again jobs interrupted mid-submit."
)
@click.option(
    "--resubmit-lost", is_flag=True, help="Submit again jobs whose task the provider forgot."
)
@click.option("--retry-failed", is_flag=True, help="Run failed jobs again.")
@sandbox_option
@json_option
def batch_command(
    manifest_path: Path,
    out_dir: Path,
    concurrency: int,
    resubmit_uncertain: bool,
    resubmit_lost: bool,
    retry_failed: bool,
    sandbox: bool,
    as_json: bool,
) -> None:
    """Run every job of MANIFEST (JSON Lines or .csv) concurrently; re-run to resume.

    Each line: provider, operation, input (path, URL or list), params (object), optional id.
    Outputs are written as OUT/ID-ROLE.EXT, one JSON line per finished job to
    OUT/results.jsonl, and everything to the journal OUT/.mediatask/journal.sqlite. Running
    the same command again skips finished jobs, follows submitted ones and submits only the
    rest: no job is submitted twice. Exit 1 if any job failed, 130 if interrupted.

    \b
    Examples:
      mediatask batch jobs.jsonl -o out
      mediatask batch jobs.csv -o out --concurrency 16 --json
      mediatask batch jobs.jsonl -o out --sandbox
    """
    plugins = load_plugins()
    options = BatchOptions(out_dir, concurrency, resubmit_uncertain, resubmit_lost, retry_failed)
    with user_errors():
        manifest = read_manifest(manifest_path)
        check_out_dir(out_dir)  # before anything is submitted
        for error in manifest.errors:
            click.echo(f"{manifest_path}: {error}", err=True)
        journal_file = batch_journal_path(out_dir)
        with exclusive(journal_file.with_name(LOCK_FILE)), open_journal(journal_file) as journal:
            batch, outcome = _run(plugins, manifest, journal, options, sandbox)
            summary = batch.summary(manifest) if batch is not None else None
        for error in batch.invalid[len(manifest.errors) :] if batch is not None else ():
            click.echo(f"{manifest_path}: {error}", err=True)  # e.g. a changed job's id
    if isinstance(outcome, Interrupted) or summary is None:
        _report_interrupt(summary)
        return
    if as_json:
        echo_json({**summary.to_json(), "results": str(out_dir / RESULTS_FILE)})
    else:
        stdout_console().print(summary_table(summary))
    if not summary.ok:
        sys.exit(1)


def _run(
    plugins: PluginManager,
    manifest: Manifest,
    journal: Journal,
    options: BatchOptions,
    sandbox: bool,
) -> tuple[Batch | None, Interrupted | None]:
    known = {e.job.provider for e in manifest.entries} & set(plugins.providers)
    started: list[Batch] = []

    async def main() -> None:
        async with open_cli_client(plugins, sandbox=sandbox, providers=sorted(known)) as client:
            with open_display(stderr_console()) as display:
                batch = Batch(client, journal, options, display)
                started.append(batch)
                await batch.run(manifest)

    outcome = run_cancellable(main)
    return (started[0] if started else None), outcome


def _report_interrupt(summary: Summary | None) -> None:
    if summary is None:
        click.echo("\ninterrupted before any job started", err=True)
    else:
        counts = summary.counts
        finished = summary.total - counts["submitted"] - counts["pending"]
        click.echo(
            f"\ninterrupted: {finished} finished, {counts['submitted']} submitted (followed "
            f"again on a re-run), {counts['pending']} pending; run the same command to resume",
            err=True,
        )
    sys.exit(130)


@cli.group("jobs")
def jobs_group() -> None:
    """The local journal: jobs recorded by run, submit and batch.

    \b
    Examples:
      mediatask jobs list
      mediatask jobs list --journal out          # a batch's output folder
      mediatask jobs show a1d:task_abc123 --json
    """


def journal_option(function: click.decorators.FC) -> click.decorators.FC:
    """``--journal FILE|DIR``: which journal to read (default: the user's)."""
    return click.option(
        "--journal",
        "where",
        type=click.Path(exists=True, path_type=Path),
        default=None,
        help="A journal file or a batch's output folder (default: your own journal).",
    )(function)


def _line(record: JobRecord) -> str:
    status = record.raw_status or record.status or ""
    return (
        f"{record.id:<16} {record.state.value:<10} {record.handle or '-':<32} {status:<12} "
        f"{record.job.provider} {record.job.operation}"
    )


@jobs_group.command("list")
@journal_option
@json_option
def jobs_list(where: Path | None, as_json: bool) -> None:
    """List the journal's jobs: id, state, handle, provider status, operation.

    \b
    Examples:
      mediatask jobs list
      mediatask jobs list --journal out --json
    """
    with user_errors(), open_journal(journal_path(where), create=where is None) as journal:
        records = list(journal.records())
    if as_json:
        echo_json([record.to_json() for record in records])
        return
    for record in records:
        click.echo(_line(record))


@jobs_group.command("show")
@click.argument("name", metavar="ID|HANDLE")
@journal_option
@json_option
def jobs_show(name: str, where: Path | None, as_json: bool) -> None:
    """Show one job (by id or task handle): its spec, state, outputs and history.

    \b
    Examples:
      mediatask jobs show a1d:task_abc123
      mediatask jobs show line-7 --journal out --json
    """
    with user_errors(), open_journal(journal_path(where), create=where is None) as journal:
        record = journal.find(name)
        if record is None:
            raise click.ClickException(f"the journal {journal.path} has no job {name!r}")
        events = journal.events(record.id)
    if as_json:
        history = [{"at": e.at, "kind": e.kind, "detail": e.detail} for e in events]
        echo_json({**record.to_json(), "history": history})
        return
    click.echo(_line(record))
    if record.error:
        click.echo(f"  error: {record.error}")
    for output in record.outputs:
        click.echo(f"  {output.get('role')}: {output.get('path') or output.get('url')}")
    for event in events:
        click.echo(f"  {event.at}  {event.kind:<11} {event.detail}")
