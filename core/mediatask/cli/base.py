"""The command group and what every command shares: error display, plugin loading, options."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import click

from mediatask.errors import MediataskError
from mediatask.plugins import PluginLoadWarning, PluginManager


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show our own errors as one line (exit 1); anything else is a bug and keeps its traceback."""
    try:
        yield
    except* MediataskError as group:  # matches a bare error too, and errors out of a nursery
        messages = dict.fromkeys(str(e) for e in _leaves(group))
        raise click.ClickException("; ".join(messages)) from None


def _leaves(group: BaseExceptionGroup[MediataskError]) -> Iterator[MediataskError]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def load_plugins() -> PluginManager:
    """Load the installed plugins; a plugin that fails to load is one warning line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginLoadWarning)
        with user_errors():
            manager = PluginManager.from_entry_points()
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    return manager


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mediatask")
@click.option("-v", "--verbose", count=True, help="Log each HTTP exchange (keys redacted).")
def cli(verbose: int) -> None:
    """Run jobs on asynchronous AI media APIs: one model, one engine, one CLI.

    \b
    Examples:
      mediatask providers
      mediatask run a1d image-upscaler --input photo.png -p scale=4 -o out --sandbox
      mediatask emulate a1d --port 8080 --key secret
    """
    if verbose:
        logging.basicConfig(
            stream=sys.stderr,
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(name)s: %(message)s",
        )
        logging.getLogger("mediatask.http").setLevel(logging.DEBUG)


def main() -> None:
    """The ``mediatask`` console script."""
    cli(prog_name="mediatask")
