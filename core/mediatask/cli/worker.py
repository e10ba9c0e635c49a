"""``mediatask worker``: work on a shared PostgreSQL ledger (what ``batch --journal URL`` runs)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import click

from mediatask.batch.manifest import Entry, Manifest
from mediatask.batch.runner import RESULTS_FILE, Batch, BatchOptions, Summary
from mediatask.batch.shared_limits import shared_throttles
from mediatask.batch.workers import Worker
from mediatask.cli.base import (
    budget_option,
    cli,
    echo_json,
    follow_option,
    json_option,
    load_plugins,
    max_in_flight_option,
    stderr_console,
    stdout_console,
    user_errors,
)
from mediatask.cli.display import next_steps, open_display, summary_table
from mediatask.cli.interrupt import Interrupted, run_cancellable
from mediatask.cli.options import Decorator, count_option, flag_option
from mediatask.cli.session import open_cli_client
from mediatask.journal.postgres import LEASE_SECONDS, OffLoop, PostgresJournal, is_database_url
from mediatask.model.errors import UsageError
from mediatask.model.parsing import parse_duration
from mediatask.providers.manager import PluginManager
from mediatask.settings.config import Settings


def lease_option(function: click.decorators.FC) -> click.decorators.FC:
    """``--lease DURATION``: how long a worker's claim holds without renewal."""
    return click.option(
        "--lease",
        "lease_text",
        metavar="DURATION",
        default=f"{LEASE_SECONDS:g}s",
        show_default=True,
        help="With a shared ledger: how long a dead worker's jobs wait before another worker "
        "adopts them (leases are renewed at a third of it).",
    )(function)


def out_and_concurrency_options(*, out: str, concurrency: str) -> Decorator:
    """``-o/--out DIR`` (required) and ``--concurrency N``, as ``batch`` and ``worker`` take
    them, each command with its own help text."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function = count_option("--concurrency", minimum=1, default=8, help=concurrency)(function)
        return click.option(
            "-o",
            "--out",
            "out_dir",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help=out,
        )(function)

    return decorate


def timeout_text_option(help: str) -> Decorator:
    """``--timeout DURATION`` per job, kept as written (``timeout_text``) for the recovery
    commands; :func:`parse_timeout` reads it."""
    return click.option("--timeout", "timeout_text", metavar="DURATION", default=None, help=help)


def parse_timeout(timeout_text: str | None) -> float | None:
    """The seconds ``--timeout`` names, if given."""
    return parse_duration(timeout_text) if timeout_text is not None else None


def open_ledger(url: str, lease_text: str) -> PostgresJournal:
    """The shared ledger ``--journal`` names; anything but a ``postgresql://`` URL is refused."""
    lease = parse_duration(lease_text)
    if lease <= 0:
        raise UsageError("--lease must be longer than 0s")
    if not is_database_url(url):
        raise UsageError(
            f"--journal takes a shared ledger's postgresql:// URL, not {url!r} (a batch on one "
            "machine keeps its journal in OUT/.mediatask)"
        )
    return PostgresJournal(url, lease_seconds=lease)


def run_shared(
    plugins: PluginManager,
    ledger: PostgresJournal,
    options: BatchOptions,
    manifest: Manifest | None,
    *,
    sandbox: bool = False,
    stay: bool = False,
) -> tuple[Batch | None, Manifest, Interrupted | None]:
    """Load ``manifest`` (if any) into ``ledger``, then work on it until nothing is open.

    :returns: the batch (``None`` if interrupted before it began), the jobs to summarise (the
        manifest's, else the whole ledger's) and the interruption, if any.
    """
    started: list[Batch] = []
    wanted = manifest.entries if manifest is not None else ()
    known = {e.job.provider for e in wanted} | {r.job.provider for r in ledger.records()}
    providers = sorted(known & set(plugins.providers))
    work = partial(_work_on, plugins, ledger, options, manifest, providers, sandbox, stay, started)
    outcome = run_cancellable(work)
    if manifest is None:
        entries = tuple(Entry(r.line or 0, r.id, r.job) for r in ledger.records())
        manifest = Manifest(entries, ())
    return (started[0] if started else None), manifest, outcome


