"""The emulator's side of Claid's rate limits: sliding windows and the ``RateLimit-*`` headers.

Claid documents "120 requests per minute and 4 requests per second" and headers such as
``RateLimit-Limit: 120, 120;w=60, 4;w=1``, ``RateLimit-Remaining: 118``, ``RateLimit-Reset: 32``.
Whether its windows slide or are fixed is UNKNOWN; the emulator slides them (the stricter choice:
a client that passes a sliding window passes a fixed one too).
"""

from __future__ import annotations

import collections
import math

import attrs


def _windows(value: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
    return tuple((int(n), float(s)) for n, s in value)


@attrs.define
class SlidingWindows:
    """Counts accepted requests per window, on the (monotonic) times the caller gives."""

    windows: tuple[tuple[int, float], ...] = attrs.field(converter=_windows)
    """Pairs of (requests, seconds), e.g. ((4, 1.0), (120, 60.0))."""
    _log: collections.deque[float] = attrs.field(init=False, factory=collections.deque)

    def _in_window(self, seconds: float, now: float) -> list[float]:
        return [t for t in self._log if t > now - seconds]

    def admit(self, now: float) -> bool:
        """Count a request arriving at ``now``; ``False`` (not counted) if a window is full."""
        if any(len(self._in_window(s, now)) >= n for n, s in self.windows):
            return False
        self._log.append(now)
        longest = max((s for _, s in self.windows), default=0.0)
        while self._log and self._log[0] <= now - longest:
            self._log.popleft()
        return True

    def headers(self, now: float, *, refused: bool = False) -> dict[str, str]:
        """The ``RateLimit-*`` headers after the request at ``now`` (``refused``: it got 429)."""
        if not self.windows:
            return {}
        states = []
        for limit, seconds in self.windows:
            times = self._in_window(seconds, now)
            reset = (times[0] + seconds - now) if times else seconds
            states.append((limit - len(times), limit, reset))
        # The vendor's examples show the longest window (120, Remaining 118) normally and the
        # one that ran out (4, in its 429 example) otherwise; a 429 no window explains (an
        # injected one) gets the shortest window's.
        tightest = min(states, key=lambda state: (state[0], -state[2]))
        by_length = sorted(range(len(states)), key=lambda i: self.windows[i][1])
        if tightest[0] <= 0:
            remaining, limit, reset = tightest
        else:
            remaining, limit, reset = states[by_length[0 if refused else -1]]
        if refused:
            remaining = -1  # as the vendor's 429 example shows
        ordered = sorted(self.windows, key=lambda window: -window[1])
        policies = ", ".join(f"{n};w={_number(s)}" for n, s in ordered)
        whole = all(float(s).is_integer() for _, s in self.windows)
        # Claid sends whole seconds; windows shorter than that (tests) need the fraction.
        shown = str(max(1, math.ceil(reset))) if whole else f"{max(reset, 0.001):.3f}"
        return {
            "RateLimit-Limit": f"{limit}, {policies}",
            "RateLimit-Remaining": str(max(remaining, -1)),
            "RateLimit-Reset": shown,
        }


def _number(seconds: float) -> str:
    return f"{seconds:g}"
