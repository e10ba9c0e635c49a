"""A limit on tasks in progress per API key: a submit beyond it is answered 429 + Retry-After.

Real providers cap how many tasks an account may have queued or running, mostly without saying
how many; this knob lets the engine's adaptive concurrency be tested against one. A provider
emulator calls :meth:`Emulator.busy` in its submit handler, before charging anything; tasks it
then creates count against the caller's key until they are final.
"""

from __future__ import annotations

from contextvars import ContextVar

import attrs

from mediatask.emulator.tasks import EmulatedTask

_caller: ContextVar[str] = ContextVar("mediatask_emulator_caller", default="")
"""The key of the submit being handled (set by :meth:`TaskLimit.refuses`, read on creation)."""


def caller_key(authorization: str) -> str:
    """The key part of an ``Authorization`` header (``SCHEME KEY``, or a bare key)."""
    return authorization.strip().rpartition(" ")[2]


@attrs.define
class TaskLimit:
    """At most ``max_in_progress`` unfinished tasks per key (``None``: no limit)."""

    max_in_progress: int | None = None
    retry_after: float = 1.0
    """Seconds sent in ``Retry-After`` with a refusal."""
    peak: int = 0
    """The most tasks one key has had in progress at once."""
    _tasks: dict[str, list[EmulatedTask]] = attrs.field(init=False, factory=dict)

    def in_progress(self, key: str) -> int:
        """How many of ``key``'s tasks are not final yet."""
        tasks = [task for task in self._tasks.get(key, []) if not task.state.is_final]
        self._tasks[key] = tasks
        return len(tasks)

    def refuses(self, authorization: str) -> bool:
        """Whether a submit with this ``Authorization`` must be refused (the key is at its limit).

        Remembers the key for the tasks the submit goes on to create.
        """
        key = caller_key(authorization)
        _caller.set(key)
        limit = self.max_in_progress
        return limit is not None and self.in_progress(key) >= limit

    def track(self, task: EmulatedTask) -> None:
        """Count ``task`` against the key of the submit that created it."""
        key = _caller.get()
        self._tasks.setdefault(key, []).append(task)
        self.peak = max(self.peak, self.in_progress(key))
