"""``mediatask run``: submit one job, follow it with live progress, download its outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mediatask.api import open_client
from mediatask.cli.base import cli, echo_json, load_plugins, user_errors
from mediatask.cli.interrupt import Interrupted, run_cancellable
from mediatask.engine import Client
from mediatask.model import Job, Result, TaskRef, Update


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


class ProgressLine:
    """Shows each update: one rewritten line on a terminal, one line per change otherwise."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def __call__(self, task: TaskRef, update: Update) -> None:
        """Show ``update`` of ``task``."""
        percent = f" {update.progress:4.0%}" if update.progress is not None else ""
        line = f"{task.handle}  {update.raw_status or update.status.value}{percent}"
        if self.live:
            click.echo(f"\r\x1b[2K{line}", err=True, nl=update.status.is_final)
        else:
            click.echo(line, err=True)


@cli.command("run")
@click.argument("provider")
@click.argument("operation")
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="PATH|URL",
    help="An input file or http(s) URL (repeat for operations with several inputs).",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    callback=parse_params,
    help="An operation parameter (repeatable).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write the outputs.",
)
@click.option("--sandbox", is_flag=True, help="Run against the in-process emulators.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def run_command(
    provider: str,
    operation: str,
    inputs: tuple[str, ...],
    params: dict[str, str],
    out_dir: Path,
    sandbox: bool,
    as_json: bool,
) -> None:
    """Submit a job, follow it to the end, and download its outputs.

    \b
    Examples:
      mediatask run a1d image-upscaler --input https://example.com/cat.jpg -p scale=4 -o out
      mediatask run a1d remove-bg --input photo.jpg --sandbox
      mediatask run a1d image-generator -p prompt="a lighthouse at dusk" --json
    """
    plugins = load_plugins()
    job = Job(provider, operation, inputs, params)
    submitted: list[TaskRef] = []

    def on_submit(task: TaskRef) -> None:
        submitted.append(task)
        click.echo(f"submitted {task.handle}", err=True)

    async def main() -> Result:
        async with open_client(sandbox=sandbox, providers=[provider], plugins=plugins) as client:
            job_checked = client.check(job)
            return await client.run(
                job_checked, out_dir, on_submit=on_submit, on_update=ProgressLine()
            )

    with user_errors():
        Client(plugins=plugins).check(job)  # fail fast, before any server or network
        outcome = run_cancellable(main)
    if isinstance(outcome, Interrupted):
        where = (
            f"task {submitted[0].handle} may still be running at the provider"
            if submitted
            else "nothing was submitted"
        )
        click.echo(f"\ninterrupted: {where}", err=True)
        sys.exit(130)
    if as_json:
        echo_json(outcome.to_json())
    else:
        for path in outcome.files:
            click.echo(str(path))
