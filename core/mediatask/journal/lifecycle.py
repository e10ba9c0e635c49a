"""A job's lifecycle, owned here once: its states, every move between them and why, and what a
re-run decides to do with a job.

In the spirit of h11's ``_state.py``: :data:`MOVES` lists each :class:`Event`, the states it may
happen in and the state it leads to. The journal writes a job's state only through :func:`move`
(see :meth:`mediatask.journal.backend.JournalBackend._update`), so every path — ``run``,
``submit``, ``wait``, ``download``, a batch, a worker — moves a job the same way, and a move the
table does not allow raises :class:`IllegalMoveError` instead of being recorded.

:func:`decide` is what a re-run does with a journalled job: a pure function of the record and
the options; the caller applies its effects (a reset, an uncertain mark) apart from deciding.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping

import attrs

from mediatask.model.errors import (
    MediataskError,
    NotFoundError,
    ResultExpiredError,
    TaskFailedError,
)


class JobState(enum.Enum):
    """Where a job stands in the journal."""

    PENDING = "pending"
    """Known, never submitted."""
    SUBMITTING = "submitting"
    """The submit request is (or was) under way; after a crash this means uncertain."""
    SUBMITTED = "submitted"
    """The provider gave a task handle; follow it, never submit again."""
    SUCCEEDED = "succeeded"
    """The task succeeded and its outputs were downloaded."""
    FAILED = "failed"
    """No task is alive: the provider failed or canceled it, or refused (or never got) the job."""
    EXPIRED = "expired"
    """The task succeeded but its result link expired before the outputs were saved."""
    UNFINISHED = "unfinished"
    """The task exists but following or downloading it failed here: a re-run follows it again."""
    TIMED_OUT = "timed-out"
    """The task outran the batch's ``--timeout``: a re-run follows it again."""
    UNCERTAIN = "uncertain"
    """A submit may or may not have created a task: check before submitting again."""
    LOST = "lost"
    """The provider no longer knows the task (deleted, expired, or a fresh sandbox)."""

    @property
    def is_final(self) -> bool:
        """True when a re-run leaves the job alone unless asked otherwise."""
        return self in _FINAL

    @property
    def is_open(self) -> bool:
        """True while no run has finished (or given up on) the job: pending, or its submit or
        task under way."""
        return self in _OPEN

    @property
    def task_may_be_alive(self) -> bool:
        """True when a task may exist at the provider that has not ended there."""
        return self in _ALIVE

    @property
    def shown(self) -> str:
        """The word a summary uses: a job found ``submitting`` after its run is uncertain."""
        return JobState.UNCERTAIN.value if self is JobState.SUBMITTING else self.value


_FINAL = frozenset(
    (JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED, JobState.UNCERTAIN, JobState.LOST)
)
_OPEN = frozenset((JobState.PENDING, JobState.SUBMITTING, JobState.SUBMITTED))
_ALIVE = frozenset(
    (
        JobState.SUBMITTING,
        JobState.SUBMITTED,
        JobState.UNFINISHED,
        JobState.TIMED_OUT,
        JobState.UNCERTAIN,
    )
)
_FOLLOWED = frozenset((JobState.SUBMITTED, JobState.UNFINISHED, JobState.TIMED_OUT))
"""A task was created and is being (or is to be) followed."""


class Event(enum.Enum):
    """Something that happens to a job; its value is the kind its history line gets."""

    SEND = "submitting"
    UNSENT = "unsent"
    ACCEPTED = "submitted"
    DOWNLOADED = "downloaded"
    FAIL = "failed"
    EXPIRE = "expired"
    INTERRUPT = "unfinished"
    TIME_OUT = "timed-out"
    DOUBT = "uncertain"
    LOSE = "lost"
    RESUBMIT = "reset"
    FOLLOW_AGAIN = "follow-again"


class IllegalMoveError(MediataskError):
    """An internal error: a job was to move in a way the lifecycle does not allow (a bug, never
    the user's input)."""


@attrs.frozen
class Move:
    """One allowed move: from any of ``sources``, the event leads to ``to``."""

    sources: frozenset[JobState]
    to: JobState
    why: str


def _m(sources: Iterable[JobState], to: JobState, why: str) -> Move:
    return Move(frozenset(sources), to, why)


