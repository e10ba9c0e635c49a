"""The command group and what every command shares: error display, plugin loading, options."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mediatask.cli.lazy import LazyCommand, LazyGroup
from mediatask.cli.options import command_options, flag_option, kept_in, remembered_option
from mediatask.model.errors import MediataskError, leaves
from mediatask.model.redact import RedactingFilter, Redactor, one_line
from mediatask.settings.config import Settings
from mediatask.settings.keys import KeyStoreWarning, exposed

if TYPE_CHECKING:
    from rich.console import Console

    from mediatask.providers.manager import PluginManager

# What is imported here is paid by every command, `--help` included: rich, the plugin manager
# and the engine are imported inside the functions that need them.

SANDBOX_SECONDS_ENV = "MEDIATASK_SANDBOX_SECONDS"
"""How long each emulated task takes with ``--sandbox`` (default: the emulator's own)."""
QUICK_RETRY_BUDGET = 20.0
"""Seconds a one-question command (status, cancel, list, credits) retries a failing request
by default: it answers promptly, saying what the provider last answered."""

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
        "mediatask.cli.emulate",
        "Serve PROVIDER's emulated API on HOST:PORT until Ctrl-C; with --all, every provider's.",
    ),
    "install": LazyCommand(
        "mediatask.cli.install",
        "Install packages (plugins) into mediatask's own environment, with its pip.",
    ),
    "jobs": LazyCommand(
        "mediatask.cli.jobs", "The local journal: jobs recorded by run, submit and batch."
    ),
    "keys": LazyCommand(
        "mediatask.cli.keys",
        "Store provider keys (file mode 0600 under your mediatask folder, or $MEDIATASK_HOME).",
    ),
    "list": LazyCommand(
        "mediatask.cli.account",
        "List PROVIDER's own records of recent tasks (where the provider keeps such a list).",
    ),
    "manifest": LazyCommand(
        "mediatask.cli.manifest",
        "Write a batch manifest: OPERATION of PROVIDER on every image, video or audio file in "
        "FOLDER.",
    ),
    "new-provider": LazyCommand(
        "mediatask.cli.new_provider",
        "Lay out a provider plugin NAME in DIR from the reference plugin.",
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
    "uninstall": LazyCommand(
        "mediatask.cli.install",
        "Remove packages (plugins) from mediatask's own environment, with its pip.",
    ),
    "wait": LazyCommand(
        "mediatask.cli.tasks",
        "Wait quietly until the task HANDLE ends; print its outputs (exit 1 if it failed).",
    ),
    "worker": LazyCommand(
        "mediatask.cli.worker",
        "Work on the jobs of a shared ledger until none is open; run one per machine or more.",
    ),
    "watch": LazyCommand(
        "mediatask.cli.tasks",
        "Print each change of the task HANDLE until it ends (exit 1 if it failed).",
    ),
}
"""Every command: the module that defines it (imported on first use) and its one-line help."""


class CommandError(click.ClickException):
    """A one-line error of a command (exit 1), with the type of the library error behind it."""

    def __init__(self, message: str, kind: str = "UsageError") -> None:
        super().__init__(message)
        self.kind = kind


def error_json(exc: click.ClickException) -> dict[str, Any]:
    """The object ``--json`` prints on stdout for an error: ``{"error": {"type", "message"}}``."""
    kind = getattr(exc, "kind", "UsageError" if isinstance(exc, click.UsageError) else "Error")
    return {"error": {"type": kind, "message": exc.format_message()}}


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show our own errors as one line (exit 1); anything else is a bug and keeps its traceback."""
    try:
        yield
    except* MediataskError as group:  # matches a bare error too, and errors out of a nursery
        scrub = command_redactor().scrub
        errors = list(leaves(group))
        said = (e.said(flags=True) for e in errors)  # the options they name, as our flags
        messages = dict.fromkeys(_stdin_named(one_line(scrub(text))) for text in said)
        raise CommandError("; ".join(messages), type(errors[0]).__name__) from None


def _stdin_named(message: str) -> str:
    """``message`` with the temporary copy of standard input called what the user typed."""
    copy = command_options().stdin_copy
    return message.replace(copy, "standard input (-i -)") if copy else message


def command_redactor(ctx: click.Context | None = None) -> Redactor:
    """Scrubs this command's keys: ``--key``, the environment's and the key store's."""
    given = command_options(ctx).key
    return Redactor(Settings().secrets() | ({given} if given else set()))


def load_plugins() -> PluginManager:
    """Load the installed plugins; a plugin that fails to load is one warning line on stderr."""
    from mediatask.providers.manager import PluginLoadWarning, PluginManager

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


