"""Deadlines for the commands that wait (``run``, ``wait``, ``watch``): ``--timeout``,
``--cancel-on-timeout``, and the exit status that says the deadline passed.

The deadline itself is :mod:`mediatask.engine.deadline`'s, as the library's and a batch's.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from mediatask.engine.deadline import Deadline, TimedOut
from mediatask.model.errors import UsageError
from mediatask.model.parsing import parse_duration

TIMEOUT_EXIT = 124
"""Exit status when ``--timeout`` passed, as ``timeout(1)`` uses."""


class Duration(click.ParamType[float]):
    """A click parameter type for :func:`~mediatask.model.parsing.parse_duration` (``90``,
    ``5m``…)."""

    name = "duration"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Seconds, or a one-line usage error."""
        if isinstance(value, int | float):
            return float(value)
        if self.allow_zero and str(value).strip().rstrip("s") in ("0", "0.0"):
            return 0.0
        try:
            return parse_duration(str(value))
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


def timeout_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--timeout DURATION`` and ``--cancel-on-timeout``; the command receives ``deadline``."""
    command = function

    @functools.wraps(command)
    def merged(*args: Any, timeout: float | None, cancel_on_timeout: bool, **kw: Any) -> Any:
        if cancel_on_timeout and timeout is None:
            raise click.UsageError("--cancel-on-timeout needs --timeout")
        return command(*args, deadline=Deadline(timeout, cancel_on_timeout), **kw)

    function = click.option(
        "--cancel-on-timeout",
        is_flag=True,
        help="When --timeout passes, cancel the task at the provider (where it can).",
    )(merged)
    return click.option(
        "--timeout",
        type=Duration(),
        default=None,
        metavar="DURATION",
        help=f"Give up waiting after this long (90, 30s, 5m, 1h30m); exit {TIMEOUT_EXIT}. "
        "The task goes on at the provider unless --cancel-on-timeout.",
    )(function)


def exit_timed_out(timed_out: TimedOut) -> NoReturn:
    """Say in one line that the deadline passed and what became of the task; exit 124."""
    line = timed_out.deadline.timed_out
    task = timed_out.task
    if task is None:
        line += ": nothing was submitted"
    elif timed_out.canceled is not None:
        line += f"; {timed_out.canceled}"
    else:
        line += (
            f": {task.handle} goes on at the provider; collect it later with "
            f"`mediatask download {task.handle}`"
        )
    click.echo(line, err=True)
    sys.exit(TIMEOUT_EXIT)