S = JobState
MOVES: Mapping[Event, Move] = {
    Event.SEND: _m(
        [S.PENDING, S.SUBMITTING],
        S.SUBMITTING,
        "the submit goes on the wire, recorded first with its marker (again after an attempt "
        "that certainly never reached the provider, e.g. a stale kept-alive connection)",
    ),
    Event.UNSENT: _m(
        [S.SUBMITTING], S.PENDING, "the submit was stopped before it was sent: no task exists"
    ),
    Event.ACCEPTED: _m(
        [S.SUBMITTING, S.UNCERTAIN],
        S.SUBMITTED,
        "the provider answered with a task, or an uncertain job's task was found in its list",
    ),
    Event.DOWNLOADED: _m(
        [*_FOLLOWED, S.SUCCEEDED, S.EXPIRED, S.LOST, S.FAILED],
        S.SUCCEEDED,
        "the task's outputs were saved (again, for a download on request)",
    ),
    Event.FAIL: _m(
        [S.PENDING, S.SUBMITTING, *_FOLLOWED, S.UNCERTAIN, S.FAILED],
        S.FAILED,
        "refused before (or at) its submit, or the provider failed or canceled its task",
    ),
    Event.EXPIRE: _m(
        [*_FOLLOWED, S.SUCCEEDED, S.EXPIRED],
        S.EXPIRED,
        "the task succeeded but its result link expired before the outputs were saved",
    ),
    Event.INTERRUPT: _m(
        _FOLLOWED,
        S.UNFINISHED,
        "following or downloading the task failed here: the task (or its result) is still there",
    ),
    Event.TIME_OUT: _m(_FOLLOWED, S.TIMED_OUT, "the task outran the batch's --timeout"),
    Event.DOUBT: _m(
        [S.SUBMITTING, S.UNCERTAIN],
        S.UNCERTAIN,
        "no answer to its submit was read: a task may or may not exist",
    ),
    Event.LOSE: _m(
        [*_FOLLOWED, S.SUCCEEDED, S.LOST], S.LOST, "the provider no longer knows the task"
    ),
    Event.RESUBMIT: _m(
        [S.FAILED, S.EXPIRED, S.LOST, S.UNCERTAIN, *_ALIVE, S.PENDING],
        S.PENDING,
        "submitted again on request (or its task died with an earlier sandbox)",
    ),
    Event.FOLLOW_AGAIN: _m(_FOLLOWED, S.SUBMITTED, "a re-run follows its task again"),
}
"""Every allowed move, by the event that makes it."""
del S

_ENDS: Mapping[JobState, Event] = {
    MOVES[event].to: event
    for event in (
        Event.DOWNLOADED,
        Event.FAIL,
        Event.EXPIRE,
        Event.INTERRUPT,
        Event.TIME_OUT,
        Event.DOUBT,
        Event.LOSE,
    )
}
"""The event that ends a job in each state a job can end in."""
_RESETS: Mapping[JobState, Event] = {
    JobState.PENDING: Event.RESUBMIT,
    JobState.SUBMITTED: Event.FOLLOW_AGAIN,
}


def move(event: Event, current: JobState | None = None) -> Move:
    """The move ``event`` makes; checked against ``current`` when it is given.

    :raises IllegalMoveError: ``event`` may not happen in ``current``.
    """
    allowed = MOVES[event]
    if current is not None and current not in allowed.sources:
        raise illegal(event, current)
    return allowed


def illegal(event: Event, current: JobState) -> IllegalMoveError:
    """The error for ``event`` happening to a job in ``current``."""
    return IllegalMoveError(f"a {current.value} job cannot move by {event.name.lower()}")


def ending(state: JobState) -> Event:
    """The event that ends a job in ``state`` (``failed``, ``uncertain``, ``unfinished``…).

    :raises IllegalMoveError: a job does not end in ``state``.
    """
    try:
        return _ENDS[state]
    except KeyError:
        raise IllegalMoveError(f"a job does not end {state.value}") from None


def resetting(state: JobState) -> Event:
    """The event that puts a job back to ``state`` (pending, or submitted to follow again).

    :raises IllegalMoveError: a job is not put back to ``state``.
    """
    try:
        return _RESETS[state]
    except KeyError:
        raise IllegalMoveError(f"a job is not put back to {state.value}") from None