def _verbose(ctx: click.Context, param: click.Parameter, verbose: int) -> None:
    """``-v``: log each HTTP exchange, keys redacted (``-vv``: everything, at debug level)."""
    if not verbose or command_options(ctx).logging:
        return
    command_options(ctx).logging = True
    handler = _log_handler()
    handler.addFilter(RedactingFilter(lambda: command_redactor(ctx)))
    logging.basicConfig(
        handlers=[handler],
        level=logging.DEBUG if verbose > 1 else logging.INFO,
        format="%(name)s: %(message)s",
    )
    logging.getLogger("mediatask.http.messages").setLevel(logging.DEBUG)


def _common_options() -> list[click.Option]:
    """``-v`` and ``-q``, accepted after any command as well as before it."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            callback=_verbose,
            expose_value=False,
            help="Log each HTTP exchange (keys redacted); -vv for more.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            callback=kept_in("quiet"),
            expose_value=False,
            help="No progress display: stdout has only the results, stderr only errors.",
        ),
    ]


def _share_options(cmd: click.Command) -> None:
    """Give ``cmd`` (not a group) ``-v`` and ``-q``, unless it has options of those names."""
    if not isinstance(cmd, click.Group):
        taken = {opt for param in cmd.params for opt in getattr(param, "opts", ())}
        cmd.params.extend(o for o in _common_options() if not taken & set(o.opts))


class SubGroup(click.Group):
    """A group of subcommands (``jobs``, ``keys``…): each takes ``-v`` and ``-q`` after its name
    too (``mediatask jobs list -q``)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd``, adding the options every command shares."""
        _share_options(cmd)
        super().add_command(cmd, name)


class MediataskGroup(LazyGroup):
    """The command group: each command it registers also takes ``-v`` and ``-q`` after its
    name (``mediatask run ... -v``), unless it already has options of those names."""

    group_class = SubGroup

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd``, adding the options every command shares."""
        _share_options(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; under ``--json`` an error is also a JSON object on stdout."""
        wants_json = "--json" in ctx.args
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if wants_json:
                echo_json(error_json(exc))
            raise


@click.group(
    cls=MediataskGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="mediatask")
def cli() -> None:
    """Run jobs on asynchronous AI media APIs: one model, one engine, one CLI.

    \b
    Examples:
      mediatask providers
      mediatask run a1d image-upscaler --input photo.png -p scale=4 -o out --sandbox
      mediatask submit a1d remove-bg --input https://example.com/cat.jpg
      mediatask wait a1d:task_abc123 && mediatask download a1d:task_abc123 -o out
      mediatask batch jobs.jsonl -o out --concurrency 16
      mediatask keys set a1d
      mediatask run a1d remove-bg --input photo.jpg --dry-run
      _MEDIATASK_COMPLETE=bash_source mediatask > ~/.mediatask-complete.bash
    """
    warnings.simplefilter("ignore", KeyStoreWarning)  # said once, below, as a line with its fix
    for exposure in exposed():
        click.echo(f"warning: {exposure}", err=True)


cli.params.extend(_common_options())  # -v and -q before the command, as after it


def _log_handler() -> logging.Handler:
    """On a terminal, log through rich so lines print above a live display; else plain lines."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        return RichHandler(console=stderr_console(), show_time=False, show_path=False, markup=False)
    return logging.StreamHandler(sys.stderr)


def main() -> None:
    """The ``mediatask`` console script; Ctrl-C at any moment exits 130."""
    from mediatask.cli.interrupt import exit_130_on_ctrl_c

    with exit_130_on_ctrl_c():
        cli(prog_name="mediatask")


json_option = flag_option(
    "--json",
    "as_json",
    help="Print JSON instead of text (errors too: an object with an error key).",
)
"""The ``--json`` flag every command that prints data has."""


no_log_option = remembered_option(
    "--no-log",
    field="no_log",
    is_flag=True,
    help="Do not record this job in your journal (its handle then works only with "
    "commands that need nothing but the handle).",
)
"""``--no-log``: keep this command's job out of the user's journal."""


sandbox_option = flag_option(
    "--sandbox", help=f"Use in-process emulators (task seconds: ${SANDBOX_SECONDS_ENV})."
)
"""The ``--sandbox`` flag: run against in-process emulators."""


def unhelpful_sandbox_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--sandbox`` where it cannot help (a task made by another command): still taken, so
    scripts keep working and the command explains itself, but left out of ``--help``, which
    points to ``mediatask emulate --all``."""
    return click.option("--sandbox", is_flag=True, hidden=True)(function)


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


overwrite_option = flag_option(
    "--overwrite",
    help="Replace output files already there (by default the new file is numbered "
    "NAME-ROLE-2.EXT and nothing is overwritten).",
)
"""``--overwrite``: replace output files already there instead of numbering the new ones."""


class Ceiling(click.ParamType[tuple[str, int]]):
    """A click parameter type for ``PROVIDER=N`` with N at least 1: ``(PROVIDER, N)``."""

    name = "ceiling"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        """``(PROVIDER, N)``, or a one-line usage error."""
        if isinstance(value, tuple):
            return value
        provider, _, number = str(value).partition("=")
        if not provider.strip() or not number.strip().isdigit() or int(number) < 1:
            self.fail(f"{value!r}: write PROVIDER=N with N at least 1, e.g. a1d=8", param, ctx)
        return provider.strip(), int(number)


max_in_flight_option = remembered_option(
    "--max-in-flight",
    field="max_in_flight",
    type=Ceiling(),
    multiple=True,
    metavar="PROVIDER=N",
    help="At most N of PROVIDER's tasks in flight (else learned from its answers); repeatable.",
)
"""The ``--max-in-flight PROVIDER=N`` option: a ceiling on a provider's tasks in flight (read
by :func:`~mediatask.cli.session.open_cli_client`)."""


def _remember_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        command_options(ctx).key = value
    return value


def _retry_budget(*, expose: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    from mediatask.cli.deadline import Duration
    from mediatask.engine.policy import DEFAULT_RETRY_BUDGET, RetryPolicy

    def policy(ctx: click.Context, param: click.Parameter, value: float | None) -> Any:
        chosen = None if value is None else RetryPolicy(budget=value)
        if chosen is not None:
            command_options(ctx).retry = chosen  # read by open_cli_client
        return chosen

    return click.option(
        "--retry-budget",
        "retry",
        type=Duration(allow_zero=True),
        default=None,
        callback=policy,
        expose_value=expose,
        metavar="DURATION",
        help="How long to keep retrying a failing request (polls, downloads, refused "
        f"submits) before giving up; 0 never retries. Default: {DEFAULT_RETRY_BUDGET / 60:g}m "
        f"(status, cancel, list, credits: {QUICK_RETRY_BUDGET:g}s).",
    )


def retry_budget_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--retry-budget DURATION``: how long one request is retried; the command gets ``retry``
    (a :class:`~mediatask.engine.policy.RetryPolicy`, or ``None`` for the default)."""
    return _retry_budget(expose=True)(function)


