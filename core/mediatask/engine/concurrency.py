"""How many tasks a provider takes at once, learned from its answers rather than guessed.

Providers rarely document how many tasks an account may have in flight, and the limit changes
with plans and load. Each :class:`Client` keeps one :class:`AdaptiveLimit` per provider and
key, used as ``async with client.slot(provider):`` around a job: the limit grows while the
provider accepts submits (by one per accepted submit until the first refusal, then by about one
per round of tasks) and falls when it refuses one with 429 or 503 (to a fraction of the tasks
it had accepted from us at that moment): additive increase, multiplicative decrease.
"""

from __future__ import annotations

import hashlib
import math

import attrs
import trio

INITIAL_LIMIT = 4.0
"""Tasks in flight before the provider has answered anything; it grows from there at once."""
BACKOFF = 0.8
"""A refusal sets the limit to this fraction of the tasks the provider then held for us."""


@attrs.frozen
class SlotStatistics:
    """What an :class:`AdaptiveLimit` holds right now (trio's ``statistics()`` habit)."""

    in_flight: int
    """Jobs holding a slot."""
    accepted: int
    """Of those, the ones whose submit the provider accepted."""
    limit: int
    """How many may hold a slot at once, as learned so far."""
    waiting: int
    peak: int
    """The most jobs that ever held a slot at once."""
    refusals: int


@attrs.define
class AdaptiveLimit:
    """The slots of one provider and key: ``async with limit:`` holds one for a job.

    :meth:`accepted` and :meth:`refused` are the provider's answers to a submit made while
    holding a slot; the client calls them.
    """

    ceiling: int | None = None
    """Never more than this many at once (``--max-in-flight``, or a documented limit)."""
    _limit: float = attrs.field(init=False, default=INITIAL_LIMIT)
    _threshold: float = attrs.field(init=False, default=math.inf)
    """Below it the limit grows by one per accepted submit (slow start), above by 1/limit."""
    _holders: dict[trio.lowlevel.Task, bool] = attrs.field(init=False, factory=dict)
    """Each job holding a slot, and whether its submit was accepted."""
    _lot: trio.lowlevel.ParkingLot = attrs.field(init=False, factory=trio.lowlevel.ParkingLot)
    _peak: int = attrs.field(init=False, default=0)
    _refusals: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self.ceiling is not None:
            self._limit = min(self._limit, float(self.ceiling))

    @property
    def limit(self) -> int:
        """How many jobs may hold a slot at once now."""
        return max(1, math.floor(self._limit))

    async def __aenter__(self) -> None:
        task = trio.lowlevel.current_task()
        if task in self._holders:
            raise RuntimeError("this trio task already holds a slot of this provider")
        await trio.lowlevel.checkpoint_if_cancelled()
        if len(self._holders) < self.limit and not self._lot:
            self._hold(task)
            await trio.lowlevel.cancel_shielded_checkpoint()  # a schedule point, as trio's own
        else:
            await self._lot.park()  # woken by _wake holding a slot already, in arrival order

    async def __aexit__(self, *exc_info: object) -> None:
        del self._holders[trio.lowlevel.current_task()]
        self._wake()

    def accepted(self) -> None:
        """The provider holds a task for the current job (a submit accepted, or a task resumed):
        grow if every slot is in use. Once per holder."""
        task = trio.lowlevel.current_task()
        if task not in self._holders or self._holders[task]:
            return
        self._holders[task] = True
        if len(self._holders) < self.limit:
            return  # not using what we have: no evidence that more would be taken
        step = 1.0 if self._limit < self._threshold else 1.0 / self._limit
        self._limit += step
        if self.ceiling is not None:
            self._limit = min(self._limit, float(self.ceiling))
        self._wake()

    def refused(self) -> None:
        """The provider refused a submit (429, 503): hold fewer of its tasks at once."""
        self._refusals += 1
        held = sum(self._holders.values())
        target = max(1.0, held * BACKOFF)
        if target < self._limit:
            self._limit = self._threshold = target

    def statistics(self) -> SlotStatistics:
        """A snapshot of the slots, for tests, displays and benchmarks."""
        return SlotStatistics(
            in_flight=len(self._holders),
            accepted=sum(self._holders.values()),
            limit=self.limit,
            waiting=len(self._lot),
            peak=self._peak,
            refusals=self._refusals,
        )

    def _hold(self, task: trio.lowlevel.Task) -> None:
        self._holders[task] = False
        self._peak = max(self._peak, len(self._holders))

    def _wake(self) -> None:
        """Hand the free slots to the jobs waiting longest (they hold them when they wake, so
        a job arriving meanwhile cannot take them: each waiter parks once)."""
        room = self.limit - len(self._holders)
        if room > 0 and self._lot:
            for task in self._lot.unpark(count=room):
                self._hold(task)


def key_label(key: str | None) -> str:
    """A short digest naming a key without holding it (limits are per provider and key)."""
    if not key:
        return ""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@attrs.define
class Slots:
    """One :class:`AdaptiveLimit` per provider and key, with the ceilings the caller set."""

    ceilings: dict[str, int] = attrs.field(factory=dict)
    """Per provider name: at most this many tasks in flight (``--max-in-flight``)."""
    _limits: dict[tuple[str, str], AdaptiveLimit] = attrs.field(init=False, factory=dict)

    def get(self, provider: str, key: str | None, documented: int | None) -> AdaptiveLimit:
        """The limit of ``provider`` with ``key``; ``documented``: the provider's own ceiling."""
        label = (provider, key_label(key))
        limit = self._limits.get(label)
        if limit is None:
            bounds = [n for n in (self.ceilings.get(provider), documented) if n is not None]
            limit = self._limits[label] = AdaptiveLimit(min(bounds) if bounds else None)
        return limit
