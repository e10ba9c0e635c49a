"""The journal: intent before submit, handle after, history, and a refusal to mix up jobs."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.postgres import PostgresServer

from mediatask import Job, JobState, Journal, Output, Result, Status, TaskRef, Update, UsageError
from mediatask.journal.backend import JournalBackend
from mediatask.journal.postgres import PostgresJournal

JOB = Job("echo", "draw", (), {"prompt": "a lighthouse"})
TASK = TaskRef("echo", "task_1", datetime(2026, 1, 1, tzinfo=UTC), "draw")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., JournalBackend]:
    """Opens a journal called ``name`` on the backend under test (the same one when asked again).

    Every test using it runs against both backends, so neither drifts.
    """
    if request.param == "sqlite":
        return lambda name="j": Journal(tmp_path / f"{name}.sqlite")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    urls: dict[str, str] = {}

    def open_postgres(name: str = "j") -> JournalBackend:
        if name not in urls:
            urls[name] = server.create_database(f"j_{name}_{secrets.token_hex(4)}")
        return PostgresJournal(urls[name])

    return open_postgres


def test_a_job_goes_from_pending_to_succeeded_with_its_history(
    opener: Callable[..., JournalBackend], tmp_path: Path
) -> None:
    with opener() as journal:
        assert journal.register("j1", JOB, line=3).state is JobState.PENDING
        journal.submitting("j1")
        assert journal.get("j1").state is JobState.SUBMITTING  # type: ignore[union-attr]
        journal.submitted("j1", TASK)
        journal.observed("j1", Update(Status.RUNNING, "PROCESSING", 0.5))
        journal.observed("j1", Update(Status.RUNNING, "PROCESSING", 0.7))
        output = Output("https://x.test/o.png", role="image")
        result = Result(TASK, [output], datetime(2026, 1, 1, tzinfo=UTC), files=[tmp_path / "o"])
        journal.succeeded("j1", result)

    with opener() as journal:  # reopened: everything is on disk
        record = journal.find("echo:task_1")
        assert record is not None
        assert (record.id, record.line, record.state) == ("j1", 3, JobState.SUCCEEDED)
        assert record.task == TASK
        assert record.progress == 0.7
        assert record.outputs[0]["path"] == str(tmp_path / "o")
        kinds = [event.kind for event in journal.events("j1")]
        assert kinds == ["registered", "submitting", "submitted", "status", "downloaded"]
        assert journal.counts() == {"succeeded": 1}


def test_an_answer_final_at_once_is_kept_with_the_task_in_one_write(
    opener: Callable[..., JournalBackend],
) -> None:
    """A Claid upload's answer is its result: journalled with the handle, so a worker killed
    right after leaves the next one the outputs to download (an upload has no status to ask)."""
    output = Output("https://x.test/o.png", role="image")
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1")
        journal.submitted("j1", TASK, Update(Status.SUCCEEDED, "DONE", 1.0, outputs=(output,)))
    with opener() as journal:  # as a worker taking the job over reads it
        record = journal.get("j1")
        assert record is not None
        assert record.state is JobState.SUBMITTED
        known = record.known_result()
        assert known is not None
        assert tuple(known.outputs) == (output,)


def test_a_submit_sent_again_after_an_attempt_that_never_reached_records_its_intent_again(
    opener: Callable[..., JournalBackend],
) -> None:
    """The transport retries a submit whose first attempt certainly never reached the provider
    (a stale kept-alive connection): the intent is recorded again, with the same marker."""
    with opener() as journal:
        journal.register("j1", JOB)
        marker = journal.marker("j1")
        journal.submitting("j1", marker)
        journal.submitting("j1", marker)  # the retry's commit point
        journal.submitted("j1", TASK)
        record = journal.get("j1")
        assert record is not None
        assert (record.state, record.marker) == (JobState.SUBMITTED, marker)
        kinds = [event.kind for event in journal.events("j1")]
        assert kinds.count("submitting") == 2


def test_registering_again_returns_the_earlier_record(
    opener: Callable[..., JournalBackend],
) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1")
        assert journal.register("j1", JOB).state is JobState.SUBMITTING


def test_a_changed_job_under_a_known_id_is_refused(opener: Callable[..., JournalBackend]) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1")  # a task may exist: held to its content
        with pytest.raises(UsageError, match="j1 differs from the one the journal recorded"):
            journal.register("j1", Job("echo", "draw", (), {"prompt": "other"}))


def test_ended_and_reset_record_the_reason(opener: Callable[..., JournalBackend]) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1")
        journal.ended("j1", JobState.UNCERTAIN, "may exist")
        record = journal.get("j1")
        assert record is not None
        assert (record.state, record.error) == (JobState.UNCERTAIN, "may exist")
        assert record.state.is_final
        journal.reset("j1", JobState.PENDING, "on request")
        record = journal.get("j1")
        assert record is not None
        assert (record.state, record.error) == (JobState.PENDING, None)
        assert journal.events("j1")[-1].detail == "on request"


def test_a_new_journal_is_private_and_takes_a_str_path(tmp_path: Path) -> None:
    where = tmp_path / "new" / "journal.sqlite"
    with Journal(str(where)) as journal:
        journal.register("j1", JOB)
        assert journal.path == where
        assert stat.S_IMODE(where.with_name("journal.sqlite-wal").stat().st_mode) == 0o600
    assert stat.S_IMODE(where.stat().st_mode) == 0o600
    assert stat.S_IMODE(where.parent.stat().st_mode) == 0o700


def test_a_marker_names_one_submit_of_one_job(opener: Callable[..., JournalBackend]) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.register("j2", JOB)
        first = journal.marker("j1")
        assert re.fullmatch(r"mediatask-[0-9a-f]{16}", first)
        assert journal.marker("j1") == first
        assert journal.marker("j2") != first
        journal.submitting("j1", first)
        sent = journal.get("j1")
        assert sent is not None
        assert sent.marker == first
        assert sent.sent_at is not None
        journal.ended("j1", JobState.UNCERTAIN, "no answer", "no answer")
        journal.reset("j1", JobState.PENDING, "resubmitting on request")
        assert journal.marker("j1") != first
    with opener("other") as other:
        other.register("j1", JOB)
        assert other.marker("j1") != first  # another journal, another marker


def test_an_older_journal_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, line INTEGER, job TEXT NOT NULL, state TEXT "
            "NOT NULL, handle TEXT, task TEXT, status TEXT, raw_status TEXT, progress REAL, "
            "error TEXT, outputs TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL, "
            "updated_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO jobs (id, job, state, created_at, updated_at) VALUES (?,?,?,?,?)",
            ("j1", json.dumps(JOB.to_json()), "failed", "2026-01-01", "2026-01-01"),
        )
    db.close()
    with Journal(path) as journal:
        record = journal.get("j1")
        assert record is not None
        assert (record.state, record.reason, record.marker) == (JobState.FAILED, None, None)
        journal.ended("j1", JobState.FAILED, "refused", "the provider refused it")
        assert journal.get("j1").reason == "the provider refused it"  # type: ignore[union-attr]


def test_unsent_puts_the_job_back_to_pending(opener: Callable[..., JournalBackend]) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1", journal.marker("j1"))
        journal.unsent("j1")
        record = journal.get("j1")
        assert record is not None
        assert (record.state, record.marker) == (JobState.PENDING, None)


def test_each_change_says_which_worker_wrote_it(opener: Callable[..., JournalBackend]) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1", journal.marker("j1"))
        journal.submitted("j1", TASK)
        record = journal.get("j1")
        assert record is not None
        assert record.worker == journal.worker
        assert record.to_json()["worker"] == journal.worker
        assert re.fullmatch(r".+:\d+:[0-9a-f]{6}", journal.worker)
        assert {event.worker for event in journal.events("j1")} == {journal.worker}
    with opener() as later:
        later.ended("j1", JobState.FAILED, "refused")
        assert later.get("j1").worker == later.worker != journal.worker  # type: ignore[union-attr]


def test_a_job_never_sent_takes_its_new_content(opener: Callable[..., JournalBackend]) -> None:
    fixed = Job("echo", "draw", (), {"prompt": "a lighthouse at dusk"})
    with opener() as journal:
        journal.register("j1", JOB)
        journal.ended("j1", JobState.FAILED, "unknown parameter")  # refused before any request
        record = journal.register("j1", fixed)
        assert record.job == fixed
        assert record.state is JobState.FAILED
        assert [e.kind for e in journal.events("j1")][-1] == "changed"


def test_a_job_whose_task_may_exist_is_held_to_its_content(
    opener: Callable[..., JournalBackend],
) -> None:
    with opener() as journal:
        journal.register("j1", JOB)
        journal.submitting("j1", journal.marker("j1"))
        with pytest.raises(UsageError, match="a task may exist for the one recorded"):
            journal.register("j1", Job("echo", "draw", (), {"prompt": "another"}))


def test_a_moved_input_with_the_same_bytes_is_the_same_content(
    opener: Callable[..., JournalBackend], tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "in.png").write_bytes(b"png")
    (tmp_path / "b" / "in.png").write_bytes(b"png")
    first = Job("echo", "mirror", (str(tmp_path / "a" / "in.png"),))
    moved = Job("echo", "mirror", (str(tmp_path / "b" / "in.png"),))
    with opener() as journal:
        journal.register("j1", first)
        journal.submitting("j1", journal.marker("j1"))
        journal.submitted("j1", TASK)
        record = journal.register("j1", moved)
        assert record.job == moved  # found elsewhere: the paths it is read from now
        (tmp_path / "b" / "in.png").write_bytes(b"other")
        with pytest.raises(UsageError, match="a task may exist for the one recorded"):
            journal.register("j1", moved)