def budget_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--retry-budget DURATION`` for a command that does not read it itself: the client
    that :func:`~mediatask.cli.session.open_cli_client` makes retries that long."""
    return _retry_budget(expose=False)(function)


follow_option = remembered_option(
    "--follow",
    field="follow",
    type=click.Choice(["auto", "stream", "poll"]),
    default=None,
    help="How to follow tasks: stream (Server-Sent Events) or poll; auto (the default) "
    "streams where the provider can and polls where it cannot.",
)
"""``--follow auto|stream|poll``: how the command follows its tasks (read by
:func:`~mediatask.cli.session.open_cli_client`)."""


def key_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--key`` option: the provider's key for this command, above env and key store."""
    return click.option(
        "--key",
        default=None,
        metavar="KEY",
        callback=_remember_key,
        help="API key for this command (beats the environment and the key store; "
        "other local users may see it in the process list: prefer `mediatask keys set`).",
    )(function)


def is_quiet() -> bool:
    """True under ``-q/--quiet``: print no progress, only results and errors."""
    return command_options().quiet


def output_width() -> int | None:
    """The columns plain output may use on a terminal (one spare, so the terminal never wraps a
    line itself); ``None`` for a pipe or a file (lines whole, for grep and scripts), unless
    ``COLUMNS`` is set."""
    if not (sys.stdout.isatty() or os.environ.get("COLUMNS")):
        return None
    return max(shutil.get_terminal_size().columns - 1, 40)


def fit(text: str, width: int | None, indent: int) -> str:
    """``text`` wrapped between words to ``width`` columns, continued lines indented by
    ``indent``; as it is when ``width`` is ``None`` or it fits."""
    if width is None or len(text) <= width:
        return text
    return textwrap.fill(
        text,
        width,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    )


def stderr_console() -> Console:
    """A rich console on stderr (progress, logs); honours ``NO_COLOR``; silent under ``-q``."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, quiet=is_quiet())


def stdout_console() -> Console:
    """A rich console on stdout (tables)."""
    from rich.console import Console

    return Console(highlight=False)
