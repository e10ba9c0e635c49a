"""When to poll: a schedule learned from how long an operation's tasks have taken.

Each :class:`Client` keeps one :class:`Durations` per (provider, operation). A task followed by
polling asks :meth:`Durations.next_poll` how long to wait; with enough durations seen, the
answer comes from a plan that polls densely where tasks usually finish and sparsely before
(:func:`plan_polls`); before that (a cold start), and for a task slower than any seen, the
waits grow geometrically from :attr:`PollPolicy.initial`.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence

import attrs

from mediatask.engine.policy import PollPolicy

MIN_SAMPLES = 4
"""Durations needed before the plan replaces the cold-start back-off."""
WINDOW = 64
"""How many recent durations are kept per operation (older tasks say less about the next)."""
MAX_GRID = 200
"""The plan considers at most this many poll times, so planning stays cheap for long tasks."""


def plan_polls(
    durations: Sequence[float], *, request_cost: float, step: float, max_gap: float
) -> tuple[float, ...]:
    """Poll times (seconds after submit) that minimise, over tasks taking ``durations``,
    the expected detection delay plus ``request_cost`` seconds for each request.

    Poll times are multiples of ``step`` (widened so that at most :data:`MAX_GRID` are
    considered), at most ``max_gap`` apart, the last one at or after the longest duration.
    Dynamic programming over the grid: ``cost[i]`` is the least expected cost still to pay by
    the tasks not finished at grid time ``i``, when a poll is made there.
    """
    ordered = sorted(max(d, 0.0) for d in durations)
    if not ordered:
        return ()
    step = max(step, ordered[-1] / MAX_GRID, 1e-3)
    last = max(1, math.ceil(ordered[-1] / step))
    times = [i * step for i in range(last + 1)]
    finished = [bisect.bisect_right(ordered, t) for t in times]  # tasks done by each time
    total = [0.0]
    for d in ordered:
        total.append(total[-1] + d)
    reach = max(1, int(max_gap / step))
    cost = [0.0] * (last + 1)
    choice = [last] * (last + 1)
    for i in range(last - 1, -1, -1):
        pending = len(ordered) - finished[i]
        best = math.inf
        for j in range(i + 1, min(last, i + reach) + 1):
            caught = finished[j] - finished[i]
            delay = times[j] * caught - (total[finished[j]] - total[finished[i]])
            candidate = request_cost * pending + delay + cost[j]
            if candidate < best:
                best, choice[i] = candidate, j
        cost[i] = best
    polls: list[float] = []
    i = 0
    while i < last:
        i = choice[i]
        polls.append(times[i])
    return tuple(polls)


@attrs.define
class Durations:
    """The recent durations of one provider's operation, and the poll plan they imply."""

    policy: PollPolicy
    _seen: deque[float] = attrs.field(init=False, factory=lambda: deque(maxlen=WINDOW))
    _plan: tuple[float, ...] = attrs.field(init=False, default=())
    _stale: int = attrs.field(init=False, default=0)
    """Durations added since the plan was made."""

    def add(self, seconds: float) -> None:
        """Record that a task took ``seconds`` from submit to its final state."""
        self._seen.append(max(seconds, 0.0))
        self._stale += 1

    @property
    def count(self) -> int:
        """How many durations are held."""
        return len(self._seen)

    def plan(self) -> tuple[float, ...]:
        """The current poll plan (empty until :data:`MIN_SAMPLES` durations are known).

        Remade once an eighth of the window is new, so a long batch does not replan per task.
        """
        if len(self._seen) < MIN_SAMPLES:
            return ()
        if not self._plan or self._stale * 8 >= len(self._seen):
            self._plan = plan_polls(
                list(self._seen),
                request_cost=self.policy.request_cost,
                step=self.policy.minimum,
                max_gap=self.policy.maximum,
            )
            self._stale = 0
        return self._plan

    def next_poll(self, age: float, previous_wait: float | None) -> float:
        """Seconds to wait before the next poll of a task submitted ``age`` seconds ago.

        ``previous_wait`` is the wait before the last poll (``None`` before the first one);
        it drives the geometric back-off used before anything is learned and past the plan.
        """
        policy = self.policy
        plan = self.plan()
        upcoming = bisect.bisect_right(plan, age + policy.minimum / 2)
        if upcoming < len(plan):
            return plan[upcoming] - age
        if plan:
            # Slower than any task seen: poll again soon, then back off in proportion to how
            # far past the plan the task is. Backing off from the last gap instead (which, for
            # a plan of one poll, is the whole time since the submit) would make a task a bit
            # slower than the plan wait as long again, and teach the plan that wait.
            overshoot = age - plan[-1]
            return min(max(overshoot * (policy.factor - 1), policy.minimum), policy.maximum)
        if previous_wait is None:
            return max(policy.initial - age, policy.minimum)
        return policy.next_interval(max(previous_wait, policy.minimum), changed=False)
