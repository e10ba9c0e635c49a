"""Timing policy, in one place: retry back-off, polling cadence, request-rate limits.

Every wait is a trio sleep, so a deadline or Ctrl-C ends it at once.
"""

from __future__ import annotations

import collections
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
    """Keeps requests under every window of a provider's limits (e.g. 4 per second, 120 per minute).

    A sliding log of send times, not a token bucket: a bucket lets through up to twice its limit
    in one window, which a provider counting per window answers with 429. A small margin covers
    the difference between our clock and the provider's. :meth:`pause` lets answers correct it
    (a ``RateLimit-Reset`` header, a 429).
    """

    windows: tuple[tuple[int, float], ...]
    """Pairs of (requests, seconds)."""
    margin: float = 0.05
    _sent: collections.deque[float] = attrs.field(init=False, factory=collections.deque)
    _paused_until: float = attrs.field(init=False, default=0.0)
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)

    async def acquire(self) -> None:
        """Wait until one more request may be sent, then count it as sent."""
        async with self._lock:  # first come, first served
            while True:
                now = trio.current_time()
                wait = self._paused_until - now
                for limit, seconds in self.windows:
                    if len(self._sent) >= limit:
                        oldest = self._sent[-limit]
                        wait = max(wait, oldest + seconds * (1 + self.margin) - now)
                if wait <= 0:
                    break
                await trio.sleep(wait)
            self._sent.append(trio.current_time())
            longest = max(limit for limit, _ in self.windows)
            while len(self._sent) > longest:
                self._sent.popleft()

    def pause(self, seconds: float) -> None:
        """Send nothing more for ``seconds`` (e.g. until a rate-limit window resets)."""
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)


def rate_limit_pause(headers: Mapping[str, str]) -> float | None:
    """Seconds to hold off when ``RateLimit-Remaining`` says the window is used up.

    Reads the ``RateLimit-Remaining`` / ``RateLimit-Reset`` headers (IETF draft; ``X-`` prefixed
    forms too). ``None`` when requests may go on.
    """
    for prefix in ("ratelimit-", "x-ratelimit-"):
        remaining = headers.get(prefix + "remaining")
        if remaining is None:
            continue
        try:
            if int(remaining.split(",")[0].split(";")[0].strip()) > 0:
                return None
            reset = float(headers.get(prefix + "reset", "1").split(",")[0].split(";")[0])
        except ValueError:
            return None
        return min(max(reset, 0.0), MAX_RETRY_AFTER)
    return None
