"""A worker's coordination statements, off the event loop, on a connection of their own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import attrs
import trio

from mediatask.journal.backend import reconnecting
from mediatask.journal.postgres.journal import PostgresJournal

T = TypeVar("T")

CLOSE_WAIT_SECONDS = 0.5
"""How long closing an :class:`OffLoop` waits for a statement abandoned by a cancelled caller."""


@attrs.define
class OffLoop:
    """A worker's coordination statements, run in a thread on a connection of their own.

    Claims, lease renewals and shared-limit admissions are asked for often; on the event loop, a
    slow database would hold every stream, download and Ctrl-C for as long as each round trip.
    Here a cancelled caller is let go at once (``abandon_on_cancel``): the statement finishes in
    its thread, and the next waits for it (a thread lock, not a trio one, so an abandoned
    statement still keeps its transaction to itself). A statement abandoned after it committed
    leaves what a worker killed at that moment would: a claim held until its lease runs out, or
    a rate-log entry for a request never sent (counted until ``count_within`` passes).
    """

    ledger: PostgresJournal
    """The connection the statements run on (:meth:`PostgresJournal.sibling`)."""
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    async def run(self, call: Callable[[PostgresJournal], T]) -> T:
        """``call(ledger)`` in a thread, one at a time; cancellable at any moment.

        While the ledger cannot be reached, ``call`` is tried again (on a new connection) with
        back-off (:func:`~mediatask.journal.backend.reconnecting`).
        """

        def locked() -> T:
            with self._lock:
                return call(self.ledger)

        return await reconnecting(lambda: trio.to_thread.run_sync(locked, abandon_on_cancel=True))

    @property
    def busy(self) -> bool:
        """True while a statement runs (or hangs, abandoned by its caller) on the connection."""
        return self._lock.locked()

    def close(self) -> None:
        """Close the connection once no statement runs on it; one abandoned and still running
        after :data:`CLOSE_WAIT_SECONDS` keeps it (the process's end closes it)."""
        if self._lock.acquire(timeout=CLOSE_WAIT_SECONDS):  # libpq: one thread per connection
            try:
                self.ledger.close()
            finally:
                self._lock.release()
