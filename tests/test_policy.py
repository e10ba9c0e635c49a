"""Timing policy under virtual time: back-off, polling cadence, rate windows."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from mediatask.policy import PollPolicy, RateLimiter, RetryPolicy, rate_limit_pause


async def test_rate_limiter_keeps_every_window(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(((4, 1.0), (10, 60.0)), margin=0.0)
    times = []
    for _ in range(12):
        await limiter.acquire()
        times.append(trio.current_time())
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] <= t < times[i] + 1.0) <= 4
        assert sum(1 for t in times if times[i] <= t < times[i] + 60.0) <= 10
    assert times[3] == 0  # the first four go at once
    assert times[4] == pytest.approx(1.0)
    assert times[10] == pytest.approx(60.0)  # the minute window holds the eleventh back


async def test_pause_holds_requests(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(((100, 1.0),))
    limiter.pause(30)
    await limiter.acquire()
    assert trio.current_time() == pytest.approx(30)


def test_rate_limit_headers() -> None:
    assert rate_limit_pause({"ratelimit-remaining": "3", "ratelimit-reset": "9"}) is None
    assert rate_limit_pause({"ratelimit-remaining": "0", "ratelimit-reset": "9"}) == 9
    assert rate_limit_pause({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}) == 2
    assert rate_limit_pause({}) is None


def test_retry_delay_grows_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
    assert policy.delay(1, retry_after=12) == 12


def test_polling_slows_while_nothing_changes() -> None:
    policy = PollPolicy(initial=0.5, factor=2, maximum=3)
    assert policy.next_interval(0.5, changed=False) == 1
    assert policy.next_interval(2, changed=False) == 3
    assert policy.next_interval(3, changed=True) == 0.5
