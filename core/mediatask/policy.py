"""Timing policy, in one place: retry back-off, polling cadence, request-rate limits.

Every wait is a trio sleep, so a deadline or Ctrl-C ends it at once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import attrs
import trio

MAX_RETRY_AFTER = 300.0
"""Longest ``Retry-After`` we honour; a provider asking for more is treated as unavailable."""


@attrs.frozen
class RetryPolicy:
    """Jittered exponential back-off for requests that are safe to send again."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: float = 0.25
    """Fraction of the delay added at random, so that many tasks do not retry in step."""

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        base = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        fraction = rng.random() if rng else random.random()  # noqa: S311  # jitter, not crypto
        return base * (1 + self.jitter * fraction)


@attrs.frozen
class PollPolicy:
    """Adaptive polling: quick at first and after each change, slower while nothing changes."""

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 10.0

    def next_interval(self, current: float, *, changed: bool) -> float:
        """The wait before the next poll, given the last one and whether the task changed."""
        if changed:
            return self.initial
        return min(current * self.factor, self.maximum)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; ``None`` when absent or a date."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


@attrs.define
class RateLimiter:
    """Spaces requests to at most ``per_second`` (a token bucket of size ``burst``).

    Providers can correct it from their answers with :meth:`pause`, e.g. when a ``RateLimit-*``
    header or a 429 says the window is used up.
    """

    per_second: float
    burst: int = 1
    _tokens: float = attrs.field(init=False)
    _updated: float = attrs.field(init=False, default=0.0)
    _paused_until: float = attrs.field(init=False, default=0.0)
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)

    def __attrs_post_init__(self) -> None:
        self._tokens = float(self.burst)

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""
        async with self._lock:  # first come, first served
            now = trio.current_time()
            if self._paused_until > now:
                await trio.sleep_until(self._paused_until)
                now = trio.current_time()
                self._tokens = float(self.burst)
                self._updated = now
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
            self._updated = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.per_second
                await trio.sleep(wait)
                self._tokens = 1.0
                self._updated = trio.current_time()
            self._tokens -= 1

    def pause(self, seconds: float) -> None:
        """Send nothing more for ``seconds`` (e.g. until a rate-limit window resets)."""
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)
