"""``mediatask providers``: what is installed, what each provider can do, whether a key is set."""

from __future__ import annotations

from typing import Any

import click

from mediatask.cli.base import cli, echo_json, load_plugins
from mediatask.config import Settings
from mediatask.model import ProviderInfo


def provider_json(info: ProviderInfo, *, key_set: bool) -> dict[str, Any]:
    """The JSON form of a provider's declaration."""
    caps = info.capabilities
    return {
        "name": info.name,
        "title": info.title,
        "base_url": info.base_url,
        "key_env": info.key_env,
        "key_set": key_set,
        "capabilities": {
            "stream": caps.stream,
            "cancel": caps.cancel,
            "list": caps.list,
            "local_files": caps.local_files.value,
        },
        "operations": [
            {
                "name": op.name,
                "title": op.title,
                "inputs": list(op.inputs),
                "params": [
                    {
                        "name": p.name,
                        "type": p.type,
                        "required": p.required,
                        "default": p.default,
                        "choices": list(p.choices),
                        "description": p.description,
                    }
                    for p in op.params
                ],
            }
            for op in info.operations
        ],
    }


@cli.command("providers")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def providers_command(as_json: bool) -> None:
    """List the installed providers, their operations and capabilities, and whether a key is set.

    \b
    Examples:
      mediatask providers
      mediatask providers --json
    """
    manager = load_plugins()
    settings = Settings()
    infos = sorted(manager.providers.values(), key=lambda i: i.name)
    if as_json:
        echo_json([provider_json(i, key_set=bool(settings.key(i))) for i in infos])
        return
    if not infos:
        click.echo("no providers installed (pip install mediatask-a1d, for example)")
    for info in infos:
        caps = info.capabilities
        flags = [
            name
            for name, on in (("stream", caps.stream), ("cancel", caps.cancel), ("list", caps.list))
            if on
        ]
        flags.append(f"local files: {caps.local_files.value}")
        key = "key set" if settings.key(info) else f"no key (set {info.key_env})"
        click.echo(f"{info.name}  {info.title}  [{', '.join(flags)}]  {key}")
        for op in info.operations:
            params = ", ".join(
                p.name
                + ("*" if p.required else "")
                + (f"={'|'.join(map(str, p.choices))}" if p.choices else "")
                for p in op.params
            )
            click.echo(f"  {op.name:<22} {op.title}" + (f"  ({params})" if params else ""))
