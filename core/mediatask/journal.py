"""The journal: a SQLite ledger of jobs, their submissions, task handles, status changes and files.

It is what makes a re-run safe: the intent to submit is written at the moment the request goes on
the wire (after uploads and the rate limiter), and the task handle right after the answer, so a job
is never submitted twice by accident. A job found ``submitting`` by a later run was interrupted
while its submit was on the wire (a crash or a kill): it is *uncertain*, never resubmitted without
an explicit flag. Each submit carries a *marker* (:meth:`Journal.marker`) that a provider which
keeps a name on its tasks can be searched by, to settle an uncertain job.

A new journal file is readable by its owner only (0600), in a folder made 0700 when the journal
creates it: it holds the jobs' inputs and output URLs.

Synchronous on purpose: each write is one small statement on a local file (well under a
millisecond in WAL mode), made from the trio thread that owns the connection. Running it in worker
threads would cost more than it saves, and SQLite connections must not be shared across threads.

No key is ever written here: rows hold jobs, handles, provider status words, our own error
messages (which never contain keys) and output URLs and paths.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from mediatask.config import Settings
from mediatask.errors import UsageError
from mediatask.model import Job, Output, Result, Status, TaskRef, Update
from mediatask.redact import Redactor

JOURNAL_DIR = ".mediatask"
JOURNAL_FILE = "journal.sqlite"
LOCK_FILE = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    line INTEGER,
    job TEXT NOT NULL,
    state TEXT NOT NULL,
    handle TEXT,
    task TEXT,
    status TEXT,
    raw_status TEXT,
    progress REAL,
    error TEXT,
    reason TEXT,
    marker TEXT,
    sent_at TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_handle ON jobs (handle);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_ADDED_COLUMNS = {"reason": "TEXT", "marker": "TEXT", "sent_at": "TEXT"}
"""Columns later versions added to ``jobs``: an older journal gets them when opened."""
MARKER_PREFIX = "mediatask-"


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
    def task_may_be_alive(self) -> bool:
        """True when a task may exist at the provider that has not ended there."""
        return self in (
            JobState.SUBMITTING,
            JobState.SUBMITTED,
            JobState.UNFINISHED,
            JobState.TIMED_OUT,
            JobState.UNCERTAIN,
        )


_FINAL = frozenset(
    (JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED, JobState.UNCERTAIN, JobState.LOST)
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
    """The last :class:`~mediatask.model.Status` value seen, e.g. ``running``."""
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
        }

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> JobRecord:
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
            marker=row["marker"],
            sent_at=row["sent_at"],
            outputs=tuple(json.loads(row["outputs"])),
            updated_at=row["updated_at"],
        )


@attrs.frozen
class JournalEvent:
    """One line of a job's history."""

    at: str
    kind: str
    detail: str


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) while the block runs.

    Two batches writing to one folder at once could both submit the same pending job; the second
    one fails at once instead. Advisory (``flock``), so it needs no clean-up after a crash.
    """
    _private_folder(path.parent)
    with path.open("a") as file:
        try:
            _lock(file.fileno())
        except (BlockingIOError, PermissionError):  # PermissionError: Windows' msvcrt
            raise UsageError(
                f"another mediatask batch is using {path.parent.parent}: wait for it to end"
            ) from None
        try:
            yield
        finally:
            _lock(file.fileno(), unlock=True)


def _lock(fd: int, *, unlock: bool = False) -> None:
    """Take (or drop) an advisory lock without waiting; imported here so that ``import mediatask``
    works where ``fcntl`` does not exist (Windows locks the first byte with ``msvcrt``)."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK if unlock else msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN if unlock else fcntl.LOCK_EX | fcntl.LOCK_NB)


def batch_journal_path(out_dir: Path) -> Path:
    """Where a batch writing into ``out_dir`` keeps its journal."""
    return out_dir / JOURNAL_DIR / JOURNAL_FILE


