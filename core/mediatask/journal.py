"""The journal: a SQLite ledger of jobs, their submissions, task handles, status changes and files.

It is what makes a re-run safe: the intent to submit is written *before* the request and the task
handle right after it, so a job is never submitted twice by accident. A job found ``submitting``
by a later run was interrupted mid-submit (a crash or a kill): it is *uncertain*, never resubmitted
without an explicit flag.

Synchronous on purpose: each write is one small statement on a local file (well under a
millisecond in WAL mode), made from the trio thread that owns the connection. Running it in worker
threads would cost more than it saves, and SQLite connections must not be shared across threads.

No key is ever written here: rows hold jobs, handles, provider status words, our own error
messages (which never contain keys) and output URLs and paths.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from mediatask.errors import UsageError
from mediatask.model import Job, Result, TaskRef, Update

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
"""


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
    """The job failed: invalid, rejected, the task failed, or its download failed."""
    UNCERTAIN = "uncertain"
    """A submit may or may not have created a task: check before submitting again."""
    LOST = "lost"
    """The provider no longer knows the task (deleted, expired, or a fresh sandbox)."""

    @property
    def is_final(self) -> bool:
        """True when a re-run leaves the job alone unless asked otherwise."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.UNCERTAIN, JobState.LOST)


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
    outputs: tuple[Mapping[str, Any], ...] = ()
    """Each output: its JSON form plus ``path`` once downloaded."""
    updated_at: str = ""

    @property
    def handle(self) -> str | None:
        """The task's ``PROVIDER:TASK_ID``, once submitted."""
        return self.task.handle if self.task else None

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another mediatask batch is using {path.parent.parent}: wait for it to end"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def batch_journal_path(out_dir: Path) -> Path:
    """Where a batch writing into ``out_dir`` keeps its journal."""
    return out_dir / JOURNAL_DIR / JOURNAL_FILE


class Journal:
    """A journal file, open; use as a context manager (or call :meth:`close`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = path = Path(path)  # TypeError for anything but a str or path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

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
        names = ", ".join(f"{name} = ?" for name in columns)
        self._db.execute(
            f"UPDATE jobs SET {names}, updated_at = ? WHERE id = ?",  # noqa: S608  # names are ours
            (*columns.values(), now, job_id),
        )
        self._event(job_id, kind, detail, now)

    def _event(self, job_id: str, kind: str, detail: str, at: str) -> None:
        self._db.execute(
            "INSERT INTO events (job_id, at, kind, detail) VALUES (?,?,?,?)",
            (job_id, at, kind, detail),
        )

    def submitting(self, job_id: str) -> None:
        """Record the intent to submit, before the request is sent."""
        self._update(job_id, "submitting", "", state=JobState.SUBMITTING.value, error=None)

    def submitted(self, job_id: str, task: TaskRef) -> None:
        """Record the task the provider created for the job."""
        self._update(
            job_id,
            "submitted",
            task.handle,
            state=JobState.SUBMITTED.value,
            handle=task.handle,
            task=json.dumps(task.to_json()),
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
        if update.outputs and known is not None and not known.outputs:
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
        )

    def ended(self, job_id: str, state: JobState, error: str) -> None:
        """Record that the job ended in ``state`` (failed, uncertain, lost) because of ``error``."""
        self._update(job_id, state.value, error, state=state.value, error=error)

    def reset(self, job_id: str, state: JobState, reason: str) -> None:
        """Put the job back to ``state`` (pending, submitted) on the user's explicit request."""
        self._update(job_id, "reset", reason, state=state.value, error=None)


def _padded(result: Result) -> list[Path | None]:
    files: list[Path | None] = list(result.files)
    return files + [None] * (len(result.outputs) - len(files))
