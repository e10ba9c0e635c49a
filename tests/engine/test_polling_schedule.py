"""Polling that learns: a simulated provider under virtual time, against fixed-interval pollers.

Tasks finish at seeded random durations; the engine follows them by polling only. Counted:
status requests per task and detection latency (from the moment a task finished to the poll
that saw it), both in virtual time. The fixed pollers (every 0.5 s and every 0.1 s, first poll
one interval after the submit) are computed from the same durations.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import statistics
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

import attrs
import pytest
import trio
import trio.testing

from mediatask import Client, Job, PluginManager, PollPolicy, Settings
from mediatask.engine.schedule import Durations, plan_polls
from mediatask.http.messages import Request, Response
from mediatask.http.transport import Body
from mediatask.model.values import Capabilities
from mediatask.testing import FAKE, FakePlugin, FakeTransport, reply

POLLING_ONLY = attrs.evolve(FAKE, capabilities=Capabilities(stream=False))
JOBS = 300


@attrs.define
class SimulatedProvider(FakeTransport):
    """The fake provider's API as a handler: each task finishes ``duration()`` after submit."""

    duration: Callable[[], float]
    started: dict[str, tuple[float, float]] = attrs.field(factory=dict)
    """Per task id: submit time and duration (virtual seconds)."""
    polls: dict[str, int] = attrs.field(factory=dict)
    latency: dict[str, float] = attrs.field(factory=dict)
    """Per task id: how long after it finished the first poll saw it done."""

    async def respond(self, request: Request) -> Response:
        now = trio.current_time()
        if request.method == "POST":
            task_id = str(len(self.started))
            self.started[task_id] = (now, self.duration())
            return reply(200, {"id": task_id, "state": "queued"})
        task_id = request.url.rsplit("/", 1)[-1]
        self.polls[task_id] = self.polls.get(task_id, 0) + 1
        start, duration = self.started[task_id]
        if now < start + duration:
            return reply(200, {"state": "running"})
        self.latency.setdefault(task_id, now - (start + duration))
        return reply(200, {"state": "done", "url": f"https://cdn.test/{task_id}.png"})

    def open_stream(self, request: Request) -> AbstractAsyncContextManager[Body]:
        raise AssertionError("this provider does not stream")


def fixed_poller(durations: list[float], interval: float) -> tuple[float, float]:
    """Requests per task and p50 detection latency of polling every ``interval`` seconds."""
    polls = [math.ceil(d / interval) for d in durations]
    latency = [n * interval - d for n, d in zip(polls, durations, strict=True)]
    return statistics.mean(polls), statistics.median(latency)


async def run_simulation(duration: Callable[[], float]) -> tuple[SimulatedProvider, list[float]]:
    provider = SimulatedProvider(duration)
    plugins = PluginManager.from_plugins({"fake": FakePlugin(POLLING_ONLY)})
    client = Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "k"}),
        transport=provider,
        clock=lambda: datetime.fromtimestamp(trio.current_time(), UTC),
    )
    jobs = [Job("fake", "draw", params={"prompt": "p"})] * JOBS
    async with client, client.run_many(jobs, concurrency=20) as outcomes:
        assert all([outcome.ok async for outcome in outcomes])
    durations = [d for _, d in provider.started.values()]
    return provider, durations


SPREADS: dict[str, Callable[[random.Random], float]] = {
    "lognormal around 1.5 s, sigma 0.1": lambda rng: rng.lognormvariate(math.log(1.5), 0.1),
    "lognormal around 1.5 s, sigma 0.2": lambda rng: rng.lognormvariate(math.log(1.5), 0.2),
    "uniform 2-2.4 s": lambda rng: rng.uniform(2.0, 2.4),
    "uniform 1-2 s": lambda rng: rng.uniform(1.0, 2.0),
    "uniform 0.5-3 s": lambda rng: rng.uniform(0.5, 3.0),
}


@pytest.mark.parametrize("name", ["lognormal around 1.5 s, sigma 0.1", "uniform 2-2.4 s"])
async def test_learned_polling_beats_fixed_pollers(
    autojump_clock: trio.testing.MockClock, name: str
) -> None:
    rng = random.Random(9)  # noqa: S311  # seeded durations, not secrets
    provider, durations = await run_simulation(functools.partial(SPREADS[name], rng))

    requests = statistics.mean(provider.polls.values())
    latency = statistics.median(provider.latency.values())
    slow_requests, _ = fixed_poller(durations, 0.5)
    _, quick_latency = fixed_poller(durations, 0.1)
    print(
        f"{name}: {requests:.2f} requests/task (0.5 s poller {slow_requests:.2f}), "
        f"p50 latency {latency:.3f} s (0.1 s poller {quick_latency:.3f})"
    )
    assert len(provider.latency) == JOBS
    assert requests <= slow_requests
    assert latency <= 2 * quick_latency


def test_the_plan_polls_densely_where_tasks_finish() -> None:
    durations = [1.0, 1.1, 1.2, 1.3, 1.4] * 4
    plan = plan_polls(durations, request_cost=0.05, step=0.05, max_gap=10)
    assert plan[0] >= 0.9  # nothing to find before the first finish
    assert plan[-1] >= 1.4  # the last poll finds every task seen done
    gaps = [b - a for a, b in itertools.pairwise(plan)]
    assert max(gaps) <= 0.2


def test_cold_start_waits_then_backs_off_and_plans_once_learned() -> None:
    durations = Durations(PollPolicy(initial=0.5, factor=2, maximum=3))
    assert durations.next_poll(0.0, None) == 0.5  # never at once after the submit
    assert durations.next_poll(0.5, 0.5) == 1.0
    assert durations.next_poll(1.5, 2.5) == 3.0
    for seconds in (2.0, 2.1, 2.2, 2.3):
        durations.add(seconds)
    assert 2.0 <= durations.next_poll(0.0, None) <= 2.3  # where tasks finish, not before
    assert durations.next_poll(2.5, 0.1) == pytest.approx(0.2)  # past the plan: back off


def test_a_task_slower_than_the_plan_is_polled_again_soon() -> None:
    durations = Durations(PollPolicy(minimum=0.05, factor=1.5, maximum=10))
    for _ in range(8):
        durations.add(1.0)  # one poll, at 1.0 s
    assert durations.plan() == pytest.approx((1.0,))
    # Not done at 1.0 s: again soon (not 1.5 times the 1 s waited), backing off as it runs late.
    assert durations.next_poll(1.0, 1.0) == pytest.approx(0.05)
    assert durations.next_poll(3.0, 0.05) == pytest.approx(1.0)


def print_table() -> None:
    """The table in docs/architecture.md: ``python tests/engine/test_polling_schedule.py``."""
    for name, spread in SPREADS.items():
        rng = random.Random(9)  # noqa: S311  # seeded durations, not secrets
        clock = trio.testing.MockClock(autojump_threshold=0)
        provider, durations = trio.run(run_simulation, functools.partial(spread, rng), clock=clock)
        cells = [
            (
                statistics.mean(provider.polls.values()),
                statistics.median(provider.latency.values()),
            ),
            fixed_poller(durations, 0.5),
            fixed_poller(durations, 0.1),
        ]
        print(f"| {name} | " + " | ".join(f"{n:.2f} | {s * 1000:.0f} ms" for n, s in cells) + " |")


if __name__ == "__main__":
    print_table()
