"""What one command's shared options said: a typed holder, one per invocation, in ``ctx.obj``.

Options such as ``--key``, ``--max-in-flight``, ``--file-host`` or ``-q`` are read far from the
command that takes them: by the client a command opens
(:func:`~mediatask.cli.session.open_cli_client`), by the error display, by the journal a job is
recorded in. Their click callbacks leave each value in its field here, as click parses them, so
that reader finds it typed and named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import click

if TYPE_CHECKING:
    from mediatask.engine.policy import RetryPolicy


def _ceilings(given: Mapping[str, int] | Iterable[tuple[str, int]]) -> dict[str, int]:
    """``--max-in-flight``'s ``(PROVIDER, N)`` pairs as a dict (a later one wins)."""
    return dict(given)


@attrs.define
class CommandOptions:
    """The shared options of one invocation, filled in by their click callbacks.

    Mutable because click sets options one at a time while it parses; after that only
    ``file_host`` is written again (cleared when no job of the command needs one).
    """

    quiet: bool = False
    """``-q/--quiet``: no progress display, stdout only the results."""
    logging: bool = False
    """``-v`` has set up logging (given before and after the command, it is set up once)."""
    key: str | None = None
    """``--key``: scrubbed from errors and logs."""
    stdin_copy: str | None = None
    """``-i -``: the path of the temporary copy of standard input (errors say "standard input")."""
    no_log: bool = False
    """``--no-log``: the command does not write to the user's journal."""
    max_in_flight: dict[str, int] = attrs.field(factory=dict, converter=_ceilings)
    """``--max-in-flight PROVIDER=N``: ceilings on each provider's tasks in flight."""
    retry: RetryPolicy | None = None
    """``--retry-budget``: how long a failing request is retried (``None``: the default)."""
    follow: str | None = None
    """``--follow``: ``auto``, ``stream`` or ``poll`` (``None``: the client's default)."""
    file_host: str | None = None
    """``--file-host`` (or ``$MEDIATASK_FILE_HOST``), unless no job of the command needs one."""
    operation: str | None = None
    """``--operation`` of the handle commands: the task's operation, for providers that need it."""


def command_options(ctx: click.Context | None = None) -> CommandOptions:
    """The options of the command running in ``ctx`` (default: the current one), made on first
    use; sub-contexts made after that share it (click hands a context's object down, not up);
    outside a command, an empty one."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    if ctx is None:
        return CommandOptions()
    return ctx.ensure_object(CommandOptions)


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What ``click.option(...)`` returns: it adds the option to the command it decorates."""


def kept_in(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A click callback that keeps an option's value, when given, in ``field`` of the
    invocation's :class:`CommandOptions`."""
    if field not in attrs.fields_dict(CommandOptions):
        raise AttributeError(f"CommandOptions has no field {field!r}")

    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:
            setattr(command_options(ctx), field, value)

    return keep


def remembered_option(*decls: str, field: str, **kw: Any) -> Decorator:
    """An option the command does not take as an argument: its value, when given, is kept in
    ``field`` of the invocation's :class:`CommandOptions`, for whoever reads it later."""
    return click.option(*decls, expose_value=False, callback=kept_in(field), **kw)


def flag_option(*decls: str, help: str, **kw: Any) -> Decorator:
    """An on/off flag the command takes as a ``bool`` argument."""
    return click.option(*decls, is_flag=True, help=help, **kw)


def count_option(*decls: str, minimum: int, default: int, help: str) -> Decorator:
    """A whole number option of at least ``minimum`` (its default shown in ``--help``)."""
    return click.option(
        *decls, type=click.IntRange(minimum), default=default, show_default=True, help=help
    )