def _private_folder(folder: Path) -> None:
    """Make ``folder`` (and missing parents) if needed; a folder made here is 0700."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)


def _private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (SQLite would make it 0644)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Journal:
    """A journal file, open; use as a context manager (or call :meth:`close`).

    :param path: the file (a ``str`` or a path); it and its folder are made if missing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path = Path(path)
        _private_folder(path.parent)
        _private_file(path)
        self._redactor = Redactor(Settings().secrets())  # the user's keys never reach a row
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        known = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in known:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        self._db.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('id', ?)", (uuid.uuid4().hex,)
        )
        self.id: str = self._db.execute("SELECT value FROM meta WHERE name = 'id'").fetchone()[0]
        """This journal's own random id, fixed when the file was made (markers derive from it)."""

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    # -- reading ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job called ``job_id``, if the journal has it."""
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRecord._from_row(row) if row else None

    def find(self, name: str) -> JobRecord | None:
        """The job with this id or task handle (the latest, for a handle)."""
        row = self._db.execute(
            "SELECT * FROM jobs WHERE id = ? OR handle = ? ORDER BY updated_at DESC LIMIT 1",
            (name, name),
        ).fetchone()
        return JobRecord._from_row(row) if row else None

    def records(self) -> Iterator[JobRecord]:
        """Every job, in the order they were first recorded."""
        for row in self._db.execute("SELECT * FROM jobs ORDER BY created_at, line, id"):
            yield JobRecord._from_row(row)

    def events(self, job_id: str) -> list[JournalEvent]:
        """The history of one job, oldest first."""
        rows = self._db.execute(
            "SELECT at, kind, detail FROM events WHERE job_id = ? ORDER BY seq", (job_id,)
        )
        return [JournalEvent(r["at"], r["kind"], r["detail"]) for r in rows]

    def marker(self, job_id: str) -> str:
        """The marker for the job's next submit: ``mediatask-`` and 16 hex digits.

        Derived from this journal's id, the job id and how often the job was reset to be
        submitted again, so it names one submit of one job and nothing else, and is the same
        whenever it is asked for until the job is reset.
        """
        (resets,) = self._db.execute(
            "SELECT COUNT(*) FROM events WHERE job_id = ? AND kind = 'reset'", (job_id,)
        ).fetchone()
        digest = hashlib.sha256(f"{self.id}/{job_id}/{resets}".encode()).hexdigest()
        return MARKER_PREFIX + digest[:16]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        return {row["state"]: row["n"] for row in rows}

    # -- writing ---------------------------------------------------------------------------------

    def register(self, job_id: str, job: Job, *, line: int | None = None) -> JobRecord:
        """Record ``job`` as pending, or return the record a previous run left.

        :raises UsageError: the journal has a different job under this id (the manifest changed).
        """
        known = self.get(job_id)
        if known is not None:
            if known.job.to_json() != job.to_json():
                raise UsageError(
                    f"job {job_id} differs from the one the journal recorded for it; give the "
                    "changed job a new id, or write to a new output folder"
                )
            return known
        now = _now()
        self._db.execute(
            "INSERT INTO jobs (id, line, job, state, created_at, updated_at) VALUES (?,?,?,?,?,?)",
            (job_id, line, json.dumps(job.to_json()), JobState.PENDING.value, now, now),
        )
        self._event(job_id, "registered", f"{job.provider} {job.operation}", now)
        return self.get(job_id) or known  # type: ignore[return-value]  # just inserted

    def _update(self, job_id: str, kind: str, detail: str, **columns: Any) -> None:
        now = _now()
        columns = self._redactor.row(columns)
        names = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(
            f"UPDATE jobs SET {names}, updated_at = ? WHERE id = ?",  # noqa: S608  # names are ours
            (*columns.values(), now, job_id),
        )
        self._event(job_id, kind, detail, now)

    def _event(self, job_id: str, kind: str, detail: str, at: str) -> None:
        self._db.execute(
            "INSERT INTO events (job_id, at, kind, detail) VALUES (?,?,?,?)",
            (job_id, at, kind, self._redactor.scrub(detail)),
        )

    def submitting(self, job_id: str, marker: str | None = None) -> None:
        """Record the intent to submit, as the request goes on the wire, with its marker."""
        self._update(
            job_id,
            "submitting",
            marker or "",
            state=JobState.SUBMITTING.value,
            error=None,
            reason=None,
            marker=marker,
            sent_at=_now(),
        )

    def unsent(self, job_id: str) -> None:
        """Record that a submit was stopped with no task created: the job is pending again."""
        self._update(job_id, "unsent", "", state=JobState.PENDING.value, marker=None)

    def submitted(self, job_id: str, task: TaskRef) -> None:
        """Record the task the provider created for the job."""
        self._update(
            job_id,
            "submitted",
            task.handle,
            state=JobState.SUBMITTED.value,
            handle=task.handle,
            task=json.dumps(task.to_json()),
            **_FRESH,
        )

    def observed(self, job_id: str, update: Update) -> None:
        """Record an update; a change of status word is also a history event.

        The first outputs seen are kept too, so a result is never lost before its download.
        """
        known = self.get(job_id)
        changed = known is None or known.raw_status != update.raw_status
        columns: dict[str, Any] = {
            "status": update.status.value,
            "raw_status": update.raw_status,
            "progress": update.progress,
        }
        if update.status is Status.SUCCEEDED and update.outputs:
            columns["outputs"] = json.dumps([output.to_json() for output in update.outputs])
        if changed:
            self._update(job_id, "status", update.raw_status or update.status.value, **columns)
        else:
            names = ", ".join(f"{name} = ?" for name in columns)
            self._db.execute(
                f"UPDATE jobs SET {names} WHERE id = ?",  # noqa: S608  # names are ours
                (*columns.values(), job_id),
            )

    def succeeded(self, job_id: str, result: Result) -> None:
        """Record the downloaded outputs of a job that succeeded."""
        outputs = [
            {**output.to_json(), "path": str(path) if path else None}
            for output, path in zip(result.outputs, _padded(result), strict=True)
        ]
        self._update(
            job_id,
            "downloaded",
            f"{len(result.files)} file(s)",
            state=JobState.SUCCEEDED.value,
            outputs=json.dumps(outputs),
            error=None,
            reason=None,
        )

    def ended(self, job_id: str, state: JobState, error: str, reason: str | None = None) -> None:
        """Record that the job ended in ``state`` (failed, uncertain, lost…) because of ``error``.

        :param reason: the cause in a few words that jobs which ended alike share (the summary
            groups by it); ``None`` keeps ``error`` as the reason.
        """
        self._update(job_id, state.value, error, state=state.value, error=error, reason=reason)

    def reset(self, job_id: str, state: JobState, reason: str) -> None:
        """Put the job back to ``state`` (pending: submitted again; submitted: followed again).

        Going back to pending gives the job a new :meth:`marker`.
        """
        fresh = _FRESH if state is JobState.PENDING else {}
        self._update(job_id, "reset", reason, state=state.value, error=None, reason=None, **fresh)


_FRESH: Mapping[str, Any] = {"status": None, "raw_status": None, "progress": None, "outputs": "[]"}
"""What a new task starts from: nothing seen of it yet."""


def _output(data: Mapping[str, Any]) -> Output:
    expires = data.get("expires_at")
    return Output(
        url=data["url"],
        role=data.get("role", "output"),
        kind=data.get("kind", "file"),
        mime_type=data.get("mime_type"),
        size=data.get("size"),
        width=data.get("width"),
        height=data.get("height"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
    )


def _padded(result: Result) -> list[Path | None]:
    files: list[Path | None] = list(result.files)
    return files + [None] * (len(result.outputs) - len(files))
