"""The emulators' clock: wall time plus an offset that tests can advance."""

from __future__ import annotations

import time

import attrs


@attrs.define
class EmulatorClock:
    """Wall clock plus an offset tests can advance (e.g. to expire results after 24 h).

    Only what the provider would date (completion times, result-link expiry) reads this clock;
    processing still takes real seconds, so advancing it never skips work in progress.
    """

    offset: float = 0.0
    """Seconds added to ``time.time()``; grows with each :meth:`advance`."""

    def now(self) -> float:
        """Return the emulated time, in epoch seconds."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward (never backward)."""
        if seconds < 0:
            raise ValueError(f"the emulator clock only moves forward, got {seconds!r} seconds")
        self.offset += seconds