async def _work_on(
    plugins: PluginManager,
    ledger: PostgresJournal,
    options: BatchOptions,
    manifest: Manifest | None,
    providers: list[str],
    sandbox: bool,
    stay: bool,
    started: list[Batch],
) -> None:
    """The async part of :func:`run_shared`: the batch it begins is appended to ``started``."""
    side = OffLoop(ledger.sibling())  # claims, leases, shared limits: off the event loop
    try:
        throttles = shared_throttles(ledger, side, Settings())
        async with open_cli_client(
            plugins, sandbox=sandbox, providers=providers, throttles=throttles
        ) as client:
            with open_display(stderr_console()) as display:
                batch = Batch(client, ledger, options, display)
                started.append(batch)
                worker = Worker(batch, ledger, stay=stay, side=side)
                with batch.results("a"):
                    if manifest is not None:
                        await worker.load(manifest)
                    await worker.run()
    finally:
        side.close()


def exit_if_interrupted(outcome: Interrupted | None, batch: Batch | None) -> None:
    """A worker stopped by Ctrl-C or SIGTERM exits 130 at once (its database may not answer)."""
    if isinstance(outcome, Interrupted) or batch is None:
        click.echo("\ninterrupted: this worker's jobs are left to the others", err=True)
        sys.exit(130)


def print_summary(summary: Summary, command: str, out_dir: Path, *, as_json: bool) -> None:
    """The batch's summary (and its recovery commands), as ``batch`` prints it."""
    if as_json:
        echo_json({**summary.to_json(command), "results": str(out_dir / RESULTS_FILE)})
        return
    console = stdout_console()
    console.print(summary_table(summary))
    for line in next_steps(summary, command):
        # On a terminal, wrapped between words to its width; in a pipe or file, whole lines.
        console.print(line, highlight=False, soft_wrap=not console.is_terminal)


@cli.command("worker")
@follow_option
@budget_option
@click.option(
    "--journal",
    "url",
    required=True,
    metavar="URL",
    help="The shared ledger: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE.",
)
@out_and_concurrency_options(
    out="Where outputs and results.jsonl go (a shared mount when workers share outputs).",
    concurrency="Jobs this worker holds at once.",
)
@timeout_text_option(
    "Give up following a job's task after this long (per job): 90, 30s, 5m, 1h30m."
)
@flag_option(
    "--stay",
    help="Keep looking for new jobs (every second) when none is open, until Ctrl-C or SIGTERM.",
)
@lease_option
@max_in_flight_option
@json_option
def worker_command(
    url: str,
    out_dir: Path,
    concurrency: int,
    timeout_text: str | None,
    stay: bool,
    lease_text: str,
    as_json: bool,
) -> None:
    """Work on the jobs of a shared ledger until none is open; run one per machine or more.

    Claims jobs no other worker holds, submits the pending ones (the intent journalled as each
    request goes on the wire), follows and downloads the submitted ones, and adopts the jobs of
    a worker that stopped renewing its leases (a dead machine): their tasks are followed, never
    submitted again. Jobs get into the ledger with `mediatask batch MANIFEST -o OUT --journal
    URL` (or by another service). With --stay it keeps looking for new jobs until stopped.
    Exit 1 if any job in the ledger did not succeed, 130 if interrupted.

    \b
    Examples:
      mediatask worker --journal postgresql://media@db/ledger -o /mnt/out
      mediatask worker --journal postgresql://media@db/ledger -o out --concurrency 16
      mediatask worker --journal postgresql://media@db/ledger -o /mnt/out --stay
    """
    plugins = load_plugins()
    with user_errors():
        options = BatchOptions(out_dir, concurrency, timeout=parse_timeout(timeout_text))
        with open_ledger(url, lease_text) as ledger:
            batch, jobs, outcome = run_shared(plugins, ledger, options, None, stay=stay)
            exit_if_interrupted(outcome, batch)
            assert batch is not None  # noqa: S101  # not interrupted: it began
            summary = batch.summary(jobs)
            where = ledger.where
    command = shlex.join(["mediatask", "batch", "MANIFEST", "-o", str(out_dir), "--journal", where])
    print_summary(summary, command, out_dir, as_json=as_json)
    if not summary.ok:
        sys.exit(1)
