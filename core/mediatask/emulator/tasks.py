"""Emulated tasks: their state, how it changes over time, and how watchers follow it."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import trio


def _frozen_fields(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


class Phase(enum.Enum):
    """Where an emulated task is; each provider emulator names these in its own words."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WorkError(Exception):
    """Raised by a task's work when the task (not the emulator) fails, e.g. an unreadable input.

    The message becomes the task's error, as the provider would report it.
    """


@attrs.frozen
class Produced:
    """One file a task produced, published under ``/storage/<key>`` when the task completes."""

    key: str
    """Storage key, e.g. ``processed/task_1a2b.png``."""
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    mime_type: str


@attrs.frozen
class WorkResult:
    """What a task's work hands back: files to publish and the provider's result fields."""

    files: tuple[Produced, ...] = ()
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_fields, hash=False)
    """Provider-specific fields of the final answer (result URLs, duration, ...)."""


@attrs.frozen
class TaskState:
    """One observable state of a task: what a poll or a stream event reports."""

    phase: Phase
    progress: int | None = None
    """Percent done (0-100) while running, else ``None``."""
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_fields, hash=False)
    """Result fields, set when the task succeeded."""
    error: str | None = None
    """Why the task failed, when it did."""

    @property
    def is_final(self) -> bool:
        """True once the task succeeded or failed; nothing changes after that."""
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)


@attrs.define
class EmulatedTask:
    """One task held by an emulator. Changed only from trio tasks of the emulator's run."""

    task_id: str
    operation: str
    created_at: float
    """Submission time on the emulator clock."""
    will_fail: bool = False
    """Decided at submit from ``Faults.failure_rate``."""
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_fields, hash=False)
    """Whatever the provider emulator wants to remember about the request."""
    state: TaskState = attrs.field(factory=lambda: TaskState(Phase.QUEUED))
    finished_at: float | None = None
    """Completion time on the emulator clock, once final."""
    version: int = 0
    """Bumped on every change, so watchers can tell whether they have seen the latest state."""
    _changed: trio.Event = attrs.field(factory=trio.Event, repr=False)

    def update(self, state: TaskState, *, now: float | None = None) -> None:
        """Move to ``state`` and wake every watcher; ``now`` records completion when final."""
        if self.state.is_final:
            raise RuntimeError(f"task {self.task_id} is already final")
        self.state = state
        if state.is_final:
            self.finished_at = now
        self.version += 1
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    async def states(self) -> AsyncGenerator[TaskState, None]:
        """Yield the current state, then each later one, ending after the final state.

        States that change faster than the consumer reads are coalesced to the latest.
        """
        while True:
            seen, state, changed = self.version, self.state, self._changed
            yield state
            if state.is_final:
                return
            if self.version == seen:
                await changed.wait()
