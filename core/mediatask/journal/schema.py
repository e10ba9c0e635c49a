"""The journal's schema, by version: one ordered list of migrations for both backends.

A journal keeps its version in ``meta`` (``name = 'schema'``); opening it applies every
migration past that version, in order, and records the new version (a journal written before
versions existed counts as version 0: each step is written so that it holds for any such
journal). Each table and column is written once, for both backends: the few words their
dialects spell differently are named (:data:`WORDS`), and what only a shared ledger has is
kept apart (:attr:`Migration.shared`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from mediatask.model.errors import UsageError

Dialect = Literal["sqlite", "postgres"]

WORDS: Mapping[Dialect, Mapping[str, str]] = {
    "sqlite": {
        "real": "REAL",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "add": "ADD COLUMN",  # a column a journal from before versions has: the backend skips it
    },
    "postgres": {
        "real": "DOUBLE PRECISION",
        "serial": "BIGSERIAL PRIMARY KEY",
        "add": "ADD COLUMN IF NOT EXISTS",
    },
}
"""The words the two dialects spell differently; a statement names each in braces."""


@attrs.frozen
class Migration:
    """One step from ``version - 1`` to ``version``, written once for both dialects."""

    version: int
    why: str
    both: tuple[str, ...]
    """What every journal gets, with ``{real}``, ``{serial}`` and ``{add}`` (:data:`WORDS`)."""
    shared: tuple[str, ...] = ()
    """What only a ledger that workers share has (PostgreSQL): leases and shared limits."""

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        """Its statements in ``dialect``."""
        mine = (*self.both, *(self.shared if dialect == "postgres" else ()))
        return tuple(statement.format_map(WORDS[dialect]) for statement in mine)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the first journal: jobs, their history, and the journal's own facts; a shared "
        "ledger's leases, rate logs, pauses and in-flight slots",
        both=(
            """CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, line INTEGER, job TEXT NOT NULL, state TEXT NOT NULL,
                handle TEXT, task TEXT, status TEXT, raw_status TEXT, progress {real},
                error TEXT, outputs TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS jobs_handle ON jobs (handle)",
            """CREATE TABLE IF NOT EXISTS events (
                seq {serial}, job_id TEXT NOT NULL, at TEXT NOT NULL,
                kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX IF NOT EXISTS events_job ON events (job_id)",
        ),
        shared=(
            "ALTER TABLE jobs {add} lease_until {real}",
            "CREATE INDEX IF NOT EXISTS jobs_open ON jobs (state, lease_until)",
            """CREATE TABLE IF NOT EXISTS rate_log (
                id {serial}, scope TEXT NOT NULL, counted_at {real} NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS rate_log_scope ON rate_log (scope, counted_at)",
            "CREATE TABLE IF NOT EXISTS rate_pause (scope TEXT PRIMARY KEY, until {real})",
            """CREATE TABLE IF NOT EXISTS flight (
                job_id TEXT PRIMARY KEY, scope TEXT NOT NULL, worker TEXT NOT NULL)""",
        ),
    ),
    Migration(
        2,
        "why a job ended, its submit's marker and time, and which worker wrote it; a shared "
        "ledger's fencing token and its rate log's answered mark",
        both=(
            "ALTER TABLE jobs {add} reason TEXT",
            "ALTER TABLE jobs {add} marker TEXT",
            "ALTER TABLE jobs {add} sent_at TEXT",
            "ALTER TABLE jobs {add} worker TEXT",
            "ALTER TABLE events {add} worker TEXT",
        ),
        shared=(
            "ALTER TABLE jobs {add} lease_epoch BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE rate_log {add} answered BOOLEAN NOT NULL DEFAULT false",
        ),
    ),
    Migration(
        3,
        "a job written failed when following or downloading its task failed (before "
        "'unfinished' existed) is unfinished: its task exists, and a re-run follows it again",
        both=(
            "UPDATE jobs SET state = 'unfinished', reason = 'following or downloading it failed' "
            "WHERE state = 'failed' AND task IS NOT NULL AND reason IS NULL "
            "AND (status IS NULL OR status NOT IN ('failed', 'canceled'))",
        ),
    ),
    Migration(
        4,
        "each job's content identity (its inputs by digest, not by where they were found)",
        both=("ALTER TABLE jobs {add} content TEXT",),
    ),
)
"""Every schema step, oldest first."""

VERSION = MIGRATIONS[-1].version
"""The version this code writes."""

META = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"


def migrate(
    dialect: Dialect,
    rows: Callable[[str], Sequence[Mapping[str, Any]]],
    run: Callable[[str], object],
    *,
    upto: int = VERSION,
) -> int:
    """Bring a journal to :data:`VERSION` (or ``upto``, for tests of each step) inside the
    caller's transaction: the version it had. ``rows`` reads, ``run`` runs one statement (a
    backend may skip a column that a journal written before versions already has)."""
    run(META)
    found = rows("SELECT value FROM meta WHERE name = 'schema'")
    had = int(found[0]["value"]) if found else 0
    if had > VERSION:
        raise UsageError(
            f"this journal was written by a newer mediatask (schema {had}; this one knows up to "
            f"{VERSION}): upgrade mediatask to open it"
        )
    for migration in MIGRATIONS:
        if had < migration.version <= upto:
            for statement in migration.statements(dialect):
                run(statement)
    if had < upto:
        run("DELETE FROM meta WHERE name = 'schema'")
        run(f"INSERT INTO meta (name, value) VALUES ('schema', '{int(upto)}')")  # noqa: S608
    return had
