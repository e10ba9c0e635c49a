"""Deadlines for the commands that wait (``run``, ``wait``, ``watch``): ``--timeout``,
``--cancel-on-timeout``, and the exit status that says the deadline passed.

A deadline is a trio cancel scope around the command's work, so it ends every wait at once (a
poll, a retry's back-off, the rate limiter), as Ctrl-C does. Only a submit already on the wire
finishes first, so that its task handle is known.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import attrs
import click
import trio

from mediatask.engine.client import Client
from mediatask.model.errors import MediataskError, UsageError
from mediatask.model.parsing import parse_duration
from mediatask.model.values import TaskRef

T = TypeVar("T")

TIMEOUT_EXIT = 124
"""Exit status when ``--timeout`` passed, as ``timeout(1)`` uses."""
CANCEL_SECONDS = 30.0
"""How long ``--cancel-on-timeout`` waits for the provider to take the cancel request."""


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


@attrs.frozen
class Deadline:
    """How long a command may wait, and what to do with its task when that time has passed."""

    seconds: float | None = None
    """``None``: no deadline."""
    cancel: bool = False
    """Cancel the task at the provider when the deadline passes (where the provider can)."""


@attrs.frozen
class TimedOut:
    """What a command ends with when its deadline passed."""

    deadline: Deadline
    task: TaskRef | None
    """The task, when it had been submitted."""
    canceled: str | None = None
    """What the provider said to ``--cancel-on-timeout``, or why it could not."""


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


async def within(
    deadline: Deadline,
    client: Client,
    task: Callable[[], TaskRef | None],
    work: Callable[[], Awaitable[T]],
) -> T | TimedOut:
    """Run ``work`` under ``deadline``; :class:`TimedOut` (after any cancel) if it passes.

    :param task: the task as far as it is known when the deadline passes (``None`` before the
        submit got its answer).
    """
    if deadline.seconds is None:
        return await work()
    with trio.move_on_after(deadline.seconds):
        return await work()
    known = task()
    canceled = None
    if deadline.cancel and known is not None:
        canceled = await _cancel(client, known)
    return TimedOut(deadline, known, canceled)


async def _cancel(client: Client, task: TaskRef) -> str:
    """What became of ``task`` when asked to cancel it, in words."""
    goes_on = f"{task.handle} goes on at the provider"
    with trio.move_on_after(CANCEL_SECONDS):
        try:
            return await client.cancel(task)
        except MediataskError as exc:
            return f"could not cancel it ({exc}): {goes_on}"
    return f"{task.provider} did not take the cancel within {CANCEL_SECONDS:.0f}s: {goes_on}"


def exit_timed_out(timed_out: TimedOut) -> NoReturn:
    """Say in one line that the deadline passed and what became of the task; exit 124."""
    seconds = timed_out.deadline.seconds or 0.0
    line = f"timed out after {_human(seconds)}"
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


def _human(seconds: float) -> str:
    """``90`` → ``1m30s``: a duration as the user would write it."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9 or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
