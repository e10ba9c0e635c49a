"""``mediatask keys``: provider keys in a 0600 file, so no environment variable is needed."""

from __future__ import annotations

import sys

import click

from mediatask.cli.base import cli, echo_json, json_option, load_plugins, user_errors
from mediatask.cli.complete import complete_provider
from mediatask.model.errors import UsageError
from mediatask.settings.config import Settings
from mediatask.settings.keys import KeyStore


@cli.group("keys")
def keys_group() -> None:
    """Store provider keys (file mode 0600 under your mediatask folder, or $MEDIATASK_HOME).

    A key is looked up in this order: --key on the command line, then MEDIATASK_<NAME>_KEY,
    then this store.

    \b
    Examples:
      mediatask keys set a1d              # prompts; the key is not echoed
      printf %s "$KEY" | mediatask keys set a1d
      mediatask keys list
      mediatask keys remove a1d
      mediatask keys path
    """


@keys_group.command("set")
@click.argument("provider", shell_complete=complete_provider)
@click.option(
    "--value",
    default=None,
    metavar="KEY",
    help="The key itself, for scripts (other local users may see it in the process list: "
    "piping it on standard input is safer).",
)
def keys_set(provider: str, value: str | None) -> None:
    """Store the key for PROVIDER, read without echo (or from standard input, or --value).

    \b
    Examples:
      mediatask keys set a1d
      printf %s "$KEY" | mediatask keys set a1d
      mediatask keys set a1d --value "$KEY"
    """
    plugins = load_plugins()
    with user_errors():
        info = plugins.provider(provider)
        if value is not None and not value.strip():
            raise UsageError('--value is empty: pass the key, e.g. --value "$KEY"')
        key = value.strip() if value is not None else _read_key(info.title, info.name)
        store = KeyStore.default()
        store.set(info.name, key)
    click.echo(f"stored the {info.name} key in {store.path}", err=True)


def _read_key(title: str, name: str) -> str:
    """The key typed at a terminal (not echoed), or the first line piped on standard input."""
    stdin = sys.stdin
    if stdin.isatty():
        key: str = click.prompt(f"{title} key", hide_input=True, prompt_suffix=": ", err=True)
        return key.strip()
    key = stdin.readline().strip()  # no prompt, so no GetPassWarning
    if not key:
        raise UsageError(
            "no key on standard input: pipe it in, e.g. "
            f'printf %s "$KEY" | mediatask keys set {name}'
        )
    return key


@keys_group.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List providers and where their key comes from (never the key itself).

    \b
    Examples:
      mediatask keys list
      mediatask keys list --json
    """
    plugins = load_plugins()
    store = KeyStore.default()
    settings = Settings()
    stored = set(store.names())
    rows = []
    for name in sorted(set(plugins.providers) | stored):
        info = plugins.providers.get(name)
        source = "none"
        if info is not None and settings.environ.get(info.key_env):
            source = f"environment ({info.key_env})"
        elif name in stored:
            source = "key store"
        rows.append({"provider": name, "source": source, "installed": info is not None})
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        extra = "" if row["installed"] else "  (plugin not installed)"
        click.echo(f"{row['provider']:<12} {row['source']}{extra}")


@keys_group.command("remove")
@click.argument("provider", shell_complete=complete_provider)
def keys_remove(provider: str) -> None:
    """Forget the stored key of PROVIDER.

    \b
    Examples:
      mediatask keys remove a1d
    """
    store = KeyStore.default()
    if not store.remove(provider):
        raise click.ClickException(f"no stored key for {provider}")
    click.echo(f"removed the {provider} key from {store.path}", err=True)


@keys_group.command("path")
def keys_path() -> None:
    """Print the key store's path.

    \b
    Examples:
      mediatask keys path
    """
    click.echo(str(KeyStore.default().path))
