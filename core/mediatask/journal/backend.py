"""What every journal backend shares: the job states, the records, and every statement, once.

A backend (:class:`~mediatask.journal.sqlite.Journal`, a SQLite file;
:class:`~mediatask.journal.postgres.PostgresJournal`, a PostgreSQL database several workers
share) supplies a connection through three small methods; the statements, the states and the
decisions they record are written here once, so the two cannot drift. Statements use ``?``
placeholders; a backend translates them if it must.

No key is ever written here: rows hold jobs, handles, provider status words, our own error
messages (scrubbed of the user's keys) and output URLs and paths.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import attrs
import trio

from mediatask.journal.identity import content_identity
from mediatask.journal.lifecycle import Event, ending, illegal, move, resetting
from mediatask.journal.lifecycle import JobState as JobState  # where it was defined before
from mediatask.model.errors import MediataskError, UsageError
from mediatask.model.redact import Redactor
from mediatask.model.values import Job, Output, Result, Status, TaskRef, Update

MARKER_PREFIX = "mediatask-"
RECONNECT_SECONDS = 60.0
"""How long a write (or a worker's coordination statement) is tried again, reconnecting with
back-off, while a shared ledger cannot be reached (a restart, a killed session)."""

T = TypeVar("T")
EVENT_INSERT = "INSERT INTO events (job_id, at, kind, detail, worker) VALUES (?,?,?,?,?)"
"""How one line of a job's history is written."""


class LeaseLostError(MediataskError):
    """The job is no longer this worker's (another worker claimed it, or it was let go): this
    worker must not write it, send its submit, or download its outputs. Never a job's state:
    the job is simply someone else's now."""


class LedgerError(MediataskError):
    """The ledger could not be read or written (the database went away, or refused)."""


def worker_id() -> str:
    """A name for this process as a journal writer: ``HOST:PID:RANDOM`` (unique across restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@attrs.frozen
class JobRecord:
    """One job as the journal knows it."""

    id: str
    job: Job
    state: JobState
    line: int | None = None
    """The manifest line the job came from, for a batch."""
    task: TaskRef | None = None
    status: str | None = None
    """The last :class:`~mediatask.model.values.Status` value seen, e.g. ``running``."""
    raw_status: str | None = None
    progress: float | None = None
    error: str | None = None
    reason: str | None = None
    """Why the job ended as it did, in a few words shared by jobs that ended alike."""
    marker: str | None = None
    """The marker its latest submit carried (see :meth:`Journal.marker`)."""
    sent_at: str | None = None
    """When its latest submit went on the wire (ISO 8601, UTC)."""
    outputs: tuple[Mapping[str, Any], ...] = ()
    """Each output: its JSON form plus ``path`` once downloaded."""
    updated_at: str = ""
    worker: str | None = None
    """The worker that wrote the job's latest change (see :func:`worker_id`)."""
    created_at: str = attrs.field(default="", eq=False)
    """When the job was first recorded (ISO 8601, UTC)."""
    content: str | None = attrs.field(default=None, eq=False)
    """The job's content identity (:func:`mediatask.journal.identity.content_identity`) as
    recorded."""

    @property
    def holds_content(self) -> bool:
        """True when a task may exist for the job, so it is held to the content it was
        submitted with; a job never sent (or refused with no task) may take new content."""
        return self.state.task_may_be_alive or self.task is not None

    @property
    def handle(self) -> str | None:
        """The task's ``PROVIDER:TASK_ID``, once submitted."""
        return self.task.handle if self.task else None

    def known_result(self) -> Result | None:
        """The task's successful Result as journalled (outputs not yet saved), if it is known.

        A task seen succeeding need not be followed again: a re-run downloads its outputs from
        here, which matters where the task cannot be asked again (an edit done at once).
        """
        if self.task is None or self.status != Status.SUCCEEDED.value or not self.outputs:
            return None
        outputs = [_output(data) for data in self.outputs]
        return Result(self.task, outputs, datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``jobs --json`` and the results file use."""
        return {
            "job": self.id,
            "line": self.line,
            "handle": self.handle,
            "state": self.state.value,
            "status": self.status,
            "raw_status": self.raw_status,
            "progress": self.progress,
            "error": self.error,
            "reason": self.reason,
            "marker": self.marker,
            "sent_at": self.sent_at,
            "outputs": [dict(o) for o in self.outputs],
            "spec": self.job.to_json(),
            "task": self.task.to_json() if self.task else None,
            "updated_at": self.updated_at,
            "worker": self.worker,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        """The record a backend's ``jobs`` row holds (columns by name)."""
        return cls(
            id=row["id"],
            job=Job.from_json(json.loads(row["job"])),
            state=JobState(row["state"]),
            line=row["line"],
            task=TaskRef.from_json(json.loads(row["task"])) if row["task"] else None,
            status=row["status"],
            raw_status=row["raw_status"],
            progress=row["progress"],
            error=row["error"],
            reason=row["reason"],
            content=row.get("content"),
            marker=row["marker"],
            sent_at=row["sent_at"],
            outputs=tuple(json.loads(row["outputs"])),
            updated_at=row["updated_at"],
            worker=row.get("worker"),
            created_at=row.get("created_at") or "",
        )


@attrs.frozen
class JobQuery:
    """Which jobs :meth:`JournalBackend.search` returns: every filter given must match.

    Text matches case-insensitively anywhere in the job id, task handle, the job's spec (inputs
    and params) or its error.
    """

    states: tuple[JobState, ...] = ()
    """Any of these states (none: any state)."""
    provider: str | None = None
    operation: str | None = None
    since: datetime | None = None
    """Recorded at or after this moment."""
    text: str | None = None
    limit: int = 0
    """At most this many, the newest; 0 for all."""

    def matches(self, record: JobRecord) -> bool:
        """Whether ``record`` passes every filter (``limit`` aside)."""
        checks = (self._state_fits, self._job_fits, self._time_fits, self._text_fits)
        return all(check(record) for check in checks)

    def _state_fits(self, record: JobRecord) -> bool:
        return not self.states or record.state in self.states

    def _job_fits(self, record: JobRecord) -> bool:
        job = record.job
        return self.provider in (None, job.provider) and self.operation in (None, job.operation)

    def _time_fits(self, record: JobRecord) -> bool:
        if self.since is None:
            return True
        return bool(record.created_at) and datetime.fromisoformat(record.created_at) >= self.since

    def _text_fits(self, record: JobRecord) -> bool:
        if not self.text:
            return True
        needle = self.text.casefold()
        fields = (
            record.id,
            record.handle or "",
            json.dumps(record.job.to_json()),
            record.error or "",
        )
        return any(needle in field.casefold() for field in fields)


@attrs.frozen
class JournalEvent:
    """One line of a job's history."""

    at: str
    kind: str
    detail: str
    worker: str = ""
    """The worker that wrote it (empty in a journal older than workers)."""


@attrs.frozen
class Fence:
    """SQL that a job's write adds: ``where`` must hold, and ``sets`` is also assigned."""

    sets: str = ""
    """Extra ``, column = …`` terms of the ``UPDATE``."""
    set_params: tuple[Any, ...] = ()
    where: str = ""
    """Extra `` AND …`` terms of its ``WHERE``."""
    where_params: tuple[Any, ...] = ()


class JournalBackend(abc.ABC):
    """A journal, open: the jobs, their history, and the writes that record each step.

    Use as a context manager (or call :meth:`close`). Subclasses give :meth:`_rows`,
    :meth:`_execute`, :meth:`_atomic` and :meth:`close`, set :attr:`id` and :attr:`worker`, and
    may fence which rows a write may touch (:meth:`_fence`, :meth:`_refused`): every write of a
    job goes through :meth:`_write`, the one place a claim is checked.
    """

    id: str
    """This journal's own random id, fixed when it was made (markers derive from it)."""
    worker: str
    """Who writes through this connection (see :func:`worker_id`)."""
    where: str
    """The file or database, for messages (never with a password)."""
    _redactor: Redactor

    @abc.abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        """Run one statement and return its rows as mappings by column name."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    @abc.abstractmethod
    def _atomic(self) -> contextlib.AbstractContextManager[None]:
        """A transaction: the statements run inside it commit together or not at all."""

    def _fence(self, job_id: str) -> Fence:
        """What a write of ``job_id`` must meet (this writer's claim on it is still the job's
        current one) and what it also sets (the claim renewed); nothing by default (one
        writer)."""
        return Fence()

    def _refused(self, job_id: str) -> None:
        """A fenced write of ``job_id`` changed nothing; a backend whose writers hold claims
        raises :class:`LeaseLostError` here."""
        return None

    def keep(self, job_id: str) -> None:
        """Make sure the job is still this writer's before a step nobody may repeat (a
        download), renewing its claim.

        :raises LeaseLostError: it is not (another worker took it over).
        """
        self._write(job_id, {}, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Mapping[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- reading ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job called ``job_id``, if the journal has it."""
        row = self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_row(row) if row else None

    def find(self, name: str) -> JobRecord | None:
        """The job with this id or task handle (the latest, for a handle)."""
        row = self._one(
            "SELECT * FROM jobs WHERE id = ? OR handle = ? ORDER BY updated_at DESC LIMIT 1",
            (name, name),
        )
        return JobRecord.from_row(row) if row else None

    def records(self) -> Iterator[JobRecord]:
        """Every job, in the order they were first recorded."""
        for row in self._rows("SELECT * FROM jobs ORDER BY created_at, line, id"):
            yield JobRecord.from_row(row)

    def search(self, query: JobQuery) -> list[JobRecord]:
        """The jobs ``query`` selects, in the order they were first recorded (newest last)."""
        found = [record for record in self.records() if query.matches(record)]
        return found[-query.limit :] if query.limit > 0 else found

    def events(self, job_id: str) -> list[JournalEvent]:
        """The history of one job, oldest first."""
        rows = self._rows(
            "SELECT at, kind, detail, worker FROM events WHERE job_id = ? ORDER BY seq", (job_id,)
        )
        return [JournalEvent(r["at"], r["kind"], r["detail"], r["worker"] or "") for r in rows]

    def marker(self, job_id: str) -> str:
        """The marker for the job's next submit: ``mediatask-`` and 16 hex digits.

        Derived from this journal's id, the job id and how often the job was reset to be
        submitted again, so it names one submit of one job and nothing else, and is the same
        whenever it is asked for until the job is reset.
        """
        row = self._one(
            "SELECT COUNT(*) AS n FROM events WHERE job_id = ? AND kind = 'reset'", (job_id,)
        )
        resets = row["n"] if row else 0
        digest = hashlib.sha256(f"{self.id}/{job_id}/{resets}".encode()).hexdigest()
        return MARKER_PREFIX + digest[:16]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        rows = self._rows("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        return {row["state"]: row["n"] for row in rows}

    # -- writing ---------------------------------------------------------------------------------

    def register(self, job_id: str, job: Job, *, line: int | None = None) -> JobRecord:
        """Record ``job`` as pending, or return the record a previous run (or worker) left.

        Idempotent across processes: the insert is skipped when the id exists. A job whose
        task may exist is held to its content (its local inputs by their bytes, so a moved
        batch folder is the same batch); a job never sent takes ``job``'s new content.

        :raises UsageError: the journal has a job with a task and different content under
            this id (the manifest changed).
        """
        content = content_identity(job)
        self._insert(job_id, job, line, content)
        known = self.get(job_id)
        if known is None:
            raise UsageError(f"job {job_id} vanished from the journal {self.where}")
        same = (known.content or content_identity(known.job)) == content
        if same and known.job.to_json() == job.to_json():
            return known
        if known.holds_content and not same:
            raise UsageError(
                f"job {job_id} differs from the one the journal recorded for it; give the "
                "changed job a new id, or write to a new output folder (a task may exist for "
                "the one recorded)"
            )
        self._renewed(known, job, content, same=same)
        return self.get(job_id) or known

    def _insert(self, job_id: str, job: Job, line: int | None, content: str) -> None:
        """Record ``job`` as pending, with its history's first line, unless the id exists."""
        now = timestamp()
        spec = json.dumps(job.to_json())
        row = (job_id, line, spec, JobState.PENDING.value, now, now, self.worker, content)
        with self._atomic():
            added = self._execute(
                "INSERT INTO jobs (id, line, job, state, created_at, updated_at, worker, content) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                row,
            )
            if added:
                self._event(job_id, "registered", f"{job.provider} {job.operation}", now)

    def _renewed(self, known: JobRecord, job: Job, content: str, *, same: bool) -> None:
        """Give the recorded job ``job``'s spec (found elsewhere, when its content is the
        ``same``; else its manifest line changed), unless its state changed meanwhile."""
        kind = "moved" if same else "changed"
        detail = "the same content found elsewhere" if same else "its manifest line changed"
        unchanged = Fence(where=" AND state = ?", where_params=(known.state.value,))
        columns = {"job": json.dumps(job.to_json()), "content": content}
        self._write(known.id, columns, (kind, detail), unchanged)

    def _update(self, job_id: str, event: Event, detail: str, **columns: Any) -> bool:
        """Move the job by ``event`` (:data:`mediatask.journal.lifecycle.MOVES`), change its
        ``columns`` and log the event, in one transaction: the one place a job's state is
        written.

        :returns: False when the job is unknown.
        :raises IllegalMoveError: the job's state does not allow ``event``.
        :raises LeaseLostError: where writers hold claims, the job is no longer this writer's.
        """
        allowed = move(event)
        sources = sorted(state.value for state in allowed.sources)
        guard = Fence(
            where=f" AND state IN ({', '.join('?' * len(sources))})", where_params=tuple(sources)
        )
        state = {"state": allowed.to.value}
        written = self._write(job_id, {**state, **columns}, (event.value, detail), guard)
        if not written:
            known = self.get(job_id)
            if known is not None and known.state not in allowed.sources:
                raise illegal(event, known.state)
        return written

    def _write(
        self,
        job_id: str,
        columns: Mapping[str, Any],
        event: tuple[str, str] | None,
        guard: Fence = Fence(),
    ) -> bool:
        """The one way a job is written: ``columns`` (and ``event``, if any) committed together,
        only while this writer's claim is the job's current one (:meth:`_fence`) and ``guard``
        holds."""
        now = timestamp()
        values = {**self._redactor.row(dict(columns)), "updated_at": now, "worker": self.worker}
        names = ", ".join(f"{name} = ?" for name in values)
        fence = self._fence(job_id)
        changed = self._apply(
            f"UPDATE jobs SET {names}{fence.sets} WHERE id = ?{fence.where}{guard.where}",  # noqa: S608
            (*values.values(), *fence.set_params, job_id, *fence.where_params, *guard.where_params),
            self._event_row(job_id, *event, now) if event is not None else None,
        )
        if not changed:
            self._refused(job_id)
        return bool(changed)

    def _apply(self, update: str, params: Sequence[Any], event: tuple[Any, ...] | None) -> int:
        """Run ``update`` (one job's) and, if it changed the job, add ``event`` (a row of
        :data:`EVENT_INSERT`), committed together; how many jobs it changed."""
        with self._atomic():
            changed = self._execute(update, params)
            if changed and event is not None:
                self._execute(EVENT_INSERT, event)
        return changed

    def _event_row(self, job_id: str, kind: str, detail: str, at: str) -> tuple[Any, ...]:
        return (job_id, at, kind, self._redactor.scrub(detail), self.worker)

    def _event(self, job_id: str, kind: str, detail: str, at: str) -> None:
        self._execute(EVENT_INSERT, self._event_row(job_id, kind, detail, at))

    def submitting(self, job_id: str, marker: str | None = None) -> None:
        """Record the intent to submit, as the request goes on the wire, with its marker."""
        self._update(
            job_id,
            Event.SEND,
            marker or "",
            error=None,
            reason=None,
            marker=marker,
            sent_at=timestamp(),
        )

    def unsent(self, job_id: str) -> None:
        """Record that a submit was stopped with no task created: the job is pending again."""
        self._update(job_id, Event.UNSENT, "", marker=None)

    def submitted(self, job_id: str, task: TaskRef, answered: Update | None = None) -> None:
        """Record the task the provider created for the job, and with it in the same write the
        answer's update when that was final at once (a Claid upload): a worker that dies right
        after leaves whoever takes the job over the outputs to download, not a task that has
        no status to ask for."""
        seen = _seen(answered) if answered is not None else {}
        self._update(
            job_id,
            Event.ACCEPTED,
            task.handle,
            handle=task.handle,
            task=json.dumps(task.to_json()),
            **{**_FRESH, **seen},
        )

    def observed(self, job_id: str, update: Update) -> None:
        """Record an update; a change of status word is also a history event."""
        known = self.get(job_id)
        changed = known is None or known.raw_status != update.raw_status
        event = ("status", update.raw_status or update.status.value) if changed else None
        self._write(job_id, _seen(update), event)

    def succeeded(self, job_id: str, result: Result) -> None:
        """Record the downloaded outputs of a job that succeeded."""
        outputs = [
            {**output.to_json(), "path": str(path) if path else None}
            for output, path in zip(result.outputs, _padded(result), strict=True)
        ]
        self._update(
            job_id,
            Event.DOWNLOADED,
            f"{len(result.files)} file(s)",
            outputs=json.dumps(outputs),
            error=None,
            reason=None,
        )

    def ended(self, job_id: str, state: JobState, error: str, reason: str | None = None) -> None:
        """Record that the job ended in ``state`` (failed, uncertain, lost…) because of ``error``.

        :param reason: the cause in a few words that jobs which ended alike share (the summary
            groups by it); ``None`` keeps ``error`` as the reason.
        """
        self._update(job_id, ending(state), error, error=error, reason=reason)

    def noted(self, job_id: str, kind: str, detail: str) -> None:
        """Log an event about the job (e.g. ``cancel``, with what came of it); no state change."""
        self._write(job_id, {}, (kind, detail))

    def reset(self, job_id: str, state: JobState, reason: str) -> None:
        """Put the job back to ``state`` (pending: submitted again; submitted: followed again).

        Going back to pending gives the job a new :meth:`marker`.
        """
        fresh = _FRESH if state is JobState.PENDING else {}
        self._update(job_id, resetting(state), reason, error=None, reason=None, **fresh)


async def reconnecting(attempt: Callable[[], Awaitable[T]]) -> T:
    """``await attempt()``, tried again with back-off while it fails with :class:`LedgerError`
    (the ledger restarting, a session killed), for up to :data:`RECONNECT_SECONDS`.

    Cancellable between attempts. A write refused (:class:`LeaseLostError`) is not tried again.
    """
    deadline = trio.current_time() + RECONNECT_SECONDS
    delay = 0.1
    while True:
        try:
            return await attempt()
        except LedgerError:
            if trio.current_time() + delay > deadline:
                raise
        await trio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def written(write: Callable[[], None]) -> None:
    """Make the journal write ``write()`` (what a worker learned: a task's id, its end), tried
    again while the ledger cannot be reached (see :func:`reconnecting`)."""

    async def attempt() -> None:
        write()

    await reconnecting(attempt)


def timestamp() -> str:
    """Now, in UTC, as the journal writes times (ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_FRESH: Mapping[str, Any] = {"status": None, "raw_status": None, "progress": None, "outputs": "[]"}
"""What a new task starts from: nothing seen of it yet."""


def _seen(update: Update) -> dict[str, Any]:
    """The columns that keep ``update``: its status, and the outputs of a success."""
    columns: dict[str, Any] = {
        "status": update.status.value,
        "raw_status": update.raw_status,
        "progress": update.progress,
    }
    if update.status is Status.SUCCEEDED and update.outputs:
        columns["outputs"] = json.dumps([output.to_json() for output in update.outputs])
    return columns


def _output(data: Mapping[str, Any]) -> Output:
    return Output.from_json(data)


def _padded(result: Result) -> list[Path | None]:
    """Each output's saved file, ``None`` for one not downloaded (a value, a placed file)."""
    files = iter(result.files)
    return [next(files, None) if o.downloadable else None for o in result.outputs]
