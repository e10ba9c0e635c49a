"""``mediatask batch``: a manifest of jobs, journalled, resumable."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import attrs
import click

from mediatask.batch.manifest import Manifest, read_manifest
from mediatask.batch.preflight import bad_lines
from mediatask.batch.runner import Batch, BatchOptions, Summary
from mediatask.cli.base import (
    budget_option,
    cli,
    follow_option,
    json_option,
    load_plugins,
    max_in_flight_option,
    overwrite_option,
    sandbox_option,
    stderr_console,
    user_errors,
)
from mediatask.cli.display import open_display
from mediatask.cli.file_host import file_host_option, forget_unless_needed
from mediatask.cli.interrupt import Interrupted, run_cancellable
from mediatask.cli.options import flag_option
from mediatask.cli.session import open_cli_client, open_journal
from mediatask.cli.worker import (
    exit_if_interrupted,
    lease_option,
    open_ledger,
    out_and_concurrency_options,
    parse_timeout,
    print_summary,
    run_shared,
    timeout_text_option,
)
from mediatask.journal.sqlite import LOCK_FILE, Journal, batch_journal_path, exclusive
from mediatask.model.errors import UsageError
from mediatask.providers.manager import PluginManager
from mediatask.providers.validate import check_out_dir

BATCH_HELP = """Run every job of MANIFEST (JSON Lines or .csv) concurrently; re-run to resume.

    Each line: provider, operation, input (path, URL or list), params (object), optional id
    (default: the input's name). `mediatask manifest DIR PROVIDER OPERATION` writes one for a
    folder. Outputs are written as OUT/ID-ROLE.EXT (never over a file already there: the new
    one is numbered ID-ROLE-2.EXT, unless --overwrite), one JSON line per finished job to
    OUT/results.jsonl, and everything to the journal OUT/.mediatask/journal.sqlite.

    Running the same command again finishes whatever can be finished without paying again:
    it skips finished jobs, follows and downloads every task that exists, and submits only
    jobs never sent. The summary says per state how many jobs, why, and the command that
    recovers them. Exit 1 if any job did not succeed, 130 if interrupted.

    Every line is checked before the first submit, as --dry-run checks it (operation,
    parameters, files, a key for each provider): the invalid ones are reported with their line
    numbers, never sent, and the rest runs; --strict runs nothing instead.

    \b
    Examples:
      mediatask batch jobs.jsonl -o out
      mediatask batch jobs.csv -o out --concurrency 16 --json
      mediatask batch jobs.jsonl -o out --timeout 20m --cancel-on-timeout
      mediatask batch jobs.jsonl -o out --retry-failed
      mediatask batch jobs.jsonl -o out --sandbox
      mediatask batch jobs.jsonl -o /mnt/out --journal postgresql://media@db/ledger
      mediatask batch jobs.jsonl -o out --dry-run
      mediatask batch jobs.jsonl -o out --strict
    """
"""Help of ``mediatask batch``."""


@cli.command("batch", help=BATCH_HELP)
@click.argument("manifest_path", metavar="MANIFEST", type=click.Path(path_type=Path))
@follow_option
@budget_option
@out_and_concurrency_options(
    out="Where outputs, results.jsonl and the journal (.mediatask/) go.",
    concurrency="Jobs in flight at once (each provider's, learned or --max-in-flight, applies "
    "too).",
)
@flag_option(
    "--retry-failed",
    help="Submit again jobs the provider failed, canceled or refused (no task of theirs is alive).",
)
@flag_option(
    "--rerun-expired",
    help="Submit again jobs whose result link expired before their outputs were saved.",
)
@flag_option("--resubmit-lost", help="Submit again jobs whose task the provider forgot.")
@flag_option(
    "--resubmit-uncertain",
    help="Submit again jobs whose submit got no answer: pays twice if their task was created "
    "(each is named before it is sent).",
)
@timeout_text_option(
    "Give up following a job's task after this long (per job, per run): 90, 30s, 5m, 1h30m. "
    "A re-run follows it again."
)
@flag_option(
    "--cancel-on-timeout",
    help="Ask the provider to cancel a task that outran --timeout, where it can.",
)
@click.option(
    "--journal",
    "journal_url",
    metavar="URL",
    default=None,
    help="A shared ledger (postgresql://…) instead of OUT/.mediatask: several batch or worker "
    "processes, on several machines, finish the batch together.",
)
@lease_option
@overwrite_option
@flag_option("--dry-run", help="Check every job and print its requests; send nothing.")
@flag_option(
    "--strict",
    help="Run nothing when any line is invalid (else the invalid lines are reported up front, "
    "none of them sent, and the rest runs).",
)
@max_in_flight_option
@file_host_option
@sandbox_option
@json_option
def batch_command(
    manifest_path: Path,
    out_dir: Path,
    concurrency: int,
    retry_failed: bool,
    rerun_expired: bool,
    resubmit_lost: bool,
    resubmit_uncertain: bool,
    timeout_text: str | None,
    cancel_on_timeout: bool,
    journal_url: str | None,
    lease_text: str,
    overwrite: bool,
    dry_run: bool,
    strict: bool,
    sandbox: bool,
    as_json: bool,
) -> None:
    """``mediatask batch``: its help is :data:`BATCH_HELP`."""
    if dry_run:
        _dry_run(manifest_path, out_dir, sandbox, as_json)
        return
    plugins = load_plugins()
    with user_errors():
        options = BatchOptions(
            out_dir,
            concurrency,
            resubmit_uncertain=resubmit_uncertain,
            resubmit_lost=resubmit_lost,
            retry_failed=retry_failed,
            rerun_expired=rerun_expired,
            timeout=_timeout(timeout_text, cancel_on_timeout),
            cancel_on_timeout=cancel_on_timeout,
            overwrite=overwrite,
            strict=strict,
        )
        ran = _ran(plugins, manifest_path, options, sandbox, Ledger(journal_url, lease_text))
    _report(ran, manifest_path, options, sandbox=sandbox, timeout=timeout_text, as_json=as_json)


def _timeout(timeout_text: str | None, cancel_on_timeout: bool) -> float | None:
    """The seconds of ``--timeout``; ``--cancel-on-timeout`` without it is refused."""
    timeout = parse_timeout(timeout_text)
    if cancel_on_timeout and timeout is None:
        raise UsageError("--cancel-on-timeout needs --timeout DURATION")
    return timeout


@attrs.frozen
class Ledger:
    """``--journal URL`` and ``--lease``: the shared ledger a batch runs on, if any."""

    url: str | None
    lease_text: str


@attrs.frozen
class _Ran:
    """How a batch run ended: its summary (``None`` if interrupted before it began), whether
    it was interrupted, and the shared ledger's address (``None`` for OUT/.mediatask)."""

    summary: Summary | None
    interrupted: bool
    shared: str | None


def _ran(
    plugins: PluginManager, path: Path, options: BatchOptions, sandbox: bool, ledger: Ledger
) -> _Ran:
    """Read the manifest at ``path`` and run it, on the shared ledger or in OUT/.mediatask;
    every line the user must read is said on stderr."""
    manifest = read_manifest(path)
    forget_unless_needed(plugins, [entry.job for entry in manifest.entries])
    check_out_dir(options.out_dir)  # before anything is submitted
    for error in manifest.errors:
        click.echo(f"{path}: {error}", err=True)
    if ledger.url is not None:
        with open_ledger(ledger.url, ledger.lease_text) as shared:
            batch, _, outcome = run_shared(plugins, shared, options, manifest, sandbox=sandbox)
            exit_if_interrupted(outcome, batch)
            summary = batch.summary(manifest) if batch is not None else None
            where: str | None = shared.where
    else:
        journal_file = batch_journal_path(options.out_dir, sandbox=sandbox)
        fresh = attrs.evolve(options, fresh_provider=sandbox)  # a new sandbox knows no task
        with exclusive(journal_file.with_name(LOCK_FILE)), open_journal(journal_file) as journal:
            batch, outcome = _run(plugins, manifest, journal, fresh, sandbox)
            summary = batch.summary(manifest) if batch is not None else None
        where = None
    told = [*manifest.errors, *(batch.refused if batch is not None else ())]
    for error in batch.invalid if batch is not None else ():
        if error not in told:  # e.g. a changed job's id
            click.echo(f"{path}: {error}", err=True)
    return _Ran(summary, isinstance(outcome, Interrupted), where)


def _report(
    ran: _Ran,
    path: Path,
    options: BatchOptions,
    *,
    sandbox: bool,
    timeout: str | None,
    as_json: bool,
) -> None:
    """Print the batch's summary and recovery commands; exit 1 unless every job succeeded, 130
    if interrupted."""
    if ran.interrupted or ran.summary is None:
        _report_interrupt(ran.summary, sandbox=sandbox)
        return
    out_dir = options.out_dir
    command = _command(path, out_dir, sandbox=sandbox, timeout=timeout, journal=ran.shared)
    print_summary(ran.summary, command, out_dir, as_json=as_json)
    if not ran.summary.ok:
        sys.exit(1)


def _command(
    manifest: Path, out_dir: Path, *, sandbox: bool, timeout: str | None, journal: str | None
) -> str:
    """The batch's own command line, as the summary's recovery commands start."""
    words = ["mediatask", "batch", str(manifest), "-o", str(out_dir)]
    if journal is not None:
        words += ["--journal", journal]
    if timeout is not None:
        words += ["--timeout", timeout]
    if sandbox:
        words.append("--sandbox")
    return shlex.join(words)


def _dry_run(manifest_path: Path, out_dir: Path, sandbox: bool, as_json: bool) -> None:
    """Report every invalid line (as a real run would refuse it), print the others' requests."""
    from mediatask.cli.run import dry_client, print_dry_run

    plugins = load_plugins()
    with user_errors():
        manifest = read_manifest(manifest_path)
        invalid = list(manifest.errors)
        for entry in manifest.entries:
            invalid += bad_lines(dry_client(plugins, entry.job.provider, None, sandbox), [entry])
        for error in invalid:
            click.echo(f"{manifest_path}: {error}", err=True)
    bad = {error.line for error in invalid}
    good = [(e.id, e.job) for e in manifest.entries if e.line not in bad]
    print_dry_run(good, None, sandbox, as_json, out_dir)
    if invalid:
        with user_errors():
            total = len(manifest.entries) + len(manifest.errors)
            raise UsageError(
                f"{len(invalid)} of {total} lines are invalid (above): a batch would send none "
                "of them; fix them and run again"
            )


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


def _report_interrupt(summary: Summary | None, *, sandbox: bool) -> None:
    """Say what the interrupted batch left and what a re-run can do with it.

    With ``--sandbox`` the submitted tasks lived in this command's emulators and died with it:
    a re-run can only submit them again, and says so before anything is paid for.
    """
    if summary is None:
        click.echo("\ninterrupted before any job started", err=True)
    else:
        counts = summary.counts
        following = counts["submitted"] + counts["unfinished"] + counts["timed-out"]
        if sandbox:  # a submit cut off by Ctrl-C died with the sandbox too: no doubt, no cost
            following += counts["uncertain"] + counts["lost"]
        finished = summary.total - following - counts["pending"]
        fate = (
            "their tasks died with this command's sandbox: a re-run submits them again"
            if sandbox
            else "followed again on a re-run"
        )
        click.echo(
            f"\ninterrupted: {finished} finished, {following} submitted ({fate}), "
            f"{counts['pending']} pending; run the same command to resume",
            err=True,
        )
    sys.exit(130)
