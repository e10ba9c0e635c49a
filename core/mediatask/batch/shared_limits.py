"""Rate limits shared by every worker of a ledger that uses the same key.

A provider's request-rate windows (all of them at once, e.g. Claid's 4 per second and 120 per
minute) are per key at the provider, so N workers using one key must together stay within what
one would: each request is admitted against one log in the shared PostgreSQL ledger
(:meth:`~mediatask.journal.postgres.shared_rates.SharedRates.admit`, run off the event loop), kept
per provider and key. The key is named there by a short digest
(:func:`~mediatask.engine.concurrency.key_label`), never itself.
A 429 or an exhausted ``RateLimit-Remaining`` pauses every worker, not only the one that saw it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import attrs
import trio

from mediatask.engine.concurrency import key_label
from mediatask.engine.sending import Throttle
from mediatask.journal.postgres import LedgerError, OffLoop, PostgresJournal
from mediatask.journal.postgres.shared_rates import Admission, SharedRates
from mediatask.model.values import ProviderInfo
from mediatask.settings.config import Settings

RECHECK_SECONDS = 0.05
"""The longest a waiting request sleeps before asking the ledger again while room depends on a
request still in flight (another worker's answer may free it sooner than its upper bound)."""


@attrs.define
class SharedRateLimiter:
    """Keeps requests of one provider and key under its windows, across every worker."""

    rates: SharedRates
    """Where answers and pauses are written (quick, and due even when cancelled)."""
    side: OffLoop
    """Where admissions are asked for, off the event loop."""
    scope: str
    """``PROVIDER:KEY-DIGEST``."""
    windows: tuple[tuple[int, float], ...]
    count_within: float = 0.5
    """Seconds after sending by which a provider is assumed to have counted a request."""
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _answered: trio.Event = attrs.field(init=False, factory=trio.Event)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait until one more request fits every window, for all workers; held while sent.

        A wait that rests on answered requests is slept whole (the room frees exactly then);
        one that rests on a request in flight is cut short by this worker's own next answer,
        and asked again after :data:`RECHECK_SECONDS` for another worker's.
        """
        async with self._lock:  # first come, first served within this worker
            while True:
                answered = self._answered  # taken before asking: an answer meanwhile counts
                admission = await self.side.run(self._admit)
                if admission.entry is not None:
                    break
                if admission.exact:
                    await trio.sleep(admission.wait)
                    continue
                with trio.move_on_after(min(admission.wait, RECHECK_SECONDS)):
                    await answered.wait()
        try:
            yield
        finally:
            with contextlib.suppress(LedgerError):  # else counted until count_within passes
                self.rates.answered(admission.entry)
            self._answered.set()
            self._answered = trio.Event()

    def _admit(self, ledger: PostgresJournal) -> Admission:
        return ledger.rates.admit(self.scope, self.windows, self.count_within)

    def pause(self, seconds: float) -> None:
        """No worker sends a request of this provider and key for ``seconds`` (skipped when the
        ledger cannot be written: the provider's next refusal asks again)."""
        with contextlib.suppress(LedgerError):
            self.rates.pause(self.scope, seconds)

    def learn(self, windows: tuple[tuple[int, float], ...]) -> None:
        """Ask the ledger with ``windows`` from now on: each worker learns the account's
        windows from its own answers, and every admission checks the one shared log."""
        if windows:
            self.windows = windows


def shared_throttles(
    ledger: PostgresJournal, side: OffLoop, settings: Settings
) -> Callable[[ProviderInfo], Throttle]:
    """What makes each provider's rate limiter for a client working on ``ledger`` (admissions
    asked for through ``side``)."""

    def make(info: ProviderInfo) -> Throttle:
        scope = f"{info.name}:{key_label(settings.key(info))}"
        return SharedRateLimiter(ledger.rates, side, scope, info.rate_limits)

    return make
