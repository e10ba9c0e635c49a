"""The command group and what every command shares: error display, plugin loading, options."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mediatask.cli.lazy import LazyCommand, LazyGroup
from mediatask.errors import MediataskError

if TYPE_CHECKING:
    from rich.console import Console

    from mediatask.plugins import PluginManager

# What is imported here is paid by every command, `--help` included: rich, the plugin manager
# and the engine are imported inside the functions that need them.

SANDBOX_SECONDS_ENV = "MEDIATASK_SANDBOX_SECONDS"
"""How long each emulated task takes with ``--sandbox`` (default: the emulator's own)."""

COMMANDS = {
    "batch": LazyCommand(
        "mediatask.cli.batch",
        "Run every job of MANIFEST (JSON Lines or .csv) concurrently; re-run to resume.",
    ),
    "cancel": LazyCommand(
        "mediatask.cli.tasks",
        "Ask the provider to cancel (or delete) the task HANDLE, where it has a way to.",
    ),
    "credits": LazyCommand(
        "mediatask.cli.account",
        "Show the account's remaining credits with PROVIDER (where the provider reports them).",
    ),
    "download": LazyCommand(
        "mediatask.cli.tasks",
        "Download the outputs of the task HANDLE (waiting for it first if it is still running).",
    ),
    "emulate": LazyCommand(
        "mediatask.cli.emulate", "Serve PROVIDER's emulated API on HOST:PORT until Ctrl-C."
    ),
    "jobs": LazyCommand(
        "mediatask.cli.batch", "The local journal: jobs recorded by run, submit and batch."
    ),
    "keys": LazyCommand(
        "mediatask.cli.keys",
        "Store provider keys (file mode 0600 under your mediatask folder, or $MEDIATASK_HOME).",
    ),
    "list": LazyCommand(
        "mediatask.cli.account",
        "List PROVIDER's own records of recent tasks (where the provider keeps such a list).",
    ),
    "plugins": LazyCommand(
        "mediatask.cli.providers",
        "List the installed plugins: version, providers, hooks, and those that failed to load.",
    ),
    "providers": LazyCommand(
        "mediatask.cli.providers",
        "List the installed providers, their operations and capabilities, and whether a key is "
        "set.",
    ),
    "run": LazyCommand(
        "mediatask.cli.run", "Submit a job, follow it to the end, and download its outputs."
    ),
    "status": LazyCommand(
        "mediatask.cli.tasks",
        "Ask the provider once for the state of the task HANDLE (PROVIDER:TASK_ID).",
    ),
    "submit": LazyCommand(
        "mediatask.cli.run",
        "Submit a job and print its handle (PROVIDER:TASK_ID) at once, without waiting.",
    ),
    "wait": LazyCommand(
        "mediatask.cli.tasks",
        "Wait quietly until the task HANDLE ends; print its outputs (exit 1 if it failed).",
    ),
    "watch": LazyCommand(
        "mediatask.cli.tasks",
        "Print each change of the task HANDLE until it ends (exit 1 if it failed).",
    ),
}
"""Every command: the module that defines it (imported on first use) and its one-line help."""


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
    from mediatask.plugins import PluginLoadWarning, PluginManager

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


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="mediatask")
@click.option("-v", "--verbose", count=True, help="Log each HTTP exchange (keys redacted).")
def cli(verbose: int) -> None:
    """Run jobs on asynchronous AI media APIs: one model, one engine, one CLI.

    \b
    Examples:
      mediatask providers
      mediatask run a1d image-upscaler --input photo.png -p scale=4 -o out --sandbox
      mediatask submit a1d remove-bg --input https://example.com/cat.jpg
      mediatask wait a1d:task_abc123 && mediatask download a1d:task_abc123 -o out
      mediatask batch jobs.jsonl -o out --concurrency 16
      mediatask keys set a1d
    """
    if verbose:
        logging.basicConfig(
            handlers=[_log_handler()],
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(name)s: %(message)s",
        )
        logging.getLogger("mediatask.http").setLevel(logging.DEBUG)


def _log_handler() -> logging.Handler:
    """On a terminal, log through rich so lines print above a live display; else plain lines."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        return RichHandler(console=stderr_console(), show_time=False, show_path=False, markup=False)
    return logging.StreamHandler(sys.stderr)


def main() -> None:
    """The ``mediatask`` console script."""
    cli(prog_name="mediatask")


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--json`` flag every command that prints data has."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(
        function
    )


def sandbox_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--sandbox`` flag: run against in-process emulators."""
    return click.option(
        "--sandbox",
        is_flag=True,
        help=f"Use in-process emulators (task seconds: ${SANDBOX_SECONDS_ENV}).",
    )(function)


def out_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``-o/--out`` option of commands that download outputs."""
    return click.option(
        "-o",
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="Where to write the outputs.",
    )(function)


def key_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--key`` option: the provider's key for this command, above env and key store."""
    return click.option(
        "--key",
        default=None,
        metavar="KEY",
        help="API key for this command (beats the environment and the key store; "
        "other local users may see it in the process list: prefer `mediatask keys set`).",
    )(function)


def stderr_console() -> Console:
    """A rich console on stderr (progress, logs); honours ``NO_COLOR``."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    """A rich console on stdout (tables)."""
    from rich.console import Console

    return Console(highlight=False)
