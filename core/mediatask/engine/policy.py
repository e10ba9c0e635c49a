"""Timing policy, in one place: retry back-off, polling cadence, request-rate limits.

Every wait is a trio sleep, so a deadline or Ctrl-C ends it at once.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator

import attrs
import trio

from mediatask.http.headers import (
    MAX_RETRY_AFTER,
    parse_rate_limit_reset,
    parse_rate_policies,
    parse_retry_after,
    rate_limit_pause,
)
from mediatask.model.parsing import parse_rate

__all__ = [
    "DEFAULT_RETRY_BUDGET",
    "MAX_RETRY_AFTER",
    "Backoff",
    "PollPolicy",
    "RateLimiter",
    "RetryPolicy",
    "parse_rate",
    "parse_rate_limit_reset",
    "parse_rate_policies",
    "parse_retry_after",
    "rate_limit_pause",
]

DEFAULT_RETRY_BUDGET = 600.0
"""Seconds one request keeps being retried before its error is final: 10 minutes.

Long enough to ride out what a provider or its CDN typically goes through (a deploy, a failover,
an outage of a few minutes, a burst of 429s) without failing the jobs in flight, and short enough
that a service which is really down ends a job within the time a user waits at a terminal."""


@attrs.frozen
class RetryPolicy:
    """Retries by time, not by count, for requests that are safe to send again.

    Each wait is jittered exponential back-off, capped at ``max_delay`` (so the end of an outage
    is noticed within that long), or what the provider asked for (``Retry-After``,
    ``RateLimit-Reset``). A request keeps being retried until ``budget`` seconds have passed
    since its first failure; ``RetryPolicy(budget=0)`` never retries.
    """

    budget: float = DEFAULT_RETRY_BUDGET
    """Seconds of retrying one request (or one download, while it makes no progress).

    A job's requests follow one another (submit, polls, downloads), so this is also the
    longest stretch of failures a job rides out: 10 minutes by default
    (:data:`DEFAULT_RETRY_BUDGET` says why)."""
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    """Fraction of the delay taken off at random, so that many tasks do not retry in step."""

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``retry_after`` (what the provider asked for) wins, up to :data:`MAX_RETRY_AFTER`.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        capped = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        fraction = rng.random() if rng else random.random()  # noqa: S311  # jitter, not crypto
        return capped * (1 - self.jitter * fraction)

    def start(self) -> Backoff:
        """A fresh retry schedule for one request, its budget counted from its first failure."""
        return Backoff(self)


@attrs.define
class Backoff:
    """One request's retries under a :class:`RetryPolicy`: what to wait, and when to stop."""

    policy: RetryPolicy
    attempts: int = 0
    """Failed attempts so far."""
    _first_failure: float | None = None

    def stop_reason(self, retry_after: float | None = None) -> str | None:
        """Why the failure just seen must be final (one line), or ``None`` to retry.

        Counts the failure: call it once per failed attempt, then :meth:`next_delay`.
        """
        now = trio.current_time()
        if self._first_failure is None:
            self._first_failure = now
        self.attempts += 1
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            return (
                f"asked to wait {retry_after:.0f}s before trying again, more than the "
                f"{MAX_RETRY_AFTER:.0f}s we wait: try again later"
            )
        spent = now - self._first_failure
        budget = self.policy.budget
        if spent >= budget or (retry_after is not None and spent + retry_after > budget):
            tried = "once" if self.attempts == 1 else f"{self.attempts} times over {spent:.0f}s"
            return f"tried {tried}; retry budget {budget:.0f}s"
        return None

    def next_delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt; never past the end of the budget."""
        assert self._first_failure is not None, "stop_reason() counts the failure first"  # noqa: S101
        left = self._first_failure + self.policy.budget - trio.current_time()
        return max(min(self.policy.delay(self.attempts, retry_after=retry_after), left), 0.0)

    def progressed(self) -> None:
        """The request got further than before (a download received bytes): a fresh budget."""
        self.attempts, self._first_failure = 0, None


@attrs.frozen
class PollPolicy:
    """When to poll a task: the knobs of the learned schedule (:mod:`mediatask.engine.schedule`).

    Until a few durations of an operation are known, and for a task slower than any seen, the
    wait starts at ``initial`` and grows by ``factor`` up to ``maximum``; once they are known,
    polls go where tasks usually finish, trading ``request_cost`` against detection delay.
    """

    initial: float = 0.5
    """Seconds from submit to the first poll while nothing is known (never at once)."""
    factor: float = 1.5
    maximum: float = 10.0
    """The longest wait between two polls."""
    minimum: float = 0.05
    """The shortest wait between two polls: how finely the schedule places them."""
    request_cost: float = 0.04
    """Seconds of later detection that one request is worth saving: higher, fewer polls."""

    def next_interval(self, current: float, *, changed: bool) -> float:
        """The wait before the next poll, given the last one and whether the task changed."""
        if changed:
            return self.initial
        return min(current * self.factor, self.maximum)


@attrs.define
class RateLimiter:
    """Keeps requests under every window of a provider's limits (e.g. 4 per second, 120 per minute).

    A sliding log, not a token bucket: a bucket lets through up to twice its limit in one window,
    which a provider counting per window answers with 429. Each request is logged at the latest
    moment the provider can have counted it: when its answer arrived (the provider counted it
    before answering), or ``count_within`` seconds after it was sent if the answer takes longer
    (a slow upload is counted when it arrives, not when its processing ends). Logging send times
    instead would let network and scheduling delays squeeze a fifth request into a provider's
    four-per-second window; this way no delay can, at the price of one round trip per window.
    :meth:`pause` lets answers correct the log (a ``RateLimit-Reset`` header, a 429), and
    :meth:`learn` its windows (the policies a ``RateLimit-Limit`` header lists).
    """

    windows: tuple[tuple[int, float], ...]
    """Pairs of (requests, seconds): the declared or configured ones until answers list the
    account's own."""
    count_within: float = 0.5
    """Seconds after sending by which a provider is assumed to have counted a request."""
    _log: dict[int, float] = attrs.field(init=False, factory=dict)
    """Per request: when the provider counted it at the latest (an upper bound while in flight)."""
    _next_id: int = attrs.field(init=False, default=0)
    _paused_until: float = attrs.field(init=False, default=0.0)
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _answered: trio.Event = attrs.field(init=False, factory=trio.Event)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait until one more request fits every window, and log it while it is in flight."""
        entry = await self._admit()
        try:
            yield
        finally:
            if entry in self._log:  # not yet dropped as older than every window
                self._log[entry] = min(self._log[entry], trio.current_time())
            self._answered.set()
            self._answered = trio.Event()

    def _wait(self, now: float) -> float:
        """Seconds until every window has room (0: now), on what the log knows so far."""
        wait = self._paused_until - now
        latest = sorted(self._log.values(), reverse=True)
        for limit, seconds in self.windows:
            if len(latest) >= limit:
                wait = max(wait, latest[limit - 1] + seconds - now)
        return wait

    async def _admit(self) -> int:
        async with self._lock:  # first come, first served
            while (wait := self._wait(trio.current_time())) > 0:
                with trio.move_on_after(wait):
                    await self._answered.wait()  # an answer may free room early
            now = trio.current_time()
            longest = max(seconds for _, seconds in self.windows)
            for entry in [e for e, t in self._log.items() if t <= now - longest]:
                del self._log[entry]
            entry, self._next_id = self._next_id, self._next_id + 1
            self._log[entry] = now + self.count_within
            return entry

    def pause(self, seconds: float) -> None:
        """Send nothing more for ``seconds`` (e.g. until a rate-limit window resets)."""
        self._paused_until = max(self._paused_until, trio.current_time() + seconds)

    def learn(self, windows: tuple[tuple[int, float], ...]) -> None:
        """Keep to ``windows`` from now on: the account's own, as an answer listed them.

        Narrower windows take effect for the next request; wider ones let waiting requests
        go at once (the answer proves the provider allows them)."""
        if windows and windows != self.windows:
            self.windows = windows
            self._answered.set()  # waiters look at the windows again
            self._answered = trio.Event()
