"""The journal on one machine: a SQLite file of jobs, submissions, task handles, status and files.

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

The states, records and statements are :mod:`mediatask.journal.backend`'s, shared with the
PostgreSQL ledger (:mod:`mediatask.journal.postgres`) that workers on several machines share.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mediatask.journal.backend import (
    MARKER_PREFIX,
    JobQuery,
    JobRecord,
    JobState,
    JournalBackend,
    JournalEvent,
    LeaseLostError,
    worker_id,
)
from mediatask.journal.schema import migrate
from mediatask.model.errors import UsageError, wrong_type
from mediatask.model.redact import Redactor
from mediatask.settings.config import Settings

__all__ = [
    "JOURNAL_DIR",
    "JOURNAL_FILE",
    "LOCK_FILE",
    "MARKER_PREFIX",
    "JobQuery",
    "JobRecord",
    "JobState",
    "Journal",
    "JournalBackend",
    "JournalEvent",
    "LeaseLostError",
    "batch_journal_path",
    "exclusive",
]

JOURNAL_DIR = ".mediatask"
JOURNAL_FILE = "journal.sqlite"
SANDBOX_JOURNAL_FILE = "sandbox-journal.sqlite"
"""A ``--sandbox`` batch's journal, beside the real one: its tasks died with their emulators."""
LOCK_FILE = "lock"


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


def batch_journal_path(out_dir: Path, *, sandbox: bool = False) -> Path:
    """Where a batch writing into ``out_dir`` keeps its journal (``sandbox``: a batch on the
    sandbox, whose jobs are kept apart from the real ones)."""
    return out_dir / JOURNAL_DIR / (SANDBOX_JOURNAL_FILE if sandbox else JOURNAL_FILE)


def _private_folder(folder: Path) -> None:
    """Make ``folder`` (and missing parents) if needed; a folder made here is 0700."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)


def _private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (SQLite would make it 0644)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Journal(JournalBackend):
    """A journal file, open; use as a context manager (or call :meth:`close`).

    :param path: the file (a ``str`` or a path); it and its folder are made if missing.
    """

    def __init__(self, path: Path | str) -> None:
        if not isinstance(path, str | os.PathLike):
            raise wrong_type("Journal path", "a file path (a str or os.PathLike)", path)
        self.path = path = Path(path)
        self.where = str(path)
        self.worker = worker_id()
        _private_folder(path.parent)
        _private_file(path)
        self._redactor = Redactor(Settings().secrets())  # the user's keys never reach a row
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._open()
        except BaseException:
            self._db.close()  # a journal refused (e.g. from a newer mediatask) holds no file
            raise

    def _open(self) -> None:
        """Set the connection up and bring the file to this version's schema."""
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._atomic():
            migrate("sqlite", self._rows, self._migration_step)
        self._db.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES ('id', ?)", (uuid.uuid4().hex,)
        )
        self.id = self._db.execute("SELECT value FROM meta WHERE name = 'id'").fetchone()[0]

    def _migration_step(self, sql: str) -> None:
        try:
            self._db.execute(sql)
        except sqlite3.OperationalError as exc:
            if "duplicate column name" not in str(exc):
                raise  # else a journal from before versions that already has the column

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        return [dict(row) for row in self._db.execute(sql, params)]

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