def after_following(exc: MediataskError, *, downloading: bool, expired: bool = False) -> JobState:
    """Where a job whose task exists ends when following (or, ``downloading``, saving the
    outputs of) its task raised ``exc``; the same on every path.

    :param expired: the download failed because the result link expired.
    """
    if downloading:
        gone = expired or isinstance(exc, ResultExpiredError)
        return JobState.EXPIRED if gone else JobState.UNFINISHED  # the task succeeded
    if isinstance(exc, TaskFailedError):
        return JobState.FAILED
    if isinstance(exc, NotFoundError):
        return JobState.LOST
    return JobState.UNFINISHED


def diagram() -> str:
    """The state diagram (Mermaid), written from :data:`MOVES`."""
    lines = ["stateDiagram-v2", "    [*] --> pending"]
    for event, allowed in MOVES.items():
        for source in sorted(allowed.sources, key=_order):
            lines.append(f"    {_node(source)} --> {_node(allowed.to)}: {event.value}")
    return "\n".join(lines)


def moves_table() -> str:
    """The moves as a Markdown table: event, from, to, why."""
    rows = ["| event | from | to | why |", "| --- | --- | --- | --- |"]
    for event, allowed in MOVES.items():
        sources = ", ".join(s.value for s in sorted(allowed.sources, key=_order))
        rows.append(f"| {event.value} | {sources} | {allowed.to.value} | {allowed.why} |")
    return "\n".join(rows)


def _order(state: JobState) -> int:
    return list(JobState).index(state)


def _node(state: JobState) -> str:
    return state.value.replace("-", "_")


# -- deciding -----------------------------------------------------------------------------------


class Action(enum.Enum):
    """What a batch run does with one job."""

    SUBMIT = "submit"
    FOLLOW = "follow"
    SETTLE = "settle"
    """Look the uncertain job's task up in the provider's list first."""
    SKIP = "skip"


@attrs.frozen
class Wants:
    """What a re-run was asked to do again (the batch's flags)."""

    retry_failed: bool = False
    rerun_expired: bool = False
    resubmit_lost: bool = False
    resubmit_uncertain: bool = False
    fresh_provider: bool = False
    """Its provider keeps no task from an earlier run (a fresh sandbox)."""


@attrs.frozen
class Decision:
    """What to do with a job, and what to record first (applied by the caller)."""

    action: Action
    reset: str | None = None
    """Put the job back to pending first, for this reason."""
    interrupted: bool = False
    """Record the job uncertain first: it was found ``submitting`` (its run was stopped)."""
    on_request: bool = False
    """The reset was asked for by a flag: the job's history must allow it (no outputs saved,
    no task left alive) — else the job is skipped."""
    risky: bool = False
    """The reset may pay twice (an uncertain job): the user is told before it is done."""


def decide(state: JobState, wants: Wants, *, can_settle: Callable[[], bool]) -> Decision:
    """What a re-run does with a job journalled in ``state``: a pure function of the state, the
    wants and what ``can_settle`` says.

    :param can_settle: whether its provider can look an uncertain job's task up by its marker
        (asked only of an uncertain job).
    """
    if state is JobState.PENDING:
        return Decision(Action.SUBMIT)
    if wants.fresh_provider and (state.task_may_be_alive or state is JobState.LOST):
        return Decision(
            Action.SUBMIT, reset="its task died with an earlier sandbox: submitting again"
        )
    if state in _FOLLOWED:
        return Decision(Action.FOLLOW)
    if state is JobState.SUBMITTING:
        then = decide(JobState.UNCERTAIN, wants, can_settle=can_settle)
        return attrs.evolve(then, interrupted=True)
    if state is JobState.UNCERTAIN:
        if can_settle():
            return Decision(Action.SETTLE)
        return unsettled(wants)
    wanted = {
        JobState.FAILED: wants.retry_failed,
        JobState.EXPIRED: wants.rerun_expired,
        JobState.LOST: wants.resubmit_lost,
    }
    if wanted.get(state, False):
        reason = f"submitting a {state.value} job again on request"
        return Decision(Action.SUBMIT, reset=reason, on_request=True)
    return Decision(Action.SKIP)


def unsettled(wants: Wants) -> Decision:
    """An uncertain job whose task was not found (or cannot be looked for)."""
    if wants.resubmit_uncertain:
        reason = "submitting an uncertain job again on request"
        return Decision(Action.SUBMIT, reset=reason, risky=True)
    return Decision(Action.SKIP)
