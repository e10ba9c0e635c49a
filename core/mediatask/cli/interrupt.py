"""Running a trio program from a command so that Ctrl-C cancels it cleanly, within a second."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import trio

T = TypeVar("T")


@attrs.define
class Interrupted:
    """Set when Ctrl-C (SIGINT) or SIGTERM cancelled the run."""

    signal_name: str


def run_cancellable(main: Callable[[], Awaitable[T]]) -> T | Interrupted:
    """Run ``main`` under trio; SIGINT/SIGTERM cancel it and return :class:`Interrupted`.

    Cancellation reaches every task, including blocked HTTP reads, so the command can report
    what it was doing (e.g. the task id) instead of dying with a traceback.
    """

    async def supervised() -> T | Interrupted:
        outcome: list[T | Interrupted] = []
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        outcome.append(Interrupted(signal.Signals(signum).name))
                        nursery.cancel_scope.cancel()
                        return

            async def work() -> None:
                outcome.append(await main())
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            nursery.start_soon(work)
        return outcome[0]

    return trio.run(supervised)
