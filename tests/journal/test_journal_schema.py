"""The journal's schema versions: a journal of any earlier version opens and is migrated."""

from __future__ import annotations

import gc
import json
import secrets
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.postgres import PostgresServer

from mediatask import Job, JobState, Journal, TaskRef
from mediatask.journal.lifecycle import Action, Wants, decide
from mediatask.journal.postgres import PostgresJournal
from mediatask.journal.schema import MIGRATIONS, VERSION, migrate

FIXTURE = Path(__file__).parents[1] / "fixtures" / "journal-4e541e8.sqlite"
"""A journal written by mediatask as of commit 4e541e8 (before schema versions): job0
pending, job1 submitted, job2 failed when its download failed after its task succeeded,
job3 failed by the provider, job4 uncertain."""
JOB = Job("echo", "draw", (), {"prompt": "a lighthouse"})
TASK = TaskRef("echo", "task_1", datetime(2026, 1, 1, tzinfo=UTC), "draw")


def _version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    db.close()
    return int(row[0])


def test_a_journal_from_before_versions_opens_migrated(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    shutil.copy(FIXTURE, path)
    with Journal(path) as journal:
        states = {record.id: record.state for record in journal.records()}
        assert states == {
            "job0": JobState.PENDING,
            "job1": JobState.SUBMITTED,
            "job2": JobState.UNFINISHED,  # its task succeeded: a re-run downloads it again
            "job3": JobState.FAILED,
            "job4": JobState.UNCERTAIN,
        }
        job2 = journal.get("job2")
        assert job2 is not None
        assert job2.known_result() is not None
        assert decide(job2.state, Wants(), can_settle=lambda: False).action is Action.FOLLOW
        journal.register("job5", JOB)  # and it is written as any journal
        assert journal.get("job5") is not None
    assert _version(path) == VERSION


@pytest.mark.parametrize("start", range(VERSION))
def test_a_journal_of_each_version_opens_migrated(tmp_path: Path, start: int) -> None:
    path = tmp_path / "journal.sqlite"
    with sqlite3.connect(path, isolation_level=None) as db:
        db.row_factory = sqlite3.Row
        migrate("sqlite", lambda sql: db.execute(sql).fetchall(), db.execute, upto=start)
        if start >= 1:
            db.execute(
                "INSERT INTO jobs (id, job, state, created_at, updated_at) VALUES (?,?,?,?,?)",
                ("j1", json.dumps(JOB.to_json()), "pending", "2026-01-01", "2026-01-01"),
            )
    db.close()
    with Journal(path) as journal:
        journal.register("j1", JOB)
        journal.submitting("j1", journal.marker("j1"))
        journal.submitted("j1", TASK)
        journal.ended("j1", JobState.UNFINISHED, "downloading failed", "downloading failed")
        record = journal.get("j1")
        assert record is not None
        assert record.reason == "downloading failed"
    assert _version(path) == VERSION


def test_every_migration_is_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, VERSION + 1))


def test_a_journal_from_a_newer_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'schema'", (str(VERSION + 1),))
    db.close()
    with pytest.raises(Exception, match="upgrade mediatask"):
        Journal(path)
    gc.collect()  # a refused journal left no connection open (Python 3.13 warns of one)


@pytest.mark.postgres
@pytest.mark.parametrize("start", range(VERSION))
def test_a_shared_ledger_of_each_version_opens_migrated(
    postgres_server: PostgresServer, start: int
) -> None:
    import psycopg
    from psycopg.rows import dict_row

    url = postgres_server.create_database(f"schema_{start}_{secrets.token_hex(4)}")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
        migrate("postgres", lambda sql: db.execute(sql).fetchall(), db.execute, upto=start)
    with PostgresJournal(url) as journal:
        journal.register("j1", JOB)
        journal.submitting("j1", journal.marker("j1"))
        journal.submitted("j1", TASK)
        record = journal.get("j1")
        assert record is not None
        assert record.state is JobState.SUBMITTED
        rows = journal._rows("SELECT value FROM meta WHERE name = 'schema'")
        assert rows[0]["value"] == str(VERSION)


