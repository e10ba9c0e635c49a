"""``mediatask list`` (the provider's own task list) and ``mediatask credits``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

import click

from mediatask.cli.base import (
    budget_option,
    cli,
    echo_json,
    json_option,
    key_option,
    load_plugins,
    sandbox_option,
    user_errors,
)
from mediatask.cli.complete import complete_provider
from mediatask.cli.session import ClientFor, cli_settings, run_with_client
from mediatask.engine.client import LIST_PAGES, Client, Listing
from mediatask.model.errors import MediataskError, UsageError
from mediatask.model.values import Credits, TaskRef
from mediatask.providers.manager import PluginManager

T = TypeVar("T")

_LACKS = {
    "list": "keeps no list of tasks that mediatask can read",
    "credits": "does not report remaining credits",
}


def _supports(plugins: PluginManager, feature: str, provider: str) -> bool:
    """Whether ``provider`` declares ``feature`` (list) and its plugin builds the request."""
    if feature == "list" and not plugins.provider(provider).capabilities.list:
        return False
    try:
        build = (
            plugins.list_tasks(provider, None) if feature == "list" else plugins.credits(provider)
        )
    except MediataskError:
        return True  # it has the feature but wants more (e.g. --operation)
    return build is not None


def listed_operations(plugins: PluginManager, provider: str) -> list[str | None]:
    """The operations whose tasks ``mediatask list PROVIDER`` reads: every one the plugin can
    list (once per distinct request), or just the provider's default list when none is
    separate (``None``)."""
    seen: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    found: list[str | None] = []
    for op in plugins.provider(provider).operations:
        try:
            request = plugins.list_tasks(provider, op.name)
        except MediataskError:
            continue
        if request is None:
            continue
        key = (request.method, request.url, tuple(sorted(request.params.items())))
        if key not in seen:
            seen.add(key)
            found.append(op.name)
    return found if len(found) > 1 else [None]


def _run_on(
    provider: str,
    key: str | None,
    sandbox: bool,
    body: Callable[[Client], Awaitable[T]],
    feature: str,
) -> T:
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
        client = ClientFor(plugins, (provider,), settings, sandbox, quick=True)
        return run_with_client(client, body)


@cli.command("list")
@click.argument("provider", shell_complete=complete_provider)
@click.option("--operation", default=None, help="Only tasks of this operation.")
@click.option(
    "--pages",
    type=click.IntRange(min=1),
    default=LIST_PAGES,
    show_default=True,
    help="Read at most this many pages of a list that comes in pages.",
)
@budget_option
@key_option
@sandbox_option
@json_option
def list_command(
    provider: str,
    operation: str | None,
    pages: int,
    key: str | None,
    sandbox: bool,
    as_json: bool,
) -> None:
    """List PROVIDER's own records of recent tasks (where the provider keeps such a list).

    A2E keeps one per kind of task: without --operation every kind is listed. A1D and Claid
    keep none (the command says so and names the providers that do).

    \b
    Examples:
      mediatask list a2e
      mediatask list a2e --operation talking-photo --json
    """

    body = partial(_listed, provider, operation, pages)
    listings, rows = _run_on(provider, key, sandbox, body, "list")
    if as_json:
        shown = [
            {"handle": t.handle, "status": status, "operation": t.operation} for t, status in rows
        ]
        echo_json(shown)
    else:
        if not rows:
            which = f" of operation {operation}" if operation else ""
            click.echo(f"{provider} lists no recent tasks{which}", err=True)
        for task, status in rows:
            click.echo(f"{task.handle}  {status}  {task.operation}".rstrip())
    for listing in listings:
        if listing.more:
            click.echo(
                f"stopped after {listing.pages} pages ({len(listing.tasks)} tasks); {provider} "
                "lists older ones: --pages N reads more",
                err=True,
            )


async def _listed(
    provider: str, operation: str | None, pages: int, client: Client
) -> tuple[list[Listing], list[tuple[TaskRef, str]]]:
    """The listings of ``provider`` (of ``operation``, else of each kind it lists), and each
    task in them with its status."""
    operations = [operation] if operation else listed_operations(client.plugins, provider)
    listings, rows = [], []
    for each in operations:
        listing = await client.listing(provider, each, pages=pages)
        listings.append(listing)
        for task in listing.tasks:
            known = client.known_update(task)
            rows.append((task, (known.raw_status or known.status.value) if known else ""))
    return listings, rows


@cli.command("credits")
@click.argument("provider", shell_complete=complete_provider)
@budget_option
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

    credits = _run_on(provider, key, sandbox, body, "credits")
    if as_json:
        echo_json({"provider": provider, "amount": credits.amount, "unit": credits.unit})
    else:
        click.echo(f"{provider}  {credits.amount:g} {credits.unit}")
