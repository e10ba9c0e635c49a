"""The updates a client has seen without asking: bounded, so a long process does not grow.

A submit answer that is already final (a Claid edit, an A1D ``FINISHED``), a provider's list of
tasks, or a journal's record each tell a task's state before anyone polls it. The client keeps
that update until the task is followed (then it is dropped: the follower has it) and at most
:data:`KNOWN_LIMIT` of them, forgetting the oldest first. Forgetting one costs a poll, never a
result: only an update nobody followed for that long is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from mediatask.model.values import Update

KNOWN_LIMIT = 10_000
"""The most tasks whose unasked-for update one client keeps (a few MB at most)."""


@attrs.define
class KnownUpdates:
    """Task handle to the latest update seen without asking; the oldest go beyond ``limit``."""

    limit: int = KNOWN_LIMIT
    _updates: OrderedDict[str, Update] = attrs.field(init=False, factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._updates)

    def get(self, handle: str) -> Update | None:
        """The update kept for ``handle``, if any."""
        return self._updates.get(handle)

    def keep(self, handle: str, update: Update) -> None:
        """Keep ``update`` as the latest of ``handle``, forgetting the oldest beyond the limit."""
        self._updates[handle] = update
        self._updates.move_to_end(handle)
        while len(self._updates) > self.limit:
            self._updates.popitem(last=False)

    def drop(self, handle: str) -> None:
        """Forget ``handle``'s update (its task has been followed)."""
        self._updates.pop(handle, None)
