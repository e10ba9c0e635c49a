"""Deadlines: how long some work may take, for the library (``run(timeout=)``), the commands
(``--timeout``) and batches (``--timeout`` per job), and the words that say one passed.

A deadline is a trio cancel scope around the work, so it ends every wait at once (a poll, a
retry's back-off, the rate limiter), as Ctrl-C does. Only a submit already on the wire finishes
first, so that its task handle is known.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import attrs
import trio

from mediatask.engine.client import Client
from mediatask.model.errors import MediataskError
from mediatask.model.values import TaskRef

T = TypeVar("T")

CANCEL_SECONDS = 30.0
"""How long asking the provider to cancel a task that outran its deadline may take."""


@attrs.frozen
class Deadline:
    """How long some work may take, and what to do with its task when that time has passed."""

    seconds: float | None = None
    """``None``: no deadline."""
    cancel: bool = False
    """Cancel the task at the provider when the deadline passes (where the provider can)."""

    def start(self) -> Countdown:
        """Run a ``with`` block under this deadline, from now: its work is cancelled when it
        passes, and the :class:`Countdown` tells afterwards whether it did."""
        return Countdown(
            self, trio.move_on_after(math.inf if self.seconds is None else self.seconds)
        )

    @property
    def timed_out(self) -> str:
        """``timed out after 1m30s``: how every message about a passed deadline begins."""
        return f"timed out after {human(self.seconds or 0.0)}"


@attrs.frozen
class Countdown:
    """A started :class:`Deadline` (a context manager): the time left, and whether it passed."""

    deadline: Deadline
    scope: trio.CancelScope

    def __enter__(self) -> Countdown:
        self.scope.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return self.scope.__exit__(kind, error, traceback)

    def remaining(self) -> float:
        """Seconds left before the deadline passes (``inf`` without one; never below 0)."""
        return max(self.scope.deadline - trio.current_time(), 0.0)

    @property
    def expired(self) -> bool:
        """True once the deadline passed and ended the work."""
        return self.scope.cancelled_caught


@attrs.frozen
class TimedOut:
    """What some work under a deadline ends with when the deadline passed."""

    deadline: Deadline
    task: TaskRef | None
    """The task, when it had been submitted."""
    canceled: str | None = None
    """What the provider said to the cancel request (``Deadline.cancel``), or why it could not
    cancel."""


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
    with deadline.start() as countdown:
        return await work()
    assert countdown.expired  # noqa: S101  # the work returned otherwise
    known = task()
    canceled = None
    if deadline.cancel and known is not None:
        canceled = await _cancel_in_words(client, known)
    return TimedOut(deadline, known, canceled)


async def ask_to_cancel(client: Client, task: TaskRef) -> str:
    """Ask the provider to cancel ``task``; what it said.

    :raises trio.TooSlowError: when it did not answer within :data:`CANCEL_SECONDS`.
    :raises MediataskError: when it could not cancel the task.
    """
    with trio.fail_after(CANCEL_SECONDS):
        return await client.cancel(task)


async def _cancel_in_words(client: Client, task: TaskRef) -> str:
    """What became of ``task`` when asked to cancel it, in words."""
    goes_on = f"{task.handle} goes on at the provider"
    try:
        return await ask_to_cancel(client, task)
    except MediataskError as exc:
        return f"could not cancel it ({exc}): {goes_on}"
    except trio.TooSlowError:
        return f"{task.provider} did not take the cancel within {CANCEL_SECONDS:.0f}s: {goes_on}"


def human(seconds: float) -> str:
    """``90`` → ``1m30s``: a duration as the user would write it."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9 or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
