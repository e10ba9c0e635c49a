"""Timing policy under virtual time: back-off, polling cadence, rate windows."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from mediatask.engine.policy import (
    DEFAULT_RETRY_BUDGET,
    MAX_RETRY_AFTER,
    PollPolicy,
    RateLimiter,
    RetryPolicy,
    parse_rate,
    parse_rate_limit_reset,
    parse_rate_policies,
    parse_retry_after,
    rate_limit_pause,
)
from mediatask.model.errors import UsageError
from mediatask.model.values import ProviderInfo
from mediatask.settings.config import Settings


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


def test_waits_are_capped_and_jittered_below_the_cap() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=30, jitter=0.25)
    delays = [policy.delay(12, rng=random.Random(seed)) for seed in range(50)]  # noqa: S311
    assert all(22.5 <= delay <= 30 for delay in delays)
    assert len(set(delays)) > 1  # not in step


async def test_the_budget_ends_retries_by_time_not_by_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = RetryPolicy(budget=600, base_delay=0.5, max_delay=30, jitter=0).start()
    while backoff.stop_reason() is None:  # noqa: ASYNC110  # the back-off schedule under test
        await trio.sleep(backoff.next_delay())
    assert trio.current_time() == pytest.approx(600)  # the last wait is cut to the budget
    assert backoff.attempts > 20


def test_the_default_budget_outlasts_an_outage_of_minutes() -> None:
    assert RetryPolicy().budget == DEFAULT_RETRY_BUDGET >= 5 * 60


async def test_a_retry_after_beyond_the_cap_stops_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = RetryPolicy().start()
    reason = backoff.stop_reason(retry_after=3600)
    assert reason is not None
    assert "3600s" in reason
    assert RetryPolicy().start().stop_reason(retry_after=MAX_RETRY_AFTER) is None


async def test_a_retry_after_beyond_the_budget_left_stops_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backoff = RetryPolicy(budget=60).start()
    assert backoff.stop_reason(retry_after=30) is None
    await trio.sleep(backoff.next_delay(30))
    assert backoff.stop_reason(retry_after=31) is not None


async def test_budget_zero_never_retries(autojump_clock: trio.testing.MockClock) -> None:
    assert RetryPolicy(budget=0).start().stop_reason() is not None


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "120"}) == 120
    assert parse_retry_after({"retry-after": "Tue, 01 Jan 2030 12:01:30 GMT"}, now=now) == 90
    assert parse_retry_after({"retry-after": "Tue, 01 Jan 2030 11:00:00 GMT"}, now=now) == 0
    assert parse_retry_after({"retry-after": "3600"}) == 3600  # not capped: the caller decides
    assert parse_retry_after({"retry-after": "later"}) is None
    assert parse_retry_after({}) is None


def test_a_long_rate_limit_reset_pauses_at_most_the_cap() -> None:
    assert parse_rate_limit_reset({"ratelimit-reset": "3600"}) == 3600
    headers = {"ratelimit-remaining": "0", "ratelimit-reset": "3600"}
    assert rate_limit_pause(headers) == MAX_RETRY_AFTER


def test_the_windows_an_answer_lists_are_read() -> None:
    """Claid's form: the quota in effect, then each policy as ``n;w=seconds``."""
    claid = {"ratelimit-limit": "120, 120;w=60, 4;w=1", "ratelimit-remaining": "118"}
    assert parse_rate_policies(claid) == ((4, 1.0), (120, 60.0))
    assert parse_rate_policies({"ratelimit-policy": "30;w=60, 1;w=1"}) == ((1, 1.0), (30, 60.0))
    assert parse_rate_policies({"ratelimit-limit": "120"}) is None  # names no window
    assert parse_rate_policies({"ratelimit-limit": "x;w=y, 0;w=1"}) is None
    assert parse_rate_policies({}) is None


def test_rates_as_people_write_them() -> None:
    assert parse_rate("1/s,30/min") == ((1, 1.0), (30, 60.0))
    assert parse_rate("120/60s, 4/sec") == ((4, 1.0), (120, 60.0))
    assert parse_rate("1000/hour,5000/days") == ((1000, 3600.0), (5000, 86400.0))
    assert parse_rate("none") == ()
    for wrong in ("4/1", "fast", "0/s", "1/0s", "1/parsec", ""):
        with pytest.raises(UsageError, match=r"e\.g\. 1/s,30/min"):
            parse_rate(wrong)


async def test_learned_windows_narrow_the_pace(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(((4, 1.0), (120, 60.0)))
    limiter.learn(((1, 1.0), (30, 60.0)))
    times: list[float] = []
    for _ in range(3):
        await _send(limiter, 0.0, times)
    assert times == pytest.approx([0.0, 1.0, 2.0])


async def test_learned_windows_widen_at_once_for_a_waiting_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A request waiting on the old, narrower window goes as soon as an answer proves more."""
    limiter = RateLimiter(((1, 60.0),))
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        await _send(limiter, 0.0, times)
        nursery.start_soon(_send, limiter, 0.0, times)
        await trio.sleep(5)
        limiter.learn(((4, 1.0), (120, 60.0)))
    assert times == pytest.approx([0.0, 5.0])


def test_a_providers_rate_comes_from_the_settings_its_variable_or_its_declaration() -> None:
    info = ProviderInfo("acme", "Acme", "https://acme.test", "Bearer", (), rate_limits=((4, 1),))
    assert Settings(environ={}).rate_limits(info) == ((4, 1.0),)
    environ = {"MEDIATASK_ACME_RATE": "1/s,30/min"}
    assert Settings(environ=environ).rate_limits(info) == ((1, 1.0), (30, 60.0))
    assert Settings(environ={"MEDIATASK_ACME_RATE": "none"}).rate_limits(info) == ()
    chosen = Settings(environ=environ, rates={"acme": ((2, 1.0),)})
    assert chosen.rate_limits(info) == ((2, 1.0),)
    with pytest.raises(UsageError, match="MEDIATASK_ACME_RATE: 'fast' is not a rate"):
        Settings(environ={"MEDIATASK_ACME_RATE": "fast"}).rate_limits(info)
