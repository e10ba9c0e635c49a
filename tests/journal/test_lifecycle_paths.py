"""The same event gives the same journal state on every path: ``run``, ``wait``/``download``
and a batch, driven through the same scenarios by one scripted client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from mediatask import Job, JobState, Journal, TaskRef
from mediatask.batch.runner import Batch, BatchOptions
from mediatask.cli.run import _follow
from mediatask.cli.tasks import Recorder
from mediatask.model.errors import (
    Hint,
    MediataskError,
    NotFoundError,
    ResultExpiredError,
    TaskFailedError,
    UnavailableError,
)
from mediatask.model.values import Output, Result

JOB = Job("echo", "draw", (), {"prompt": "a lighthouse"})
TASK = TaskRef("echo", "t1", datetime(2026, 1, 1, tzinfo=UTC), "draw")
RESULT = Result(
    TASK, [Output("image", "https://example.com/x.png")], datetime(2026, 1, 1, tzinfo=UTC)
)


class Scripted:
    """A client whose wait and download do what the scenario says."""

    def __init__(self, wait_error: MediataskError | None, download_error: MediataskError | None):
        self.wait_error = wait_error
        self.download_error = download_error

    async def wait(self, task: TaskRef, on_update: Any = None, **_: Any) -> Result:
        if self.wait_error is not None:
            raise self.wait_error
        return RESULT

    async def download(self, result: Result, out_dir: Path, **_: Any) -> Result:
        if self.download_error is not None:
            raise self.download_error
        return result

    def clock(self) -> datetime:
        return datetime.now(UTC)


class Quiet:
    """A batch observer that ignores everything."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


SCENARIOS = {
    "task fails": (TaskFailedError("the model failed"), None, JobState.FAILED),
    "download fails after success": (None, UnavailableError("HTTP 502"), JobState.UNFINISHED),
    "not found": (NotFoundError("no such task"), None, JobState.LOST),
    "following fails": (UnavailableError("HTTP 503"), None, JobState.UNFINISHED),
}


def submitted(path: Path) -> Journal:
    journal = Journal(path)
    journal.register("j1", JOB)
    journal.submitting("j1", journal.marker("j1"))
    journal.submitted("j1", TASK)
    return journal


async def by_run(client: Scripted, journal: Journal, out: Path) -> None:
    with pytest.raises(MediataskError):
        await _follow(client, journal, "j1", TASK, out)  # type: ignore[arg-type]


async def by_download(client: Scripted, journal: Journal, out: Path) -> None:
    recorder = Recorder(journal, journal.get("j1"))
    paid = None
    try:
        paid = await client.wait(TASK)
        await client.download(paid, out)
    except MediataskError as exc:
        recorder.ended(exc, downloading=paid is not None)


async def by_batch(client: Scripted, journal: Journal, out: Path) -> None:
    batch = Batch(client, journal, BatchOptions(out), Quiet())  # type: ignore[arg-type]
    await batch._finish("j1", TASK)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_path_journals_the_same_state(tmp_path: Path, scenario: str) -> None:
    wait_error, download_error, expected = SCENARIOS[scenario]
    states = {}
    for name, path in (("run", by_run), ("download", by_download), ("batch", by_batch)):
        with submitted(tmp_path / f"{name}.sqlite") as journal:
            trio.run(path, Scripted(wait_error, download_error), journal, tmp_path / name)
            record = journal.get("j1")
            assert record is not None
            states[name] = record.state
    assert states == dict.fromkeys(states, expected)


@pytest.mark.parametrize("path", [by_run, by_download], ids=["run", "download"])
def test_the_command_line_journals_its_own_words(tmp_path: Path, path: Any) -> None:
    # `mediatask jobs show` prints the journal's error: a command's job says its flags.
    expired = ResultExpiredError.hinted("the result expired: ", Hint.RERUN_EXPIRED)
    with submitted(tmp_path / "journal.sqlite") as journal:
        trio.run(path, Scripted(None, expired), journal, tmp_path / "out")
        record = journal.get("j1")
    assert record is not None
    assert record.error == "the result expired: `mediatask batch … --rerun-expired`"
