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
from mediatask.errors import MediataskError, UsageError
from mediatask.model import Credits, TaskRef
from mediatask.plugins import PluginManager

_LACKS = {
    "list": "keeps no list of tasks that mediatask can read",
    "credits": "does not report remaining credits",
}


def _supports(plugins: PluginManager, feature: str, provider: str) -> bool:
    """Whether ``provider``'s plugin builds a request for ``feature`` (list or credits)."""
    try:
        build = (
            plugins.list_tasks(provider, None) if feature == "list" else plugins.credits(provider)
        )
    except MediataskError:
        return True  # it has the feature but wants more (e.g. --operation)
    return build is not None


def _run_on(provider: str, key: str | None, sandbox: bool, body: object, feature: str) -> object:
    plugins = load_plugins()
    with user_errors():
        settings = cli_settings(plugins, provider, key)
        info = plugins.provider(provider)
        if not _supports(plugins, feature, info.name):
            able = [name for name in sorted(plugins.providers) if _supports(plugins, feature, name)]
            raise UsageError(
                f"{info.name} {_LACKS[feature]}: `mediatask {feature}` works with "
                f"{', '.join(able) or 'no installed provider'}"
            )

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

    A2E keeps one; A1D and Claid do not (the command says so and names the providers that do).

    \b
    Examples:
      mediatask list a2e
      mediatask list a2e --operation talking-photo --json
    """

    async def body(client: Client) -> list[tuple[TaskRef, str]]:
        tasks = await client.list_tasks(provider, operation)
        rows = []
        for task in tasks:
            known = client.known_update(task)
            rows.append((task, (known.raw_status or known.status.value) if known else ""))
        return rows

    rows: list[tuple[TaskRef, str]] = _run_on(provider, key, sandbox, body, "list")  # type: ignore[assignment]  # body's type
    if as_json:
        echo_json([{"handle": task.handle, "status": status} for task, status in rows])
        return
    if not rows:
        which = f" of operation {operation}" if operation else ""
        click.echo(f"{provider} lists no recent tasks{which}", err=True)
    for task, status in rows:
        click.echo(f"{task.handle}  {status}".rstrip())


@cli.command("credits")
@click.argument("provider")
@key_option
@sandbox_option
@json_option
def credits_command(provider: str, key: str | None, sandbox: bool, as_json: bool) -> None:
    """Show the account's remaining credits with PROVIDER (where the provider reports them).

    A2E reports them; A1D and Claid do not (the command says so and names the providers that do).

    \b
    Examples:
      mediatask credits a2e
      mediatask credits a2e --json
    """

    async def body(client: Client) -> Credits:
        return await client.credits(provider)

    credits: Credits = _run_on(provider, key, sandbox, body, "credits")  # type: ignore[assignment]  # body's type
    if as_json:
        echo_json({"provider": provider, "amount": credits.amount, "unit": credits.unit})
    else:
        click.echo(f"{provider}  {credits.amount:g} {credits.unit}")
