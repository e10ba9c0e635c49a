"""Ctrl-C in a command: exit 130 with one line, never a traceback, at any moment.

Inside a trio run (:func:`run_cancellable`) SIGINT and SIGTERM cancel the run, so every task
ends cleanly within a second (the shielded bytes of a submit on the wire excepted). Outside one
(imports, reading a manifest, printing a summary) :func:`exit_130_on_ctrl_c` ends the command.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, TypeVar

import attrs

if TYPE_CHECKING:
    import trio

T = TypeVar("T")

INTERRUPTED_STATUS = 130
"""The exit status of a command ended by Ctrl-C (128 + SIGINT), as shells report it."""


@attrs.define
class Interrupted:
    """Set when Ctrl-C (SIGINT) or SIGTERM cancelled the run."""

    signal_name: str


class _CtrlC(BaseException):
    """Ctrl-C outside a trio run; not a KeyboardInterrupt, which click turns into exit 1."""


def _raise_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise _CtrlC


@contextlib.contextmanager
def exit_130_on_ctrl_c() -> Iterator[None]:
    """Run a command so that Ctrl-C outside :func:`run_cancellable` exits 130 with one line."""
    previous = signal.signal(signal.SIGINT, _raise_ctrl_c)
    try:
        yield
    except (_CtrlC, KeyboardInterrupt):
        print("\ninterrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_STATUS)
    finally:
        signal.signal(signal.SIGINT, previous)


def run_cancellable(main: Callable[[], Awaitable[T]]) -> T | Interrupted:
    """Run ``main`` under trio; SIGINT/SIGTERM cancel it and return :class:`Interrupted`.

    Cancellation reaches every task, including blocked HTTP reads, so the command can report
    what it was doing (e.g. the task id) instead of dying with a traceback. The signals are
    caught before ``main`` starts and until everything has ended: a second Ctrl-C while the
    tasks wind down is ignored rather than raised in the middle of a journal write.
    """
    import trio

    async def supervised() -> T | Interrupted:
        outcome: list[T | Interrupted] = []
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch, signals, outcome, nursery.cancel_scope)

                async def work() -> None:
                    outcome.append(await main())
                    nursery.cancel_scope.cancel()

                nursery.start_soon(work)
        return outcome[0]

    # trio turns Ctrl-C into KeyboardInterrupt at a checkpoint only when it finds Python's own
    # handler; that covers the moments before the receiver above is open.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return trio.run(supervised)
    except KeyboardInterrupt:
        return Interrupted(signal.SIGINT.name)
    finally:
        signal.signal(signal.SIGINT, previous)


async def _watch(
    signals: AsyncIterator[int],
    outcome: list[T | Interrupted],
    scope: trio.CancelScope,
) -> None:
    async for signum in signals:
        outcome.append(Interrupted(signal.Signals(signum).name))
        scope.cancel()
        return
