"""``mediatask list`` (the provider's own task list) and ``mediatask credits``."""

from __future__ import annotations

import sys

import click

from mediatask.cli.base import (
    cli,
    echo_json,
    json_option,
    key_option,
    load_plugins,
    sandbox_option,
    user_errors,
)
from mediatask.cli.interrupt import Interrupted, run_cancellable
from mediatask.cli.session import cli_settings, open_cli_client
from mediatask.engine import Client
from mediatask.model import Credits, TaskRef


def _run_on(provider: str, key: str | None, sandbox: bool, body: object) -> object:
    plugins = load_plugins()
    with user_errors():
        settings = cli_settings(plugins, provider, key)
        plugins.provider(provider)

        async def main() -> object:
            async with open_cli_client(
                plugins, sandbox=sandbox, providers=[provider], settings=settings
            ) as client:
                return await body(client)  # type: ignore[operator]  # an async callable

        outcome = run_cancellable(main)
    if isinstance(outcome, Interrupted):
        sys.exit(130)
    return outcome


@cli.command("list")
@click.argument("provider")
@click.option("--operation", default=None, help="Only tasks of this operation.")
@key_option
@sandbox_option
@json_option
def list_command(
    provider: str, operation: str | None, key: str | None, sandbox: bool, as_json: bool
) -> None:
    """List PROVIDER's own records of recent tasks (where the provider keeps such a list).

    \b
    Examples:
      mediatask list claid
      mediatask list a2e --operation talking-photo --json
    """

    async def body(client: Client) -> list[tuple[TaskRef, str]]:
        tasks = await client.list_tasks(provider, operation)
        rows = []
        for task in tasks:
            known = client.known_update(task)
            rows.append((task, (known.raw_status or known.status.value) if known else ""))
        return rows

    rows: list[tuple[TaskRef, str]] = _run_on(provider, key, sandbox, body)  # type: ignore[assignment]  # body's type
    if as_json:
        echo_json([{"handle": task.handle, "status": status} for task, status in rows])
        return
    for task, status in rows:
        click.echo(f"{task.handle}  {status}".rstrip())


@cli.command("credits")
@click.argument("provider")
@key_option
@sandbox_option
@json_option
def credits_command(provider: str, key: str | None, sandbox: bool, as_json: bool) -> None:
    """Show the account's remaining credits with PROVIDER (where the provider reports them).

    \b
    Examples:
      mediatask credits claid
      mediatask credits a2e --json
    """

    async def body(client: Client) -> Credits:
        return await client.credits(provider)

    credits: Credits = _run_on(provider, key, sandbox, body)  # type: ignore[assignment]  # body's type
    if as_json:
        echo_json({"provider": provider, "amount": credits.amount, "unit": credits.unit})
    else:
        click.echo(f"{provider}  {credits.amount:g} {credits.unit}")