def test_every_statement_is_spelled_out_in_each_dialect() -> None:
    for migration in MIGRATIONS:
        sqlite, postgres = migration.statements("sqlite"), migration.statements("postgres")
        assert len(sqlite) == len(migration.both)  # the rest is a shared ledger's own
        assert len(postgres) == len(migration.both) + len(migration.shared)
        for statement in (*sqlite, *postgres):
            assert not {"{", "}"} & set(statement), statement
    assert "DOUBLE PRECISION" in MIGRATIONS[0].statements("postgres")[0]
    assert "REAL" in MIGRATIONS[0].statements("sqlite")[0]


@pytest.mark.postgres
def test_both_backends_hold_the_same_tables_and_columns(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Written once, the schema is the same in both: a shared ledger adds only what sharing
    needs (leases, shared limits)."""
    with Journal(tmp_path / "journal.sqlite") as journal:
        local = {
            table: {row["name"] for row in journal._rows(f"PRAGMA table_info({table})")}
            for table in ("jobs", "events", "meta")
        }
    url = postgres_server.create_database(f"same_{secrets.token_hex(4)}")
    with PostgresJournal(url) as ledger:
        rows = ledger._rows(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    shared: dict[str, set[str]] = {}
    for row in rows:
        shared.setdefault(row["table_name"], set()).add(row["column_name"])
    assert {table: shared[table] for table in local} == {
        "jobs": local["jobs"] | {"lease_until", "lease_epoch"},
        "events": local["events"],
        "meta": local["meta"],
    }
    assert set(shared) - set(local) == {"rate_log", "rate_pause", "flight"}


EARLIER_FIRST_LEDGER = (
    """CREATE TABLE jobs (
        id TEXT PRIMARY KEY, line INTEGER, job TEXT NOT NULL, state TEXT NOT NULL,
        handle TEXT, task TEXT, status TEXT, raw_status TEXT,
        progress DOUBLE PRECISION, error TEXT, reason TEXT, marker TEXT, sent_at TEXT,
        outputs TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, worker TEXT, lease_until DOUBLE PRECISION)""",
    """CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL, at TEXT NOT NULL,
        kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', worker TEXT)""",
    "CREATE TABLE rate_log (id BIGSERIAL PRIMARY KEY, scope TEXT NOT NULL, "
    "counted_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE rate_pause (scope TEXT PRIMARY KEY, until DOUBLE PRECISION)",
    "CREATE TABLE flight (job_id TEXT PRIMARY KEY, scope TEXT NOT NULL, worker TEXT NOT NULL)",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT INTO meta (name, value) VALUES ('schema', '1')",
)
"""A shared ledger at version 1 as earlier mediatasks made it (every column of version 2's
jobs and events at once): it is migrated as any other."""


@pytest.mark.postgres
def test_a_shared_ledger_made_by_an_earlier_first_version_opens_migrated(
    postgres_server: PostgresServer,
) -> None:
    import psycopg

    url = postgres_server.create_database(f"earlier_{secrets.token_hex(4)}")
    with psycopg.connect(url, autocommit=True) as db:
        for statement in EARLIER_FIRST_LEDGER:
            db.execute(statement)
    with PostgresJournal(url) as ledger:
        ledger.register("j1", JOB)
        assert [r.id for r in ledger.claim(1)] == ["j1"]  # leases and fencing work
        ledger.submitting("j1", ledger.marker("j1"))
        ledger.submitted("j1", TASK)
        assert ledger.rates.admit("echo:key", ((1, 60.0),), 0.5).entry is not None
        record = ledger.get("j1")
        assert record is not None
        assert record.state is JobState.SUBMITTED
        rows = ledger._rows("SELECT value FROM meta WHERE name = 'schema'")
        assert rows[0]["value"] == str(VERSION)
