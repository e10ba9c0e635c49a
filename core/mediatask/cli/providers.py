"""``mediatask providers`` (and ``show``), ``mediatask plugins``: what is installed, what for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click
from rich.padding import Padding
from rich.text import Text
from rich.tree import Tree

from mediatask.cli.base import (
    cli,
    echo_json,
    fit,
    json_option,
    load_plugins,
    output_width,
    stdout_console,
    user_errors,
)
from mediatask.cli.complete import complete_provider
from mediatask.model.values import LocalFiles, Operation, Param, ProviderInfo
from mediatask.settings.config import Settings

if TYPE_CHECKING:
    from mediatask.providers.manager import PluginManager

LOCAL_FILES = {
    LocalFiles.NONE: "local files: URLs only (--file-host or --sandbox serves them)",
    LocalFiles.INLINE: "local files: sent with the request",
    LocalFiles.UPLOAD: "local files: uploaded first",
}
"""How each way of taking local files reads in ``providers`` (``--json`` keeps the value)."""


def param_json(p: Param) -> dict[str, Any]:
    """The JSON form of a parameter, with its fields when it is a nested document."""
    return {
        "name": p.name,
        "type": p.type,
        "required": p.required,
        "default": p.default,
        "choices": list(p.choices),
        "minimum": p.minimum,
        "maximum": p.maximum,
        "description": p.description,
        "fields": [param_json(field) for field in p.fields],
    }


def provider_json(manager: PluginManager, info: ProviderInfo, *, key_set: bool) -> dict[str, Any]:
    """The JSON form of a provider's declaration (and of what its hooks can do).

    The provider matrix (:func:`provider_matrix`) is drawn from it alone.
    """
    caps = info.capabilities
    return {
        "name": info.name,
        "title": info.title,
        "base_url": info.base_url,
        "key_env": info.key_env,
        "key_set": key_set,
        "docs_url": info.docs_url,
        "max_concurrency": info.max_concurrency,
        "rate_limits": [list(limit) for limit in info.rate_limits],
        "capabilities": {
            "stream": caps.stream,
            "cancel": caps.cancel,
            "list": caps.list,
            "credits": manager.credits(info.name) is not None,
            "local_files": caps.local_files.value,
        },
        "operations": [
            {
                "name": op.name,
                "title": op.title,
                "inputs": list(op.inputs),
                "params": [param_json(p) for p in op.params],
            }
            for op in info.operations
        ],
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "—"


def _limits(provider: Mapping[str, Any]) -> str:
    windows = [f"{count}/{seconds:g}s" for count, seconds in provider["rate_limits"]]
    if provider["max_concurrency"] is not None:
        windows.append(f"{provider['max_concurrency']} in flight")
    return ", ".join(windows) or "—"


def provider_matrix(providers: Iterable[Mapping[str, Any]]) -> str:
    """The provider matrix of ``docs/providers/README.md``, a Markdown table, drawn from the
    providers' JSON forms (:func:`provider_json`, what ``providers --json`` prints)."""
    rows = [
        "| provider | operations | follows by | local files | cancel | list | credits | limits |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for provider in sorted(providers, key=lambda p: str(p["name"])):
        caps = provider["capabilities"]
        operations = ", ".join(f"`{operation['name']}`" for operation in provider["operations"])
        follows = "stream, poll" if caps["stream"] else "poll"
        rows.append(
            f"| `{provider['name']}` | {operations} | {follows} "
            f"| {caps['local_files']} | {_yes(caps['cancel'])} | {_yes(caps['list'])} "
            f"| {_yes(caps['credits'])} | {_limits(provider)} |"
        )
    return "\n".join(rows)


def _flags(info: ProviderInfo) -> str:
    caps = info.capabilities
    flags = [
        name
        for name, on in (("stream", caps.stream), ("cancel", caps.cancel), ("list", caps.list))
        if on
    ]
    flags.append(LOCAL_FILES[caps.local_files])
    return ", ".join(flags)


def _key_status(info: ProviderInfo, settings: Settings) -> str:
    return "key set" if settings.key(info) else f"no key (set {info.key_env})"


def _brief(op: Operation) -> str:
    params = ", ".join(
        p.name
        + ("*" if p.required else "")
        + (f"={'|'.join(map(str, p.choices))}" if p.choices else "")
        for p in op.params
    )
    return f"  {op.name:<22} {op.title}" + (f"  ({params})" if params else "")


BRIEF_INDENT = 25
"""Where an operation's title starts in ``mediatask providers``: its continued lines too."""


@cli.group("providers", invoke_without_command=True)
@json_option
@click.pass_context
def providers_command(ctx: click.Context, as_json: bool) -> None:
    """List the installed providers, their operations and capabilities, and whether a key is set.

    \b
    Examples:
      mediatask providers
      mediatask providers --json
      mediatask providers show a1d
    """
    if ctx.invoked_subcommand is not None:
        return
    manager = load_plugins()
    settings = Settings()
    infos = sorted(manager.providers.values(), key=lambda i: i.name)
    if as_json:
        echo_json([provider_json(manager, i, key_set=bool(settings.key(i))) for i in infos])
        return
    if not infos:
        click.echo("no providers installed (pip install mediatask-a1d, for example)")
    width = output_width()
    for info in infos:
        head = f"{info.name}  {info.title}  [{_flags(info)}]  {_key_status(info, settings)}"
        click.echo(fit(head, width, 4))
        for op in info.operations:
            click.echo(fit(_brief(op), width, BRIEF_INDENT))


def _facts(p: Param) -> str:
    parts = [p.type]
    if p.required:
        parts.append("required")
    elif p.default is not None:
        parts.append(f"default {p.default!r}")
    if p.choices:
        parts.append("one of " + ", ".join(map(str, p.choices)))
    if p.minimum is not None:
        parts.append(f">= {p.minimum:g}")
    if p.maximum is not None:
        parts.append(f"<= {p.maximum:g}")
    return "; ".join(parts)


def _param_line(p: Param) -> str:
    described = f"  {p.description}" if p.description else ""
    return f"      {p.name:<20} {_facts(p)}{described}"


def _grow(tree: Tree, fields: tuple[Param, ...]) -> None:
    """Add each field (and its own fields) under ``tree``: name, type, allowed values."""
    for field in fields:
        label = Text(field.name, style="bold")
        label.append(f"  {_facts(field)}")
        if field.description:
            label.append(f"  {field.description}", style="dim")
        _grow(tree.add(label), field.fields)


def _document_tree(p: Param) -> Padding:
    """A nested document's fields as a tree, indented under its parameter's line."""
    tree = Tree(Text("fields of " + p.name, style="italic"), guide_style="dim")
    _grow(tree, p.fields)
    return Padding(tree, (0, 0, 0, 8))


@providers_command.command("show")
@click.argument("name", shell_complete=complete_provider)
@json_option
def providers_show(name: str, as_json: bool) -> None:
    """Show one provider: each operation's inputs and parameters, capabilities, key status.

    \b
    Examples:
      mediatask providers show a1d
      mediatask providers show a1d --json
      mediatask providers show claid     # the edit document's fields as a tree
    """
    manager = load_plugins()
    settings = Settings()
    with user_errors():
        info = manager.provider(name)
    if as_json:
        echo_json(provider_json(manager, info, key_set=bool(settings.key(info))))
        return
    click.echo(f"{info.name}  {info.title}  {info.docs_url}".rstrip())
    click.echo(f"  base URL: {settings.environ.get(info.base_url_env) or info.base_url}")
    most = info.max_concurrency
    limit = f"at most {most} tasks at once" if most else "tasks in flight: learned from answers"
    click.echo(f"  capabilities: {_flags(info)}; {limit}")
    click.echo(f"  key: {_key_status(info, settings)}")
    for op in info.operations:
        inputs = f"  inputs: {', '.join(op.inputs)}" if op.inputs else ""
        click.echo(f"  {op.name}: {op.title} (output: {op.output_kind}){inputs}")
        for param in op.params:
            click.echo(_param_line(param))
            if param.fields:
                stdout_console().print(_document_tree(param), soft_wrap=False)


@cli.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List the installed plugins: version, providers, hooks, and those that failed to load.

    \b
    Examples:
      mediatask plugins
      mediatask plugins --json
    """
    manager = load_plugins()
    records = sorted(manager.plugins, key=lambda r: r.name)
    if as_json:
        echo_json(
            {
                "plugins": [
                    {
                        "name": r.name,
                        "distribution": r.distribution,
                        "version": r.version,
                        "providers": list(r.providers),
                        "hooks": list(r.hooks),
                    }
                    for r in records
                ],
                "failures": [
                    {"name": f.name, "distribution": f.distribution, "reason": f.reason}
                    for f in manager.failures
                ],
            }
        )
        return
    for r in records:
        click.echo(f"{r.name}  {r.distribution} {r.version}  providers: {', '.join(r.providers)}")
        click.echo(f"  hooks: {', '.join(r.hooks)}")
    for f in manager.failures:
        click.echo(f"{f.name}  {f.distribution}  FAILED TO LOAD: {f.reason}")
