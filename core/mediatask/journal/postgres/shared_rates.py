"""A rate log shared by every worker of a ledger: one provider's request windows, for all of them.

Each request of a *scope* (a provider and key digest) is admitted against one log, one worker at
a time (an advisory lock for the transaction), and logged at the latest moment the provider can
have counted it; a pause (a 429, a reset header) holds every worker back. Used by
:mod:`mediatask.batch.shared_limits`, off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from mediatask.journal.postgres.connection import NOW, Connection


@attrs.frozen
class Admission:
    """The ledger's answer to one more request of a scope (:meth:`SharedRates.admit`)."""

    entry: int | None
    """The request's log entry, or ``None``: it does not fit yet."""
    wait: float = 0.0
    """Seconds until it can fit, on what the log knows now."""
    exact: bool = False
    """The wait rests only on answered requests (and pauses): no answer can shorten it, so the
    caller may sleep all of it instead of asking again sooner."""


@attrs.define
class SharedRates:
    """The rate logs and pauses of a shared ledger, read and written through ``db``."""

    db: Connection

    def admit(
        self, scope: str, windows: Sequence[tuple[int, float]], count_within: float
    ) -> Admission:
        """Log one more request of ``scope`` if it fits every window now, for every worker.

        One worker at a time decides for a scope. Each request is logged at the latest moment
        the provider can have counted it (now plus ``count_within``, lowered to its answer's time
        by :meth:`answered`). A request not admitted learns how long to wait and whether that
        wait is exact: a request still in flight is counted at its upper bound, and its answer
        may free room sooner, but a request answered is counted at its answer's time for good
        (any answer still to come is later than every answer already logged, so it cannot move
        the room that frees first).
        """
        with self.db.atomic():
            self.db.locked(scope)
            now = self._now()
            longest = max(seconds for _, seconds in windows)
            self.db.execute(
                "DELETE FROM rate_log WHERE scope = ? AND counted_at <= ?", (scope, now - longest)
            )
            wait = self._wait(scope, windows, now)
            if wait.wait > 0:
                return wait
            row = self.db.one(
                "INSERT INTO rate_log (scope, counted_at) VALUES (?, ?) RETURNING id",
                (scope, now + count_within),
            )
            return Admission(int(row["id"]) if row else 0)

    def _now(self) -> float:
        row = self.db.one(f"SELECT {NOW} AS now")  # the clock is ours
        return float(row["now"]) if row else 0.0

    def _wait(self, scope: str, windows: Sequence[tuple[int, float]], now: float) -> Admission:
        """How long a request of ``scope`` must wait at ``now`` (its pause, and the room each
        window frees first), as a refusal; a wait of 0 when it fits."""
        paused = self.db.one("SELECT until FROM rate_pause WHERE scope = ?", (scope,))
        wait = Admission(None, float(paused["until"]) - now if paused else 0.0, exact=True)
        latest = self.db.rows(
            "SELECT counted_at, answered FROM rate_log WHERE scope = ? "
            "ORDER BY counted_at DESC LIMIT ?",
            (scope, max(limit for limit, _ in windows)),
        )
        for limit, seconds in windows:
            if len(latest) >= limit:
                wait = _later(wait, latest[limit - 1], seconds - now)
        return wait

    def answered(self, entry: int) -> None:
        """The request logged as ``entry`` got its answer: it was counted by now at the latest."""
        self.db.execute(
            f"UPDATE rate_log SET counted_at = LEAST(counted_at, {NOW}), answered = true "  # noqa: S608
            "WHERE id = ?",
            (entry,),
        )

    def pause(self, scope: str, seconds: float) -> None:
        """No worker sends a request of ``scope`` for ``seconds`` (a 429, a reset header)."""
        self.db.execute(
            f"INSERT INTO rate_pause (scope, until) VALUES (?, {NOW} + ?) "  # noqa: S608
            "ON CONFLICT (scope) DO UPDATE SET until = GREATEST(rate_pause.until, EXCLUDED.until)",
            (scope, seconds),
        )


def _later(wait: Admission, counted: Mapping[str, Any], after: float) -> Admission:
    """``wait``, or the wait until the room ``counted`` holds frees (``after`` seconds past its
    count) when that is later: exact when that request was answered."""
    free = float(counted["counted_at"]) + after
    return Admission(None, free, bool(counted["answered"])) if free > wait.wait else wait
