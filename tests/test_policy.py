"""Timing policy under virtual time: back-off, polling cadence, rate windows."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from mediatask.policy import (
    PollPolicy,
    RateLimiter,
    RetryPolicy,
    parse_rate_limit_reset,
    rate_limit_pause,
)


async def _send(limiter: RateLimiter, latency: float, times: list[float]) -> None:
    async with limiter.request():
        times.append(trio.current_time())
        await trio.sleep(latency)


async def test_rate_limiter_keeps_every_window(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(((4, 1.0), (10, 60.0)))
    times: list[float] = []
    for _ in range(12):
        await _send(limiter, 0.0, times)
    for i in range(len(times)):
        assert sum(1 for t in times if times[i] <= t < times[i] + 1.0) <= 4
        assert sum(1 for t in times if times[i] <= t < times[i] + 60.0) <= 10
    assert times[3] == 0  # the first four go at once
    assert times[4] == pytest.approx(1.0)
    assert times[10] == pytest.approx(60.0)  # the minute window holds the eleventh back


async def test_a_window_counts_from_the_answer_so_delays_cannot_crowd_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The provider counts a request somewhere between our send and its answer: the next
    window's worth waits for a full window after the answer, not after the send."""
    limiter = RateLimiter(((2, 1.0),))
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(_send, limiter, 0.25, times)
    assert times == pytest.approx([0.0, 0.0, 1.25, 1.25])


async def test_an_answer_slower_than_count_within_is_logged_at_that_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(((1, 1.0),), count_within=0.5)
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_send, limiter, 10.0, times)  # a long synchronous edit
        await trio.sleep(0.1)
        nursery.start_soon(_send, limiter, 0.0, times)
    assert times == pytest.approx([0.0, 1.5])


async def test_pause_holds_requests(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(((100, 1.0),))
    limiter.pause(30)
    async with limiter.request():
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


def test_rate_limit_reset_reads_the_first_number() -> None:
    assert parse_rate_limit_reset({"ratelimit-reset": "32"}) == 32
    assert parse_rate_limit_reset({"x-ratelimit-reset": "1, 60;w=60"}) == 1
    assert parse_rate_limit_reset({"ratelimit-reset": "-3"}) == 0
    assert parse_rate_limit_reset({"ratelimit-reset": "soon"}) is None
    assert parse_rate_limit_reset({}) is None
