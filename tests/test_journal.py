"""The journal: intent before submit, handle after, history, and a refusal to mix up jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediatask import Job, JobState, Journal, Output, Result, Status, TaskRef, Update, UsageError

JOB = Job("a1d", "image-generator", (), {"prompt": "a lighthouse"})
TASK = TaskRef("a1d", "task_1", datetime(2026, 1, 1, tzinfo=UTC), "image-generator")


def test_a_job_goes_from_pending_to_succeeded_with_its_history(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.register("j1", JOB, line=3).state is JobState.PENDING
        journal.submitting("j1")
        assert journal.get("j1").state is JobState.SUBMITTING  # type: ignore[union-attr]
        journal.submitted("j1", TASK)
        journal.observed("j1", Update(Status.RUNNING, "PROCESSING", 0.5))
        journal.observed("j1", Update(Status.RUNNING, "PROCESSING", 0.7))
        output = Output("https://x.test/o.png", role="image")
        result = Result(TASK, [output], datetime(2026, 1, 1, tzinfo=UTC), files=[tmp_path / "o"])
        journal.succeeded("j1", result)

    with Journal(tmp_path / "j.sqlite") as journal:  # reopened: everything is on disk
        record = journal.find("a1d:task_1")
        assert record is not None
        assert (record.id, record.line, record.state) == ("j1", 3, JobState.SUCCEEDED)
        assert record.task == TASK
        assert record.progress == 0.7
        assert record.outputs[0]["path"] == str(tmp_path / "o")
        kinds = [event.kind for event in journal.events("j1")]
        assert kinds == ["registered", "submitting", "submitted", "status", "downloaded"]
        assert journal.counts() == {"succeeded": 1}


def test_registering_again_returns_the_earlier_record(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.register("j1", JOB)
        journal.submitting("j1")
        assert journal.register("j1", JOB).state is JobState.SUBMITTING


def test_a_changed_job_under_a_known_id_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.register("j1", JOB)
        with pytest.raises(UsageError, match="j1 differs from the one the journal recorded"):
            journal.register("j1", Job("a1d", "image-generator", (), {"prompt": "other"}))


def test_ended_and_reset_record_the_reason(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.register("j1", JOB)
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
