"""Shell completion of provider, operation and parameter names (click's ``shell_complete``).

Each function is given to an argument or option as ``shell_complete=``; it reads the installed
plugins, and completes nothing rather than fail when they cannot be loaded.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem

from mediatask.model.values import Operation, ProviderInfo


def _providers() -> dict[str, ProviderInfo]:
    from mediatask.cli.base import load_plugins  # base imports nothing of this module

    try:
        return dict(load_plugins().providers)
    except (click.ClickException, Exception):  # noqa: BLE001  # completion must never fail
        return {}


def _typed(ctx: click.Context, name: str) -> str:
    """The argument ``name`` as typed so far: parsed, or (while an option such as ``-p`` still
    waits for its value, and click has left the words unparsed) by its position."""
    value = ctx.params.get(name)
    if value:
        return str(value)
    names = [p.name for p in ctx.command.params if isinstance(p, click.Argument)]
    return str(dict(zip(names, ctx.args, strict=False)).get(name) or "")


def _operation(ctx: click.Context) -> Operation | None:
    info = _providers().get(_typed(ctx, "provider"))
    return info.operation(_typed(ctx, "operation")) if info else None


def complete_provider(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The installed providers whose names start with ``incomplete``, each with its title."""
    return [
        CompletionItem(name, help=info.title)
        for name, info in sorted(_providers().items())
        if name.startswith(incomplete)
    ]


def complete_operation(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The operations of the PROVIDER already typed, with their titles."""
    info = _providers().get(_typed(ctx, "provider"))
    if info is None:
        return []
    return [
        CompletionItem(op.name, help=op.title)
        for op in info.operations
        if op.name.startswith(incomplete)
    ]


def complete_param(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """``-p NAME=``: the parameters of the operation already typed; after ``=``, its choices."""
    operation = _operation(ctx)
    if operation is None:
        return []
    name, sep, value = incomplete.partition("=")
    if sep:
        found = operation.param(name)
        choices = [str(choice) for choice in found.choices] if found else []
        return [CompletionItem(f"{name}={c}") for c in choices if c.startswith(value)]
    return [
        CompletionItem(f"{p.name}=", help=p.description or p.type)
        for p in operation.params
        if p.name.startswith(name)
    ]
